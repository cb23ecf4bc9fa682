"""MariaDB GTID lists: parsing, ordering, prefix checks and divergence.

A MariaDB GTID is ``domain-server_id-sequence``.  The positions the monitor reads
(``gtid_current_pos``, ``gtid_binlog_pos``, ``gtid_slave_pos``, ``Gtid_IO_Pos``) are
comma-separated lists with one GTID per replication domain: the *last* transaction of that
domain the server has.  Within a domain sequence numbers grow monotonically along one history,
so comparing positions tells, per domain, which server is further along.

What positions cannot tell: whether two servers' histories *below* their last GTIDs are the
same.  :func:`prefix_check` therefore answers "as far as GTID positions can tell": A can
follow B when, in every domain A has, B has a sequence at least as high, and where both end on
the same sequence number it was written by the same server (otherwise the two servers each
committed a different transaction under that number: a conflict).  The GTIDs by which A is
ahead of B (:func:`ahead_of`) are exact as sequence ranges; the server ids of the transactions
inside a range are not visible in a position, only the last one's.

:class:`Gtid` is the routing layer's type (the same value object), so a :class:`GtidList`
converts to the routing :class:`~interlock.routing.causal.GtidPosition` without copying
semantics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from interlock.monitor.errors import GtidParseError
from interlock.routing.causal import Gtid, GtidPosition

__all__ = [
    "Divergence",
    "Gtid",
    "GtidList",
    "PrefixCheck",
    "ahead_of",
    "compare_domain",
    "most_advanced",
    "parse_gtid",
    "prefix_check",
]

_GTID = re.compile(r"\s*(\d+)-(\d+)-(\d+)\s*")


def parse_gtid(text: str) -> Gtid:
    match = _GTID.fullmatch(text)
    if match is None:
        raise GtidParseError(f"malformed GTID: {text!r}")
    return Gtid(int(match.group(1)), int(match.group(2)), int(match.group(3)))


@dataclass(frozen=True, slots=True)
class GtidList:
    """One GTID per domain, ordered by domain (immutable).  ``str()`` gives the server's format."""

    gtids: tuple[Gtid, ...] = ()

    @classmethod
    def of(cls, gtids: Iterable[Gtid]) -> GtidList:
        """A list from GTIDs; for a repeated domain the highest sequence wins."""
        by_domain: dict[int, Gtid] = {}
        for gtid in gtids:
            known = by_domain.get(gtid.domain)
            if known is None or gtid.sequence > known.sequence:
                by_domain[gtid.domain] = gtid
        return cls(tuple(by_domain[d] for d in sorted(by_domain)))

    @classmethod
    def parse(cls, text: str | None) -> GtidList:
        """Parse ``"0-1-100,1-2-5"``; ``None`` and ``""`` are the empty list.  The server
        separates entries with ``,`` and sometimes a newline (long lists): both are accepted."""
        if not text:
            return EMPTY
        parts = [p for p in re.split(r"[,\n]", text) if p.strip()]
        return cls.of(parse_gtid(p) for p in parts)

    @classmethod
    def from_position(cls, position: GtidPosition) -> GtidList:
        return cls.of(position.gtids.values())

    def to_position(self) -> GtidPosition:
        return GtidPosition.of(self.gtids)

    def __str__(self) -> str:
        return ",".join(str(g) for g in self.gtids)

    def __bool__(self) -> bool:
        return bool(self.gtids)

    def __iter__(self) -> Iterator[Gtid]:
        return iter(self.gtids)

    def __len__(self) -> int:
        return len(self.gtids)

    @property
    def domains(self) -> tuple[int, ...]:
        return tuple(g.domain for g in self.gtids)

    def get(self, domain: int) -> Gtid | None:
        return next((g for g in self.gtids if g.domain == domain), None)

    def sequence(self, domain: int) -> int:
        """The last sequence number of ``domain`` (0: nothing in that domain)."""
        gtid = self.get(domain)
        return gtid.sequence if gtid is not None else 0

    def covers(self, other: GtidList) -> bool:
        """Per domain, at least as far as ``other`` (server ids are not looked at)."""
        return all(self.sequence(g.domain) >= g.sequence for g in other.gtids)

    def merge(self, other: GtidList) -> GtidList:
        """Per domain, the later of the two GTIDs."""
        return GtidList.of([*self.gtids, *other.gtids])


