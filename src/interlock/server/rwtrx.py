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

Pure bookkeeping: no I/O.
"""

from __future__ import annotations

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
    __slots__ = ("limit", "overflowed", "running", "size", "statements")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.statements: list[TrxStatement] = []
        self.size = 0
        self.overflowed = False  # over the limit: this transaction cannot be replayed
        self.running = 0  # CRC of the response being relayed

    @property
    def replayable(self) -> bool:
        return not self.overflowed

    def sent(self, payload: bytes, proxy_id: int, in_trx: bool, session_id: int) -> None:
        """A statement goes to the primary (``in_trx``: a transaction is open before it)."""
        if not in_trx:
            self.clear()
        self.running = 0
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

    def __len__(self) -> int:
        return len(self.statements)


RECORDED = frozenset((int(Command.QUERY), int(Command.STMT_EXECUTE)))
