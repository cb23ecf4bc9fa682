"""Method 2's recorder: what the proxy sees of every session and backend, in bounded memory.

The proxy calls it from its sessions (times are ``time.monotonic()`` seconds, passed in so the
recorder stays pure and tests need no clock)::

    recorder.session_opened(session_id, t)        # after the client's login succeeded
    recorder.statement(session_id, t)             # a command arrived from the client
    recorder.idle(session_id, t)                  # its response was complete: idle from now
    recorder.session_closed(session_id, t, how)   # CloseReason: QUIT, VANISHED, TIMEOUT, ...
    recorder.backend_connected(server_name, t)    # a backend connection was opened
    recorder.backend_lost_idle(server_name, t, idle_seconds)  # lost while idle

An idle gap runs from the end of a response (or the login) to the next command.  A gap ended by
a command is a *returning* gap: that client came back and would have been hurt by a timeout
shorter than it.  The last gap of a session ends with its close and is kept apart, by how it
closed.  Without ``idle()`` calls a gap runs from the previous command's arrival.

Memory: one small record per open session; everything finished goes into fixed-size
histograms and per-second counters (the last ``RATE_HISTORY`` seconds per backend).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from interlock.advisor.histogram import Histogram

RATE_HISTORY = 3600  # seconds of per-second connection counts kept per backend


class CloseReason(enum.StrEnum):
    QUIT = "client quit"  # COM_QUIT
    VANISHED = "client vanished"  # the connection dropped without COM_QUIT
    TIMEOUT = "proxy timeout"  # the proxy's client idle timeout closed it
    BACKEND_LOST = "backend lost"  # the backend connection went away under it
    KILLED = "killed"  # KILL / admin action / shutdown
    ERROR = "error"  # the proxy ended it for an error (malformed packet, failed re-login, ...)


class _Open:
    __slots__ = ("idle_since", "opened", "statements")

    def __init__(self, t: float) -> None:
        self.opened = t
        self.idle_since = t
        self.statements = 0


class BackendRate:
    """Connections opened to one backend: per second (recent history), peak, total."""

    __slots__ = ("_count", "_second", "first", "history", "last", "lost_idle", "peak", "total")

    def __init__(self) -> None:
        self._second: int | None = None
        self._count = 0
        self.history: deque[tuple[int, int]] = deque(maxlen=RATE_HISTORY)
        self.peak = 0
        self.total = 0
        self.first: float | None = None
        self.last: float | None = None
        self.lost_idle = Histogram()

    def connected(self, t: float) -> None:
        second = math.floor(t)
        if second != self._second:
            self._flush()
            self._second, self._count = second, 0
        self._count += 1
        self.total += 1
        self.peak = max(self.peak, self._count)
        self.first = t if self.first is None else self.first
        self.last = t

    def _flush(self) -> None:
        if self._second is not None and self._count:
            self.history.append((self._second, self._count))

    def per_second(self) -> list[tuple[int, int]]:
        """``(second, connections)`` for the recorded seconds that had any, oldest first."""
        pending = [(self._second, self._count)] if self._second is not None and self._count else []
        return [*self.history, *pending]

    def average(self, now: float) -> float:
        if self.first is None:
            return 0.0
        return self.total / max(1.0, now - self.first)


@dataclass(frozen=True, slots=True)
class SessionCounts:
    opened: int
    closed: int
    open_now: int
    by_reason: tuple[tuple[CloseReason, int], ...]


class SessionObservations:
    """The recorder (see the module docstring for the calls a session makes)."""

    def __init__(self) -> None:
        self._open: dict[int, _Open] = {}
        self.lifetimes = Histogram()
        self.statements = Histogram(min_value=1.0, precision=0.05)  # per session
        self.returning_gaps = Histogram()
        self.final_gaps: dict[CloseReason, Histogram] = {}
        self.closed_by: dict[CloseReason, int] = {}
        self.opened = 0
        self.backends: dict[str, BackendRate] = {}

    # -- sessions ----------------------------------------------------------------------------

    def session_opened(self, session_id: int, t: float) -> None:
        self._open[session_id] = _Open(t)
        self.opened += 1

    def statement(self, session_id: int, t: float) -> None:
        record = self._open.get(session_id)
        if record is None:
            return
        self.returning_gaps.add(t - record.idle_since)
        record.statements += 1
        record.idle_since = t

    def idle(self, session_id: int, t: float) -> None:
        record = self._open.get(session_id)
        if record is not None:
            record.idle_since = t

    def session_closed(self, session_id: int, t: float, how: CloseReason) -> None:
        record = self._open.pop(session_id, None)
        if record is None:
            return
        self.lifetimes.add(t - record.opened)
        self.statements.add(float(record.statements))
        gaps = self.final_gaps.get(how)
        if gaps is None:
            gaps = self.final_gaps[how] = Histogram()
        gaps.add(t - record.idle_since)
        self.closed_by[how] = self.closed_by.get(how, 0) + 1

    def opened_at(self, session_id: int) -> float | None:
        """When session ``session_id`` logged in (monotonic; None: not open)."""
        record = self._open.get(session_id)
        return None if record is None else record.opened

    def idle_for(self, session_id: int, t: float) -> float | None:
        """How long session ``session_id`` has been idle at ``t`` (None: not open)."""
        record = self._open.get(session_id)
        return None if record is None else t - record.idle_since

    def idle_now(self, t: float) -> Iterator[float]:
        """How long each open session has been idle at ``t``."""
        return (t - record.idle_since for record in self._open.values())

    def counts(self) -> SessionCounts:
        closed = sum(self.closed_by.values())
        return SessionCounts(
            self.opened, closed, len(self._open), tuple(sorted(self.closed_by.items()))
        )

    # -- backends ----------------------------------------------------------------------------

    def _backend(self, name: str) -> BackendRate:
        rate = self.backends.get(name)
        if rate is None:
            rate = self.backends[name] = BackendRate()
        return rate

    def backend_connected(self, name: str, t: float) -> None:
        self._backend(name).connected(t)

    def backend_lost_idle(self, name: str, t: float, idle_seconds: float) -> None:
        self._backend(name).lost_idle.add(idle_seconds)
