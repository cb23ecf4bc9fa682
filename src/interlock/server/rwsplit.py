"""The ``readwritesplit`` session: one client, the primary and the replicas, a route per statement.

Theory of operation
-------------------
The client logs in to the primary (``client.py``); that connection becomes the session's
primary :class:`~interlock.server.rwlinks.Link`.  Replica links are opened right away in the
background (up to ``max_slave_connections``), or only when a statement is first routed to one
(``lazy_connect=true``); the client's login never waits for them.  A new link replays the
session-command history (:mod:`interlock.server.sescmd`) before it takes a statement.

Client -> backends: client bytes are cut into whole command packets.  Commands are handled one
at a time: while a response is being relayed (or the command waits for a link), later packets
stay buffered (reading pauses if they pile up).  Per command:

* COM_QUERY: ``classify`` (interlock.sql) and ``decide`` (interlock.routing) with the session's
  routing state and the service's topology snapshot; the statement goes to the decided link.
* Session commands (``Target.ALL``: SET, USE/COM_INIT_DB, text PREPARE, COM_SET_OPTION,
  ``SELECT @v := ...``, COM_STMT_PREPARE...) go to every ready link and are recorded.  The
  primary's answer is relayed; a replica answering differently is closed and dropped.
* Prepared statements: :mod:`interlock.server.pstmt` (one client id, ids rewritten per backend).
* COM_CHANGE_USER: re-authenticated on the primary as in the single-backend session; then the
  replica links are closed, the history is cleared and replicas reconnect as the new user
  (lazily or in the background, per ``lazy_connect``).  Re-authenticating each replica instead
  would need every replica's nonce exchange to succeed before answering; reconnecting is
  simpler and leaves no half-changed session.

Backends -> client: chunks of the relayed response are written to the client as they arrive,
after the link's :class:`ResponseTracker` walked their headers (no per-row work); only a
PREPARE OK is held back whole to put the client's statement id in it.  When the response is
complete, the routing state advances from what the backend reported (status flags: transaction
state and autocommit; session-tracked ``last_gtid`` and schema).

``causal_reads``: see :mod:`interlock.server.rwcausal`.

The session is layered over three modules: :mod:`interlock.server.rwbase` (state, links,
teardown), :mod:`interlock.server.rwresponse` (backends -> client) and this one (client ->
backends: input, dispatch per command, session commands, COM_CHANGE_USER).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing import policy
from interlock.routing.decision import Reason, RouteDecision, Target, plain_decision
from interlock.routing.session_state import initial_state
from interlock.routing.topology import READ_REASONS
from interlock.server import errors, rwstmt
from interlock.server.backend import BackendConnection, Login
from interlock.server.flow import Reason as FlowReason
from interlock.server.registry import is_proxy_id
from interlock.server.rwbase import login_status
from interlock.server.rwcausal import CausalReadsIO, may_write
from interlock.server.rwkeepalive import Keepalive
from interlock.server.rwlinks import (
    AFTER_COMMAND,
    AFTER_INIT_DB,
    AFTER_NOTHING,
    AFTER_QUERY,
    AFTER_RESET,
    CONSUME,
    RELAYED,
    Expect,
    Inflight,
    Link,
)
from interlock.server.rwopen import LinkOpener
from interlock.server.rwprimary import PrimaryKeeper
from interlock.server.rwresponse import RWResponses
from interlock.server.rwtrx import RECORDED
from interlock.server.sescmd import SessionCommand
from interlock.server.session import KILL_MAX, PROCESS_KILL, QUERY
from interlock.sql import classify
from interlock.sql.kill import parse_kill
from interlock.sql.kinds import Classification
from interlock.wire.constants import Command
from interlock.wire.events import ResponseDone, StatementPrepared
from interlock.wire.framing import (
    MAX_PAYLOAD,
    Packet,
    encode_packet,
    unpack_header_first,
)

if TYPE_CHECKING:
    from interlock.monitor.executor import WriteGate
    from interlock.server.client import ClientConnection
    from interlock.server.service import ServiceRuntime

log = get_logger(__name__)

_KILL_HINT = re.compile(rb"[kK][iI][lL][lL]")
INPUT_HIGH = 1 << 20  # buffered client bytes at which reading pauses while busy
_STATELESS = frozenset((int(Command.PING), int(Command.STATISTICS)))
_BUSY = FlowReason.BUSY
_QUERY = int(Command.QUERY)
_QUIT = b"\x01"  # COM_QUIT: not a statement for the recorder (the session's close says it)


class RWSplitSession(RWResponses):
    __slots__ = ()

    def __init__(self, client: ClientConnection, conn: BackendConnection, login: Login,
                 service: ServiceRuntime) -> None:
        super().__init__(client, conn, login, service)
        self._opener = LinkOpener(self)
        self.keeper = PrimaryKeeper(self)
        self.keepalive = Keepalive(self)
        self.causal = CausalReadsIO(self)
        self.causal.start(self._primary)
        self._opener.open_replicas()
        self.keepalive.start()

    # -- client -> backends ------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        if self.closed:
            return
        self.keepalive.client_active()
        try:
            current = self._current
            if current is not None:
                link = self._link_of(current.decision)
                conn = link.conn
                if conn is not None and conn.tracker.awaiting_client_data:  # LOAD DATA LOCAL
                    conn.write(data)
                    conn.tracker.feed_client(data)
                    return
            if not self._busy and not self._input.buffered and len(data) > 4:
                header, _ = unpack_header_first(data)
                length = header & 0xFFFFFF
                if length + 4 == len(data) and length < MAX_PAYLOAD:
                    rec = self._rec
                    if rec is not None and data[4:5] != _QUIT:  # (the time just read)
                        rec.statement(self.id, self.keepalive._client_at)
                    self._command(Packet(header >> 24, data[4:]), data)
                    if not self._busy and self._input.buffered:
                        self._pump()
                    return
            self._input.feed(data)
            waiter = self._held_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            elif not self._busy:
                self._pump()
            elif self._input.buffered > INPUT_HIGH:
                self.client.gate.pause(FlowReason.BUSY)
        except Exception as exc:  # one session's failure must never reach the listener
            self.client_input_failed(exc)

    def _pump(self) -> None:
        """Handle buffered client commands until one has to wait for a response."""
        causal, buffer = self.causal, self._input
        while not self._busy and not self.closed:
            if causal.need_gtid and causal.before_next_command():
                return  # a hidden @@last_gtid lookup runs first
            packet = buffer.next_packet()
            if packet is None:
                break
            rec = self._rec
            if rec is not None and packet.payload[:1] != _QUIT:
                # when its bytes arrived: a command buffered behind a response has no idle gap
                rec.statement(self.id, self.keepalive._client_at)
            self._command(packet, None)
        if not self._busy:
            gate = self.client.gate
            if gate.reasons:
                gate.resume(_BUSY)

    def _command(self, packet: Packet, raw: bytes | None) -> None:
        payload = packet.payload
        if not payload:
            raise errors.bad_handshake()
        handler = _HANDLERS.get(payload[0])
        self._last_cmd = (packet, raw)
        self.keeper.check_moved()
        if handler is None:
            self.client.write(errors.err_packet(errors.unknown_command(), packet.seq + 1))
            log.warning("Session %d: rejected unsupported command 0x%02x", self.id, payload[0])
            return
        handler(self, packet, raw)

    def park(self, packet: Packet, raw: bytes | None, link: Link,
             decision: RouteDecision | None = None) -> None:
        """Handle ``packet`` again once ``link`` is idle (or gone)."""
        if link is self._primary and not link.ready and not link.connecting:
            if not self.keeper.enabled:
                server = link.server
                raise errors.lost_backend(server.name, server.address, server.port,
                                          self.keeper.reason or "primary connection gone")
            self.keeper.ensure()
        self._busy = True
        self._parked = (packet, raw, decision)
        link.waiters.append(self._unpark)

    def _unpark(self) -> None:
        parked, self._parked = self._parked, None
        self._busy = False
        if parked is None or self.closed:
            return
        try:
            packet, raw, decision = parked
            if decision is not None:
                self.route_packet(packet, raw, decision)
            else:
                self._command(packet, raw)
            self._pump()
        except ClientError as exc:
            self.fail(exc, seq=1)
        except Exception:
            log.exception("Session %d: unexpected failure", self.id)
            self.fail(errors.proxy_failure("internal error"), seq=1)

    # -- commands ----------------------------------------------------------------------------

    def _query(self, packet: Packet, raw: bytes | None) -> None:
        payload = packet.payload
        self.keepalive.note_query(payload)
        if len(payload) <= KILL_MAX and _KILL_HINT.search(payload, 1, 261) is not None:
            self._kill_on_replica(payload)
            rewritten = self._rewrite_kill(QUERY, payload)
            if rewritten is not payload:
                packet, raw = Packet(0, rewritten), None
        state = self.state
        c = classify(packet.payload[1:], no_backslash_escapes=state.no_backslash_escapes)
        decision = policy.decide(c, state, self.topology(), self.settings)
        self.route_packet(packet, raw, decision, c)

    def _kill_on_replica(self, payload: bytes) -> None:
        """``KILL [QUERY] <proxy id>`` of a session whose statement runs on a replica: the
        translated KILL reaches its primary thread; the replica's thread is killed through this
        session's own connection to that replica (hidden), so the statement stops too."""
        stmt = parse_kill(payload[1:])
        if stmt is None or not is_proxy_id(stmt.thread_id):
            return
        target = self.client.registry.get(stmt.thread_id)
        victim = target.session if target is not None else None
        active = victim.active_replica() if isinstance(victim, RWSplitSession) else None
        if active is None:
            return
        link = self._links.get(active[0])
        if link is not None and link.ready and link.conn is not None:
            log.info("Session %d: KILL of session %d -> thread %d on server '%s'", self.id,
                     stmt.thread_id, active[1], link.name)
            kill = b"\x03KILL QUERY %d" % active[1]
            link.send(kill, Expect(CONSUME, _ignore))

    def route_packet(self, packet: Packet, raw: bytes | None, decision: RouteDecision,
                     c: Classification | None = None) -> None:
        """Send a COM_QUERY or COM_STMT_EXECUTE where ``decision`` says."""
        payload = packet.payload
        if decision.target is Target.ALL:
            if c is None:
                c = classify(payload[1:], no_backslash_escapes=self.state.no_backslash_escapes)
            self.session_command(packet, raw, decision, AFTER_QUERY, c)
            return
        if decision.target is Target.PRIMARY:
            gate = self.service.write_gate
            # only new transactions and autocommit writes wait: statements of a transaction
            # already open run on to COMMIT/ROLLBACK on the old primary, which the switchover
            # drains before it fences (docs/failover.md)
            if gate is not None and gate.held and not self.state.in_trx:
                self._wait_for_gate(packet, raw, gate)
                return
        elif decision.target is Target.SERVER and decision.server is not None \
                and decision.server == self.state.trx_target \
                and decision.server not in self._links:
            # the transaction's connection there is gone: a new one would run this outside it
            name = decision.server
            server = next((s for s in self.service.servers if s.name == name), None)
            raise errors.lost_backend(name, server.address if server else "?",
                                      server.port if server else 0,
                                      "the connection running the transaction was lost")
        link = self._opener.usable(decision)
        if link is None:
            return self._reroute(packet, raw, decision)
        if not link.idle:
            self.park(packet, raw, link)
            return
        if decision.wait_gtid is not None:
            self.causal.wait_then(link, packet, raw, decision)
            return
        self.run_on(link, packet, raw, decision, c)

    def _wait_for_gate(self, packet: Packet, raw: bytes | None, gate: WriteGate) -> None:
        """A switchover holds writes: stop reading the client, wait for the release (or the
        hold's deadline), then handle ``packet`` again with the topology current then."""
        self._busy = True
        self.client.gate.pause(FlowReason.BUSY)

        async def waiting() -> None:
            await gate.wait()
            self._busy = False
            if self.closed:
                return
            try:
                self._command(packet, raw)
                self._pump()
            except ClientError as exc:
                self.fail(exc, seq=1)
            except Exception:
                log.exception("Session %d: unexpected failure", self.id)
                self.fail(errors.proxy_failure("internal error"), seq=1)

        self.keeper.spawn(waiting())

    def run_on(self, link: Link, packet: Packet, raw: bytes | None, decision: RouteDecision,
               c: Classification | None = None) -> None:
        """Relay a COM_QUERY or a statement command on ``link`` (idle)."""
        payload = packet.payload
        query = payload[0] == _QUERY
        if query and c is None:
            c = classify(payload[1:], no_backslash_escapes=self.state.no_backslash_escapes)
        keeper = self.keeper
        if keeper.marker is not None and link.is_primary and keeper.wants_marker(payload, c):
            keeper.mark(link, packet, raw, decision, c)  # the marker, then this COMMIT
            return
        if query:
            self.relay(link, Inflight(payload, decision, AFTER_QUERY, c), raw, packet.seq)
        else:
            rwstmt.execute_on(self, link, packet, decision, raw)

    def _reroute(self, packet: Packet, raw: bytes | None, decision: RouteDecision) -> None:
        """The decided server cannot be used by this session: decide again (it is excluded)."""
        if decision.target is Target.PRIMARY:
            raise errors.lost_backend(self._primary.name, self._primary.server.address,
                                      self._primary.server.port, "primary connection gone")
        self._command(packet, raw)

    def relay(self, link: Link, flight: Inflight, raw: bytes | None, last_seq: int = 0) -> None:
        """Send the client's command on ``link`` (idle) and relay its response."""
        conn = link.conn
        assert conn is not None
        service = self.service
        name = link.name
        reason = flight.decision.reason
        service.route_reasons[reason] += 1
        service.route_servers[name] += 1
        flight.started = started = time.monotonic()
        flight.server = name
        flight.load = load = service.topology.load(name)
        load.started()
        if reason in READ_REASONS:
            load.reads += 1
        else:
            load.writes += 1
        congestion = self.client.congestion
        if congestion.peer is not conn.gate:  # relinking the same peer is a no-op
            congestion.link(conn.gate)
        primary = link.is_primary
        if primary and self.causal.hold_writes and flight.held is None \
                and flight.entry is None and may_write(flight):
            flight.held, flight.gtid_hold = bytearray(), True
        self._current = flight
        payload = flight.payload
        if primary:
            keeper = self.keeper
            trx = keeper.trx
            if trx is not None and flight.entry is None and payload[0] in RECORDED:
                trx.sent(payload, flight.proxy_id, self.state.in_trx, self.id,
                         keeper.marker is None or self.may_change(flight))
        link.used = started
        if conn.tracker.start(payload[0], payload[:16], last_seq):
            self._busy = True
            link.pending.append(RELAYED)
        else:
            self._current = None
            load.finished()
        conn.write(raw if raw is not None and raw[4:] == payload else encode_packet(payload, 0))

    def session_command(self, packet: Packet, raw: bytes | None, decision: RouteDecision,
                         after: int, c: Classification | None = None, proxy_id: int = 0,
                         record: bool = True) -> None:
        primary = self._primary
        if not primary.idle:
            self.park(packet, raw, primary)
            return
        payload = packet.payload
        entry = self.history.record(payload, proxy_id) if record else SessionCommand(payload)
        for link in tuple(self._links.values()):
            if link is not primary and link.ready:
                link.send(payload, Expect(CONSUME, self.replica_answer(link, entry)))
        flight = Inflight(payload, decision, after, c, entry, proxy_id)
        if payload[0] == Command.STMT_PREPARE:
            flight.held = bytearray()
        self.relay(primary, flight, raw, packet.seq)

    def replay(self, link: Link) -> None:
        """Send the session-command history on a link that just logged in."""
        for entry in self.history:
            link.send(entry.payload, Expect(CONSUME, self.replica_answer(link, entry)))

    def _init_db(self, packet: Packet, raw: bytes | None) -> None:
        decision = policy.decide_command(Command.INIT_DB, self.state, self.topology(),
                                         self.settings)
        self.session_command(packet, raw, decision, AFTER_INIT_DB)

    def _set_option(self, packet: Packet, raw: bytes | None) -> None:
        decision = policy.decide_command(Command.SET_OPTION, self.state, self.topology(),
                                         self.settings)
        self.session_command(packet, raw, decision, AFTER_COMMAND)

    def _reset_connection(self, packet: Packet, raw: bytes | None) -> None:
        decision = policy.decide_command(Command.RESET_CONNECTION, self.state,
                                         self.topology(), self.settings)
        self.session_command(packet, raw, decision, AFTER_RESET, record=False)

    def _to_primary(self, packet: Packet, raw: bytes | None) -> None:
        payload = packet.payload
        if payload[0] == Command.PROCESS_KILL:
            payload = self._rewrite_kill(PROCESS_KILL, payload)
        primary = self._primary
        if not primary.idle:
            self.park(packet, raw, primary)
            return
        decision = plain_decision(Target.PRIMARY, primary.name, Reason.COMMAND)
        after = AFTER_NOTHING if payload[0] in _STATELESS else AFTER_COMMAND
        self.relay(primary, Inflight(payload, decision, after), raw, packet.seq)

    def _quit(self, packet: Packet, raw: bytes | None) -> None:
        for link in self._links.values():
            if link.conn is not None:
                link.conn.write(_frame(packet.payload))
        self._quitting = True
        self.close()
    # -- COM_CHANGE_USER ---------------------------------------------------------------------

    def _change_user_command(self, packet: Packet, raw: bytes | None) -> None:
        primary = self._primary
        if not primary.idle:
            self.park(packet, raw, primary)
            return
        self._busy = True
        self._task = asyncio.ensure_future(self._run_change_user(packet))

    async def _run_change_user(self, packet: Packet) -> None:
        before = self.login
        await self._change_user(packet)  # the single-backend procedure, on the primary
        if self.closed:
            return
        if self.login is not before:
            self._after_change_user()
        self._busy = False
        self._pump()

    def _after_change_user(self) -> None:
        for link in tuple(self._links.values()):
            if not link.is_primary:
                self.drop(link, "COM_CHANGE_USER: reconnecting as the new user")
        self._opener.excluded.clear()
        self.history.clear()
        self.stmts.clear()
        conn = self._primary.conn
        assert conn is not None
        self.state = initial_state(login_status(conn), self.login.database)
        self.causal.start(self._primary)
        self._opener.open_replicas()

    def _release_held(self) -> None:
        """(Session's hook after COM_CHANGE_USER: input is buffered in ``_input`` here.)"""

    async def read_client_packet(self) -> Packet:
        """A whole packet from the client's buffered input (COM_CHANGE_USER's auth switch)."""
        while True:
            packet = self._input.next_packet()
            if packet is not None:
                return packet
            self._held_waiter = asyncio.get_running_loop().create_future()
            self.client.gate.resume(FlowReason.BUSY)
            try:
                await self._held_waiter
            finally:
                self._held_waiter = None
            if self.closed:
                raise ConnectionResetError("client went away")



