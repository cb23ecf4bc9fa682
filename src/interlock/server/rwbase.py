"""The state of a ``readwritesplit`` session and the lifecycle of its backend links.

:class:`RWSessionBase` holds what every part of the session reads: the links by server
(:mod:`interlock.server.rwlinks`), the command being relayed, the routing state, the
session-command history and the prepared-statement ids.  It attaches a link once its login
succeeded, drops a link (diverged, lost, malformed answer: the server is excluded for the rest
of the session), gives the session's view of the topology and closes everything at teardown.

The session is built in three layers, each a module: this one; responses from the backends
(:mod:`interlock.server.rwresponse`); commands from the client and their dispatch
(:mod:`interlock.server.rwsplit`, the concrete :class:`~interlock.server.rwsplit.RWSplitSession`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.config.model import ServerConfig
from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing.decision import RouteDecision, Target
from interlock.routing.session_state import (
    LockReason,
    SessionExtras,
    SessionState,
    initial_state,
)
from interlock.routing.topology import Topology
from interlock.server.backend import BackendConnection, Login
from interlock.server.pstmt import StatementIds
from interlock.server.rwlinks import Inflight, Link
from interlock.server.sescmd import SessionHistory
from interlock.server.session import Session
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet, PacketBuffer
from interlock.wire.packets import parse_ok
from interlock.wire.response import ResponseTracker

if TYPE_CHECKING:
    from interlock.server.client import ClientConnection
    from interlock.server.rwcausal import CausalReadsIO
    from interlock.server.rwkeepalive import Keepalive
    from interlock.server.rwopen import LinkOpener
    from interlock.server.rwprimary import PrimaryKeeper
    from interlock.server.service import ServiceRuntime

log = get_logger(__name__)


class RWSessionBase(Session):
    __slots__ = ("_busy", "_by_conn", "_current", "_input", "_last_cmd", "_links", "_opener",
                 "_parked", "_primary", "causal", "exec_memo", "exec_pinned", "history",
                 "keepalive", "keeper", "prepared_texts", "service", "settings", "state",
                 "stmts")

    _opener: LinkOpener  # set by the concrete session (they take it as their owner)
    causal: CausalReadsIO
    keeper: PrimaryKeeper
    keepalive: Keepalive

    def __init__(self, client: ClientConnection, conn: BackendConnection, login: Login,
                 service: ServiceRuntime) -> None:
        super().__init__(client, conn, login, service.topology.load(conn.server.name),
                         service.observations)
        self.service = service
        self.settings = service.settings
        self._primary = primary = Link(conn.server, is_primary=True)
        primary.conn, primary.ready = conn, True
        self._links: dict[str, Link] = {primary.name: primary}
        self._by_conn: dict[BackendConnection, Link] = {conn: primary}
        self._input = PacketBuffer(max_payload=1 << 30)
        self._busy = False
        self._current: Inflight | None = None
        self._parked: tuple[Packet, bytes | None, RouteDecision | None] | None = None
        self.history = SessionHistory(self.settings.max_sescmd_history,
                                      self.settings.prune_sescmd_history,
                                      not self.settings.disable_sescmd_history)
        self.stmts = StatementIds()
        # COM_STMT_PREPARE payloads of statements prepared on the primary only (not in the
        # history): re-prepared when the primary connection is reopened
        self.prepared_texts: dict[int, bytes] = {}
        self._last_cmd: tuple[Packet, bytes | None] | None = None  # the command being handled
        self.state: SessionState = initial_state(login_status(conn), login.database)
        # rwstmt: (state.ext, state.status, state.locks, {statement id: is a plain read})
        self.exec_memo: tuple[SessionExtras, int, LockReason, dict[int, bool]] | None = None
        # rwstmt: (state, topology, {statement id: its decision}) in a transaction or a lock
        self.exec_pinned: tuple[SessionState, Topology, dict[int, RouteDecision]] | None = None

    def _pump(self) -> None:
        """Handle buffered client commands (the concrete session's dispatch loop)."""
        raise NotImplementedError

    def park(self, packet: Packet, raw: bytes | None, link: Link,
             decision: RouteDecision | None = None) -> None:
        """Handle ``packet`` again once ``link`` is idle (the concrete session's)."""
        raise NotImplementedError

    # -- links -------------------------------------------------------------------------------

    @property
    def links(self) -> dict[str, Link]:
        return self._links

    @property
    def primary(self) -> Link:
        return self._primary

    def attach(self, link: Link, conn: BackendConnection) -> None:
        """A new link logged in: relay mode, flow control."""
        conn.tracker = ResponseTracker(conn.capabilities)
        conn.sink = self
        conn.congestion.link(self.client.gate)
        link.conn = conn
        self._by_conn[conn] = link
        self.service.topology.load(link.name).connected()

    def drop(self, link: Link, why: str) -> None:
        """Close ``link`` and take it out of the session (its statement ids go with it)."""
        if self._links.get(link.name) is not link:
            return
        log.warning("Session %d: dropping server '%s' from the session: %s", self.id,
                    link.name, why)
        del self._links[link.name]
        self._opener.excluded.add(link.name)
        self.stmts.forget_server(link.name)
        conn = link.conn
        if conn is not None:
            self._by_conn.pop(conn, None)
            self.service.topology.load(link.name).connections -= 1
            conn.congestion.link(None)
            conn.close()
        link.ready = False
        link.pending.clear()
        link.wake()

    def retire_primary(self) -> None:
        """Close the primary link's connection (if any) and put a fresh, unconnected link to
        the same server in its place; commands parked on the old link are handled again."""
        old = self._primary
        conn = old.conn
        if conn is not None:
            self._by_conn.pop(conn, None)
            conn.congestion.link(None)
            self.client.congestion.link(None)
            conn.close()
        old.conn = None
        old.ready = False
        old.pending.clear()
        self.stmts.forget_server(old.name)
        fresh = Link(old.server, is_primary=True)
        fresh.waiters = old.waiters
        old.waiters = []
        self._primary = fresh
        self._links[fresh.name] = fresh

    def adopt_primary(self, link: Link, server: ServerConfig, conn: BackendConnection) -> Link:
        """``conn`` (logged in to ``server``, the current primary) becomes the primary link's
        connection; a replica link to that server is closed (its statements are forgotten)."""
        if server.name != link.name:
            del self._links[link.name]
            replica = self._links.pop(server.name, None)
            if replica is not None:
                if replica.conn is not None:
                    self._by_conn.pop(replica.conn, None)
                    self.service.topology.load(replica.name).connections -= 1
                    replica.conn.congestion.link(None)
                    replica.conn.close()
                replica.ready = False
                replica.pending.clear()
                replica.wake()
            self.stmts.forget_server(server.name)
            moved = Link(server, is_primary=True)
            moved.waiters, link.waiters = link.waiters, []
            moved.connecting = True
            link = moved
            self._primary = link
            self._links[link.name] = link
        self._opener.excluded.discard(link.name)
        if self._load is not None:
            self._load.connections -= 1
        self.attach(link, conn)
        self._load = self.service.topology.load(link.name)
        self.backend = conn
        return link

    def parked_seq(self) -> int:
        """Sequence id of the client's command waiting for a link (0 if none)."""
        parked = self._parked
        return parked[0].seq if parked is not None else 0

    def answer_parked(self, link: Link, error: ClientError) -> None:
        """The command waiting for ``link`` gets ``error`` instead of running."""
        from interlock.server import errors

        parked, self._parked = self._parked, None
        link.waiters.clear()
        self._busy = False
        if parked is not None:
            self.client.write(errors.err_packet(error, parked[0].seq + 1))
        self._pump()

    def answer_command(self, error: ClientError) -> None:
        """The command being handled (not sent, nothing relayed) gets ``error`` instead."""
        from interlock.server import errors

        last = self._last_cmd
        self.client.write(errors.err_packet(error, last[0].seq + 1 if last is not None else 1))
        self._busy = False
        self._pump()

    def topology(self) -> Topology:
        return self._opener.topology()

    def _link_of(self, decision: RouteDecision) -> Link:
        if decision.target is Target.PRIMARY or decision.target is Target.ALL:
            return self._primary
        name = decision.server
        if name is None:
            return self._primary
        return self._links.get(name) or self._primary

    def active_replica(self) -> tuple[str, int] | None:
        """(server, thread id) of the replica running this session's statement, if any."""
        flight = self._current
        if flight is None or flight.decision.target is Target.PRIMARY:
            return None
        link = self._link_of(flight.decision)
        if link.is_primary or link.conn is None:
            return None
        return link.name, link.conn.thread_id

    # -- teardown ----------------------------------------------------------------------------

    def backend_thread_id(self) -> int:
        return self._primary.conn.thread_id if self._primary.conn and not self.closed else 0

    def servers(self) -> tuple[str, ...]:
        return tuple(name for name, link in self._links.items() if link.conn is not None)

    def in_flight(self) -> bool:
        """(Session's) a statement is answered, waits for a link, or its answer waits for its
        GTID (``causal_reads``)."""
        return (self._busy or self._current is not None or self._parked is not None
                or self.causal.need_gtid)

    def close(self) -> None:
        if self.closed:
            return
        self._opener.cancel()
        self.keeper.cancel()
        self.keepalive.stop()
        flight, self._current = self._current, None
        if flight is not None and flight.server:  # closed while it ran: no longer counted
            self.service.topology.load(flight.server).finished()
        for link in tuple(self._links.values()):
            if not link.is_primary and link.conn is not None:
                self.service.topology.load(link.name).connections -= 1
                link.conn.congestion.link(None)
                link.conn.close()
            link.waiters.clear()
        super().close()


def login_status(conn: BackendConnection) -> int:
    """The status flags of the OK that ended ``conn``'s login."""
    try:
        return int(parse_ok(conn.login_ok, conn.capabilities).status)
    except (ProtocolError, IndexError):
        return 2  # SERVER_STATUS_AUTOCOMMIT

