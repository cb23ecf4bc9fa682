"""Session-command history of a read/write-split session.

A session command (``SET``, ``USE``/COM_INIT_DB, text ``PREPARE``/``DEALLOCATE``,
COM_SET_OPTION, COM_STMT_PREPARE, ``SELECT @v := ...``) runs on every open backend connection
of the session; the primary's answer goes to the client.  Each one is recorded here, with the
primary's verdict (OK or ERR), so that a connection opened later in the session (lazy connect,
or a replica whose login finished after the session started) can *replay* the history before
its first statement and end up in the same state.  A backend whose answer differs from the
primary's (OK where the primary failed, or the reverse) is dropped from the session.

Bounds (MaxScale's service parameters): at most ``max_sescmd_history`` entries.  When a new
command would exceed it, ``prune_sescmd_history=true`` drops the oldest entry (a connection
opened later may then miss that state, as in MaxScale); ``false`` stops recording: the history
is *lost* and the session opens no new connections from then on.  ``disable_sescmd_history``
never records (no new connections after the first session command).  A COM_STMT_CLOSE removes
the statement's COM_STMT_PREPARE entry; COM_RESET_CONNECTION and COM_CHANGE_USER clear the
history (the server forgets the session's state).

Pure bookkeeping: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from interlock.log import get_logger

log = get_logger(__name__)


@dataclass(slots=True)
class SessionCommand:
    """One recorded session command: the client's payload (command byte first)."""

    payload: bytes
    proxy_id: int = 0  # COM_STMT_PREPARE: the statement id the client was given
    ok: bool | None = None  # the primary's verdict (None: not answered yet)
    # verdicts of backends that answered before the primary did: server -> ok
    early: dict[str, bool] = field(default_factory=dict)

    @property
    def command(self) -> int:
        return self.payload[0]


class SessionHistory:
    __slots__ = ("enabled", "entries", "limit", "lost", "prune", "pruned")

    def __init__(self, limit: int = 50, prune: bool = True, enabled: bool = True) -> None:
        self.limit = limit
        self.prune = prune
        self.enabled = enabled
        self.entries: list[SessionCommand] = []
        self.lost = False  # something was not recorded: new connections would diverge
        self.pruned = 0  # entries dropped so far (for logs and tests)

    def __iter__(self) -> Iterator[SessionCommand]:
        return iter(tuple(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def record(self, payload: bytes, proxy_id: int = 0) -> SessionCommand:
        """Record a session command about to be sent; returns its entry."""
        entry = SessionCommand(payload, proxy_id)
        if not self.enabled or self.lost:
            self.lost = True
            return entry
        if len(self.entries) >= self.limit:
            if not self.prune:
                log.warning(
                    "Session command history exceeded max_sescmd_history=%d and pruning is off:"
                    " no new backend connections for this session", self.limit,
                )
                self.lost = True
                self.entries.clear()
                return entry
            del self.entries[0]
            self.pruned += 1
        self.entries.append(entry)
        return entry

    def forget_statement(self, proxy_id: int) -> None:
        """COM_STMT_CLOSE: the statement's prepare no longer needs replaying."""
        self.entries = [e for e in self.entries if e.proxy_id != proxy_id]

    def clear(self) -> None:
        """The server forgot the session (COM_RESET_CONNECTION, COM_CHANGE_USER)."""
        self.entries.clear()
        self.lost = False


def diverged(entry: SessionCommand, ok: bool) -> bool | None:
    """Did a backend answering ``ok`` diverge from the primary?  None: not known yet."""
    if entry.ok is None:
        return None
    return entry.ok != ok