def _ignore(done: ResponseDone, prepared: StatementPrepared | None, data: bytes) -> None:
    """A hidden command whose answer does not matter."""


def _frame(payload: bytes) -> bytes:
    return encode_packet(payload, 0)



_Handler = Callable[[RWSplitSession, Packet, "bytes | None"], None]
_HANDLERS: dict[int, _Handler] = {
    Command.QUERY: RWSplitSession._query,
    Command.INIT_DB: RWSplitSession._init_db,
    Command.SET_OPTION: RWSplitSession._set_option,
    Command.RESET_CONNECTION: RWSplitSession._reset_connection,
    Command.STMT_PREPARE: rwstmt.prepare,
    Command.STMT_EXECUTE: rwstmt.execute,
    Command.STMT_BULK_EXECUTE: rwstmt.execute,
    Command.STMT_FETCH: rwstmt.execute,
    Command.STMT_SEND_LONG_DATA: rwstmt.execute,
    Command.STMT_CLOSE: rwstmt.close_statement,
    Command.STMT_RESET: rwstmt.reset_statement,
    Command.CHANGE_USER: RWSplitSession._change_user_command,
    Command.QUIT: RWSplitSession._quit,
    **{int(c): RWSplitSession._to_primary for c in (
        Command.PING, Command.STATISTICS, Command.FIELD_LIST, Command.PROCESS_KILL,
        Command.REFRESH, Command.DEBUG, Command.CREATE_DB, Command.DROP_DB,
        Command.PROCESS_INFO)},
}
