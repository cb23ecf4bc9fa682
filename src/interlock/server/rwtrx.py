"""The open transaction of a read/write-split session, kept for replay (``transaction_replay``).

Every statement the session relays on its primary connection while a transaction is open (and
the one that opens it) is recorded with a CRC-32 of the response bytes the client received,
computed chunk by chunk as they are relayed (``zlib.crc32`` over each chunk, C speed, no
per-row work).  When the transaction ends (the response's status says no transaction is open)
the log is cleared.  Over ``transaction_replay_max_size`` bytes of statements, replay is off for
the rest of that transaction (logged once).

Replay (:mod:`interlock.server.rwprimary`) sends the recorded statements again on a new primary
connection, one at a time, consuming each response and computing the same CRC; equal checksums
mean the client saw exactly what the new connection produced, so the transaction can go on.

The commit marker (``transaction_replay_commit_marker``): before the COMMIT of a transaction
that may have written, the session writes a random token into its own row of a small table,
inside the transaction; when the connection is lost with that COMMIT in flight, the token's
presence on the (new) primary says whether the transaction committed (docs/failover.md, "A
COMMIT whose outcome is unknown").  :class:`CommitMarker` makes the statements; the row's key
comes from a process-wide pool of slots, so rows are reused and stay as many as the sessions
that ever ran at once.

Pure bookkeeping: no I/O.
"""

from __future__ import annotations

import heapq
import re
import secrets
import zlib
from dataclasses import dataclass

from interlock.log import get_logger
from interlock.wire.constants import Command

log = get_logger(__name__)


@dataclass(slots=True)
class TrxStatement:
    payload: bytes  # as sent to the backend (COM_QUERY, or COM_STMT_EXECUTE with its id)
    proxy_id: int = 0  # COM_STMT_EXECUTE: the client's statement id
    crc: int | None = None  # of the relayed response; None while in flight


class TrxLog:
    __slots__ = ("limit", "overflowed", "running", "size", "statements", "wrote")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.statements: list[TrxStatement] = []
        self.size = 0
        self.overflowed = False  # over the limit: this transaction cannot be replayed
        self.running = 0  # CRC of the response being relayed
        self.wrote = False  # a statement of the transaction may have written

    @property
    def replayable(self) -> bool:
        return not self.overflowed

    def sent(self, payload: bytes, proxy_id: int, in_trx: bool, session_id: int,
             writes: bool = True) -> None:
        """A statement goes to the primary (``in_trx``: a transaction is open before it;
        ``writes``: it may change data)."""
        if not in_trx:
            self.clear()
        self.running = 0
        self.wrote = self.wrote or writes
        if self.overflowed:
            return
        self.size += len(payload)
        if self.size > self.limit:
            log.warning("Session %d: the transaction passed transaction_replay_max_size=%d"
                        " bytes: it cannot be replayed", session_id, self.limit)
            self.overflowed = True
            self.statements.clear()
            return
        self.statements.append(TrxStatement(payload, proxy_id))

    def relayed(self, data: bytes) -> None:
        self.running = zlib.crc32(data, self.running)

    def done(self, in_trx: bool) -> None:
        """The relayed response is complete; ``in_trx``: a transaction is still open."""
        if not in_trx:
            self.clear()
            return
        if self.statements and self.statements[-1].crc is None:
            self.statements[-1].crc = self.running

    def unanswered(self) -> None:
        """The statement in flight got no (complete) answer: forget it (it is re-sent)."""
        if self.statements and self.statements[-1].crc is None:
            self.statements.pop()

    def clear(self) -> None:
        self.statements.clear()
        self.size = 0
        self.overflowed = False
        self.wrote = False

    def __len__(self) -> int:
        return len(self.statements)


RECORDED = frozenset((int(Command.QUERY), int(Command.STMT_EXECUTE)))


# -- the commit marker ----------------------------------------------------------------------

_PLAIN_COMMIT = re.compile(rb"\s*commit(?:\s+work)?\s*;?\s*", re.IGNORECASE)
# errors that say the marker is not set up (table, schema, column, privilege): the COMMIT goes
# on without it; any other error is the transaction's (e.g. a deadlock rolled it back)
NOT_SET_UP = frozenset((1044, 1049, 1054, 1142, 1143, 1146))


def create_statement(table: str) -> str:
    """The ``CREATE TABLE`` of the commit marker's table ``schema.table`` (docs/failover.md)."""
    schema, name = table.split(".", 1)
    return (f"CREATE TABLE `{schema}`.`{name}` (id BIGINT UNSIGNED PRIMARY KEY,"
            " token BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB")


def plain_commit(sql: bytes) -> bool:
    """``COMMIT`` or ``COMMIT WORK`` and nothing else (not ``AND CHAIN``, not ``RELEASE``)."""
    return _PLAIN_COMMIT.fullmatch(sql) is not None


class _Slots:
    """Row keys of the sessions of this process: a random 40-bit prefix (one per process, so
    proxies sharing a cluster do not collide) and the lowest free 24-bit slot."""

    __slots__ = ("_free", "_next", "prefix")

    def __init__(self) -> None:
        self.prefix = secrets.randbits(40) << 24
        self._free: list[int] = []
        self._next = 0

    def take(self) -> int:
        if self._free:
            return heapq.heappop(self._free)
        if self._next >= 1 << 24:
            raise OverflowError("no commit-marker slot left")
        self._next += 1
        return self._next - 1

    def give(self, slot: int) -> None:
        heapq.heappush(self._free, slot)


_SLOTS = _Slots()


class CommitMarker:
    """The commit marker of one session: its row (taken on first use, given back at close)
    and the statements that write and read it.  ``table`` is ``schema.table`` of plain
    identifiers (checked by the config)."""

    __slots__ = ("_slot", "table")

    def __init__(self, table: str) -> None:
        schema, name = table.split(".", 1)
        self.table = f"`{schema}`.`{name}`"
        self._slot: int | None = None

    @property
    def key(self) -> int:
        if self._slot is None:
            self._slot = _SLOTS.take()
        return _SLOTS.prefix | self._slot

    def write(self) -> tuple[int, bytes]:
        """A new token and the COM_QUERY that writes it into the session's row."""
        token = secrets.randbits(63) or 1
        sql = (f"INSERT INTO {self.table} (id, token) VALUES ({self.key}, {token})"
               f" ON DUPLICATE KEY UPDATE token = VALUES(token)")
        return token, b"\x03" + sql.encode()

    def read(self, lock_wait: int) -> bytes:
        """The COM_QUERY that reads the session's row, waiting (a locking read) for a
        transaction that still holds it on that server to end."""
        sql = (f"SET STATEMENT innodb_lock_wait_timeout={max(lock_wait, 1)} FOR"
               f" SELECT token FROM {self.table} WHERE id = {self.key} LOCK IN SHARE MODE")
        return b"\x03" + sql.encode()

    def release(self) -> None:
        if self._slot is not None:
            _SLOTS.give(self._slot)
            self._slot = None

