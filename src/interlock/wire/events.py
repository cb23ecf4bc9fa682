"""Events the ResponseTracker emits (frozen, slotted dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from interlock.wire.constants import ServerStatus
from interlock.wire.packets import ErrPacket


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """The response to one command is complete."""

    command: int
    status: ServerStatus
    ok: bool
    error: ErrPacket | None = None
    affected_rows: int = 0  # affected_rows / last_insert_id / warnings: of the last result
    last_insert_id: int = 0
    warnings: int = 0
    session_state: bytes = b""


@dataclass(frozen=True, slots=True)
class LocalInfileRequested:
    """The backend asks the client for a file; feed the client's packets to ``feed_client``."""

    filename: bytes


@dataclass(frozen=True, slots=True)
class StatementPrepared:
    """COM_STMT_PREPARE succeeded (emitted just before its ResponseDone)."""

    statement_id: int
    num_columns: int
    num_params: int
    warnings: int = 0


ResponseEvent = ResponseDone | LocalInfileRequested | StatementPrepared
