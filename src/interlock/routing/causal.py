"""The pure pieces of ``causal_reads``: GTID positions and the wait statement.

MariaDB GTIDs are ``domain-server_id-sequence``; a position (``gtid_current_pos``,
``gtid_slave_pos``, the ``last_gtid`` a write reports) is a comma-separated list with at most
one GTID per replication domain.  A server *has* a GTID when its position for that domain has a
sequence number at least as high (the server id does not matter for ordering).

Before a read goes to a replica, the proxy runs :func:`wait_statement` there (MaxScale's
technique): it sets a user variable to ``1`` when ``MASTER_GTID_WAIT`` returns 0 within the
timeout, and otherwise evaluates a subquery that returns several rows, so the statement fails
with error 1242 (ER_SUBQUERY_NO_1_ROW).  The proxy consumes that result and never shows it to
the client; an error means "not caught up in time": the read goes to the primary instead
(:func:`is_wait_timeout`).  :func:`prefix_query` builds the single multi-statement form (needs
``CLIENT_MULTI_STATEMENTS`` on the backend connection); the separate statement can be pipelined
in its own COM_QUERY ahead of the read (which is also how a COM_STMT_EXECUTE is protected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from interlock.routing.errors import GtidError, SettingsError


@dataclass(frozen=True, slots=True, order=True)
class Gtid:
    domain: int
    server_id: int
    sequence: int

    def __str__(self) -> str:
        return f"{self.domain}-{self.server_id}-{self.sequence}"


_GTID = re.compile(r"\s*(\d+)-(\d+)-(\d+)\s*")


def parse_gtid(text: str) -> Gtid:
    match = _GTID.fullmatch(text)
    if match is None:
        raise GtidError(f"malformed GTID: {text!r}")
    return Gtid(int(match.group(1)), int(match.group(2)), int(match.group(3)))


@dataclass(frozen=True, slots=True)
class GtidPosition:
    """One GTID per domain (immutable; ``str()`` gives the server's list format)."""

    gtids: Mapping[int, Gtid]

    @classmethod
    def of(cls, gtids: Iterable[Gtid]) -> GtidPosition:
        """A position from GTIDs; for a repeated domain the highest sequence wins."""
        by_domain: dict[int, Gtid] = {}
        for gtid in gtids:
            known = by_domain.get(gtid.domain)
            if known is None or gtid.sequence > known.sequence:
                by_domain[gtid.domain] = gtid
        return cls(dict(sorted(by_domain.items())))

    @classmethod
    def parse(cls, text: str) -> GtidPosition:
        """Parse ``"0-1-100,1-2-5"`` (an empty string is the empty position)."""
        parts = [p for p in text.split(",") if p.strip()]
        return cls.of(parse_gtid(p) for p in parts)

    def __str__(self) -> str:
        return ",".join(str(g) for g in self.gtids.values())

    def __bool__(self) -> bool:
        return bool(self.gtids)

    def has(self, gtid: Gtid) -> bool:
        """Has a server at this position applied ``gtid``?"""
        mine = self.gtids.get(gtid.domain)
        return mine is not None and mine.sequence >= gtid.sequence

    def covers(self, other: GtidPosition) -> bool:
        """Has a server at this position applied every GTID of ``other``?"""
        return all(self.has(g) for g in other.gtids.values())

    def merge(self, other: GtidPosition) -> GtidPosition:
        """Per domain, the later of the two GTIDs."""
        if not other.gtids:
            return self
        if not self.gtids:
            return other
        return GtidPosition.of([*self.gtids.values(), *other.gtids.values()])


EMPTY_POSITION = GtidPosition({})


class CausalReads(Enum):
    """``causal_reads`` modes (MaxScale spellings; ``true``/``false`` mean local/none)."""

    NONE = "none"
    LOCAL = "local"
    GLOBAL = "global"
    FAST = "fast"
    FAST_GLOBAL = "fast_global"
    UNIVERSAL = "universal"
    FAST_UNIVERSAL = "fast_universal"

    @classmethod
    def parse(cls, text: str) -> CausalReads:
        word = text.strip().lower()
        word = _CAUSAL_ALIASES.get(word, word)
        try:
            return cls(word)
        except ValueError:
            raise SettingsError(f"unknown causal_reads mode: {text!r}") from None

    @property
    def waits(self) -> bool:
        """The read waits on the replica (MASTER_GTID_WAIT) rather than filtering replicas."""
        return self in (CausalReads.LOCAL, CausalReads.GLOBAL, CausalReads.UNIVERSAL)

    @property
    def service_wide(self) -> bool:
        """Causality across the service (other sessions' writes), not only the session's."""
        return self in (CausalReads.GLOBAL, CausalReads.FAST_GLOBAL, CausalReads.UNIVERSAL,
                        CausalReads.FAST_UNIVERSAL)


_CAUSAL_ALIASES = {"true": "local", "on": "local", "yes": "local", "1": "local",
                   "false": "none", "off": "none", "no": "none", "0": "none"}

WAIT_VARIABLE = "@interlock_causal_wait"
ER_SUBQUERY_NO_1_ROW = 1242


def _timeout_literal(seconds: float) -> str:
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return text or "0"


def wait_statement(position: GtidPosition, timeout: float) -> bytes:
    """The statement that waits for ``position`` and fails if it is not reached in time."""
    return (
        f"SET {WAIT_VARIABLE}=(SELECT CASE WHEN MASTER_GTID_WAIT('{position}', "
        f"{_timeout_literal(timeout)}) = 0 THEN 1 ELSE "
        f"(SELECT 1 FROM INFORMATION_SCHEMA.ENGINES) END)"
    ).encode("ascii")


def prefix_query(sql: bytes, position: GtidPosition, timeout: float) -> bytes:
    """``sql`` behind the wait, as one multi-statement text (a failed wait stops the read)."""
    return wait_statement(position, timeout) + b";" + sql


def is_wait_timeout(error_code: int) -> bool:
    """Did the wait statement fail because the replica was not caught up in time?"""
    return error_code == ER_SUBQUERY_NO_1_ROW


def caught_up(server_position: GtidPosition | None, wanted: GtidPosition) -> bool:
    """For ``causal_reads=fast``: does the monitor know ``server_position`` covers ``wanted``?"""
    if not wanted:
        return True
    return server_position is not None and server_position.covers(wanted)