EMPTY = GtidList()


def compare_domain(a: GtidList, b: GtidList, domain: int) -> int:
    """-1, 0 or 1 as ``a`` is behind, level with or ahead of ``b`` in ``domain`` (a missing
    domain counts as sequence 0)."""
    sa, sb = a.sequence(domain), b.sequence(domain)
    return (sa > sb) - (sa < sb)


@dataclass(frozen=True, slots=True)
class Divergence:
    """Transactions of one domain that one server has and another does not.

    ``first_sequence..last_sequence`` are the sequence numbers in ``domain`` the server has
    beyond the other's position; ``last`` is the server's last GTID there (the only one whose
    server id a position shows); ``theirs`` the other server's GTID in the domain (``None``:
    the other has nothing in that domain).  ``conflict``: both end on the same sequence number
    written by different servers.
    """

    domain: int
    first_sequence: int
    last_sequence: int
    last: Gtid
    theirs: Gtid | None

    @property
    def conflict(self) -> bool:
        return self.theirs is not None and self.theirs.sequence >= self.first_sequence

    @property
    def count(self) -> int:
        return self.last_sequence - self.first_sequence + 1

    def __str__(self) -> str:
        other = str(self.theirs) if self.theirs is not None else "nothing"
        if self.conflict:
            return f"{self.last} (the other server has {other}: same sequence, other server id)"
        if self.count == 1:
            return f"{self.last} (the other server has {other})"
        first = f"{self.domain}-?-{self.first_sequence}"
        return f"{first}..{self.last} ({self.count} transactions; the other server has {other})"


def ahead_of(a: GtidList, b: GtidList) -> tuple[Divergence, ...]:
    """The GTIDs by which ``a`` is ahead of ``b``: per domain of ``a`` where ``a`` has a
    higher sequence than ``b``, or the same sequence from another server (a conflict)."""
    found: list[Divergence] = []
    for mine in a.gtids:
        theirs = b.get(mine.domain)
        if theirs is None or mine.sequence > theirs.sequence:
            first = theirs.sequence + 1 if theirs is not None else 1
            found.append(Divergence(mine.domain, first, mine.sequence, mine, theirs))
        elif mine.sequence == theirs.sequence and mine.server_id != theirs.server_id:
            found.append(Divergence(mine.domain, mine.sequence, mine.sequence, mine, theirs))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class PrefixCheck:
    """Can a server at ``follower`` replicate from one at ``source`` without losing or
    duplicating anything, as far as the positions tell?  ``extra``: what ``follower`` has
    that ``source`` does not (empty when ``ok``)."""

    follower: GtidList
    source: GtidList
    extra: tuple[Divergence, ...]

    @property
    def ok(self) -> bool:
        return not self.extra

    def describe(self) -> str:
        if self.ok:
            return f"{self.follower or '(empty)'} is a prefix of {self.source or '(empty)'}"
        listed = "; ".join(str(d) for d in self.extra)
        return (f"{self.follower} is not a prefix of {self.source or '(empty)'}: "
                f"it has transactions the other does not: {listed}")


def prefix_check(follower: GtidList, source: GtidList) -> PrefixCheck:
    """Is ``follower``'s history a prefix of ``source``'s (as far as GTIDs can tell)?"""
    return PrefixCheck(follower, source, ahead_of(follower, source))


def most_advanced(candidates: Mapping[str, GtidList], domain: int) -> tuple[str, ...]:
    """Names of the candidates with the highest sequence in ``domain`` (sorted; empty when
    there are no candidates)."""
    if not candidates:
        return ()
    best = max(position.sequence(domain) for position in candidates.values())
    return tuple(sorted(n for n, p in candidates.items() if p.sequence(domain) == best))
