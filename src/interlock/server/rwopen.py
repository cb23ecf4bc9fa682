"""Opening the replica connections of a read/write-split session.

At session start (unless ``lazy_connect``) one connection per usable replica is opened in the
background, at most ``max_slave_connections``; with ``lazy_connect`` a replica is connected when
a statement is first routed to it.  Either way the login uses the client's own user and
capabilities (so responses need no translation), then the session-command history is replayed
before the link takes a statement.  A statement routed to a replica still logging in waits for
it.  A replica that cannot be reached, refuses the login, diverged or was lost is *excluded* for
the rest of the session: the session's view of the topology marks it unusable, so the router
picks another server (or falls back to the primary).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing.decision import RouteDecision, Target
from interlock.routing.topology import Topology
from interlock.server import backend
from interlock.server.rwlinks import Link
from interlock.wire.errors import ProtocolError

if TYPE_CHECKING:
    from interlock.server.rwsplit import RWSplitSession

log = get_logger(__name__)


class LinkOpener:
    __slots__ = ("_cache", "_session", "_tasks", "excluded")

    def __init__(self, session: RWSplitSession) -> None:
        self._session = session
        self.excluded: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cache: tuple[object, frozenset[str], object, Topology] | None = None

    # -- the session's view of the topology --------------------------------------------------

    def topology(self) -> Topology:
        """The service's current topology, minus the servers this session cannot use, with the
        service-wide GTID position for ``causal_reads=global``."""
        session = self._session
        service = session.service
        current = service.topology.current
        position = service.causal_position  # (only ever set under a service-wide mode)
        if position is not None and not session.settings.causal_reads.service_wide:
            position = None
        if position is None and not self.excluded:
            return current
        cache = self._cache
        excluded = frozenset(self.excluded)
        if cache is not None and cache[0] is current and cache[1] == excluded \
                and cache[2] is position:
            return cache[3]
        servers = tuple(
            dataclasses.replace(s, healthy=False) if s.name in excluded else s
            for s in current.servers
        )
        derived = Topology(servers, current.generation,
                           position if position is not None else current.global_gtid)
        self._cache = (current, excluded, position, derived)
        return derived

    # -- links -------------------------------------------------------------------------------

    def usable(self, decision: RouteDecision) -> Link | None:
        """The link for ``decision`` (maybe still connecting: the caller waits for it), or None
        when this session cannot use that server (it is excluded from now on)."""
        session = self._session
        if decision.target is Target.PRIMARY or decision.server is None:
            return session.primary
        name = decision.server
        link = session.links.get(name)
        if link is not None:
            return link
        if name == session.primary.name:
            return session.primary
        if self._can_open():
            return self._open(name)
        self.excluded.add(name)
        return None

    def _can_open(self) -> bool:
        session = self._session
        replicas = len(session.links) - 1
        return not session.history.lost and replicas < session.settings.max_slave_connections

    def open_replicas(self) -> None:
        """Open the replica connections now (not with ``lazy_connect``)."""
        session = self._session
        if session.settings.lazy_connect:
            return
        for info in self.topology().replicas:
            if info.name not in session.links and self._can_open():
                self._open(info.name)

    def _open(self, name: str) -> Link | None:
        session = self._session
        server = next((s for s in session.service.servers if s.name == name), None)
        if server is None:
            self.excluded.add(name)
            return None
        link = Link(server)
        link.connecting = True
        session.links[name] = link
        task = asyncio.ensure_future(self._connect(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return link

    async def _connect(self, link: Link) -> None:
        session = self._session
        service = session.service
        try:
            conn = await backend.connect(link.server, session.login,
                                         service.config.connect_timeout,
                                         service.tls_for(link.server))
        except (ClientError, OSError, ProtocolError) as exc:
            reason = exc.message if isinstance(exc, ClientError) else str(exc)
            self._failed(link, reason)
            return
        service.observations.backend_connected(link.name, time.monotonic())
        link.connecting = False
        if session.closed or session.links.get(link.name) is not link:
            await backend.close_quietly(conn)
            return
        session.attach(link, conn)
        if session.history.lost:
            session.drop(link, "the session-command history was not kept")
            return
        session.replay(link)
        session.keepalive.learn(link)
        link.ready = True
        log.info("Session %d: connected to server '%s' (thread %d)", session.id, link.name,
                 conn.thread_id)
        if link.idle:
            link.wake()

    def _failed(self, link: Link, reason: str) -> None:
        session = self._session
        link.connecting = False
        if session.links.get(link.name) is link:
            del session.links[link.name]
        self.excluded.add(link.name)
        if not session.closed:
            log.warning("Session %d: could not connect to server '%s': %s", session.id,
                        link.name, reason)
        link.wake()

    def cancel(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
