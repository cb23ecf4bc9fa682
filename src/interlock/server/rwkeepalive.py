"""Keepalive and idle limits of a read/write-split session: one timer per session.

* ``connection_keepalive`` (default 300 s, 0 off): a backend connection idle longer than this
  gets a COM_PING, only while the whole session is idle (never with a statement in flight);
  the answer is consumed by the proxy.
* Each server's ``wait_timeout`` as this session sees it is known (``SELECT @@wait_timeout``
  once per server and service, at the first connection; the client's own
  ``SET [SESSION] wait_timeout=N`` is tracked from its session commands).  A connection holding
  state that cannot be restored (an open transaction, temporary tables, ``LOCK TABLES``,
  ``GET_LOCK``) is pinged well before that expires whatever the keepalive says.  Other idle
  connections may expire: they are reopened transparently when next used
  (:mod:`interlock.server.rwprimary`, :mod:`interlock.server.rwopen`), so idle sessions do not
  pin backend resources.
* The service's ``wait_timeout`` (client idle limit, default off): a client idle longer than
  this is disconnected, as MariaDB 10.11 does it after its own ``wait_timeout`` (the connection
  is closed without a packet; checked against the real server), with a log line.

One ``loop.call_later`` handle per session, re-armed after each tick, instead of a task or a
timer per connection.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from interlock.advisor.observations import CloseReason
from interlock.log import get_logger
from interlock.routing.session_state import LockReason
from interlock.server.rwlinks import CONSUME, Expect, Link, first_value
from interlock.server.service import protect_interval
from interlock.wire.constants import Command
from interlock.wire.events import ResponseDone, StatementPrepared

if TYPE_CHECKING:
    from interlock.server.rwsplit import RWSplitSession

log = get_logger(__name__)

_SET_WAIT = re.compile(rb"(?i)^\s*set\s+(?:session\s+|@@session\.|@@|local\s+)?"
                       rb"wait_timeout\s*:?=\s*(\d+)")
_GET_LOCK = re.compile(rb"(?i)\bget_lock\s*\(")
_RELEASE_ALL = re.compile(rb"(?i)\brelease_all_locks\s*\(")
_PING = bytes((Command.PING,))
_ASK = b"\x03SELECT @@wait_timeout"
MIN_TICK = 0.2


class Keepalive:
    __slots__ = ("_client_at", "_client_wait", "_handle", "_session", "get_lock", "pings")

    def __init__(self, session: RWSplitSession) -> None:
        self._session = session
        self._client_at = time.monotonic()
        self._client_wait: float | None = None  # the client's SET wait_timeout
        self._handle: asyncio.TimerHandle | None = None
        self.get_lock = False  # GET_LOCK() ran (until RELEASE_ALL_LOCKS())
        self.pings = 0

    def start(self) -> None:
        self.learn(self._session.primary)
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # -- what the session tells it -----------------------------------------------------------

    def client_active(self) -> None:
        self._client_at = time.monotonic()

    def note_query(self, payload: bytes) -> None:
        """A COM_QUERY payload (command byte first) the session handles."""
        if _GET_LOCK.search(payload, 1, 4096):
            self.get_lock = True
        elif self.get_lock and _RELEASE_ALL.search(payload, 1, 4096):
            self.get_lock = False
        match = _SET_WAIT.match(payload, 1)
        if match is not None:
            self._client_wait = float(match.group(1))
            self._arm()

    def learn(self, link: Link) -> None:
        """Read ``link``'s server's wait_timeout once per server and service (hidden)."""
        s = self._session
        if link.conn is None or link.name in s.service.backend_wait_timeouts:
            return

        def answered(done: ResponseDone, _p: StatementPrepared | None, data: bytes) -> None:
            value = first_value(data) if done.ok else None
            if value is not None and value.isdigit():
                s.service.learned_wait_timeout(link.name, float(value))
                self._arm()

        link.send(_ASK, Expect(CONSUME, answered, collect=True))

    def unrestorable(self) -> bool:
        """Does the primary connection hold state a new connection cannot get back?"""
        state = self._session.state
        return (state.in_trx or bool(state.temp_tables) or self.get_lock
                or bool(state.locks & LockReason.LOCK_TABLES))

    # -- the timer ---------------------------------------------------------------------------

    def _wait_timeout(self, server: str) -> float | None:
        if self._client_wait is not None:
            return self._client_wait
        return self._session.service.backend_wait_timeouts.get(server)

    def _period(self) -> float | None:
        service = self._session.service
        periods = []
        if service.keepalive > 0:
            periods.append(service.keepalive / 2)
        waits = [w for w in (self._wait_timeout(name) for name in self._session.links) if w]
        if waits:
            periods.append(protect_interval(min(waits)) / 2)
        if service.client_idle_limit > 0:
            periods.append(service.client_idle_limit / 4)
        return max(min(periods), MIN_TICK) if periods else None

    def _arm(self) -> None:
        self.stop()
        period = self._period()
        if period is not None and not self._session.closed:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(period, self._tick)

    def _tick(self) -> None:
        self._handle = None
        s = self._session
        if s.closed:
            return
        now = time.monotonic()
        limit = s.service.client_idle_limit
        idle = s._current is None and not s._busy
        if limit > 0 and idle and now - self._client_at >= limit:
            log.notice("Session %d: closed after %.0fs without a command from the client"
                       " (wait_timeout=%gs)", s.id, now - self._client_at, limit)
            if s.ended is None:
                s.ended = CloseReason.TIMEOUT
            s.close()
            return
        if idle:
            self._ping_due(now)
        self._arm()

    def _ping_due(self, now: float) -> None:
        s = self._session
        keepalive = s.service.keepalive
        protect = self.unrestorable()
        for link in tuple(s.links.values()):
            if not link.idle or link.conn is None:
                continue
            quiet = now - link.used
            due = keepalive > 0 and quiet >= keepalive
            if not due and protect and link.is_primary:
                wait = self._wait_timeout(link.name)
                due = wait is not None and quiet >= protect_interval(wait)
            if due:
                self.pings += 1
                link.send(_PING, Expect(CONSUME, _pong))


def _pong(done: ResponseDone, prepared: StatementPrepared | None, data: bytes) -> None:
    """The answer to a keepalive COM_PING (nothing to do)."""
