"""A client session joined to its backend connection: the relay.

Client -> backend (:meth:`Session.client_data`): client packets are walked by header only and
forwarded as they arrive, in the same ``bytes`` objects when possible (one write per received
chunk).  The proxy needs only the first bytes of each command packet: the command byte decides
what happens (:data:`DISPATCH`), and the first 16 payload bytes go to the backend's
:class:`ResponseTracker`.  A 20 MiB upload streams through without being assembled.  A few
commands are looked at whole: a short COM_QUERY that may be ``KILL <proxy id>``,
COM_PROCESS_KILL (both rewritten to the target session's backend thread id), COM_CHANGE_USER
(re-authenticated at the proxy), and commands the proxy answers itself (``Unknown command``).
Commands that need the backend idle (COM_CHANGE_USER, injected answers) *hold* the rest of the
client's input and pause reading until the responses in flight are complete.

Backend -> client (:meth:`Session.backend_data`): every chunk is fed to the tracker (which walks
headers without copying rows) and written to the client unchanged.

This is the whole session of ``readconnroute`` (one server per session, no parsing).  It counts
the commands it routes to its server (``routed``: the service's ``route_servers``, which
``statistics.routed_queries`` of /v1/servers and the dashboard's q/s read): one dict increment
per client command, never anything per row or per result packet.  readconnroute cannot tell
reads from writes without parsing, so, as in MaxScale, it counts queries only; the reads/writes
split is readwritesplit's.  The
``readwritesplit`` session (:class:`interlock.server.rwsplit.RWSplitSession`) subclasses it for
the parts that stay the same (KILL translation, COM_CHANGE_USER, teardown) and replaces the
relay with one that routes each statement.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import TYPE_CHECKING

from interlock.advisor.observations import CloseReason
from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing.topology import ServerLoad
from interlock.server import change_user, errors
from interlock.server.backend import BackendConnection, Login
from interlock.server.flow import Reason
from interlock.server.registry import is_proxy_id
from interlock.sql.kill import parse_kill
from interlock.wire.constants import Command, ErrorCode
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import (
    MAX_PAYLOAD,
    Packet,
    PacketBuffer,
    encode_packet,
    unpack_header_first,
)
from interlock.wire.response import (
    LocalInfileRequested,
    ResponseDone,
    ResponseEvent,
    ResponseTracker,
)

if TYPE_CHECKING:
    from interlock.advisor.observations import SessionObservations
    from interlock.server.client import ClientConnection

log = get_logger(__name__)

# what to do with a client command
RELAY, QUERY, PROCESS_KILL, CHANGE_USER, QUIT, REJECT = range(6)

DISPATCH: dict[int, int] = {
    Command.QUERY: QUERY,
    Command.QUIT: QUIT,
    Command.PROCESS_KILL: PROCESS_KILL,
    Command.CHANGE_USER: CHANGE_USER,
    **{
        int(cmd): RELAY
        for cmd in (
            Command.INIT_DB,
            Command.FIELD_LIST,
            Command.CREATE_DB,
            Command.DROP_DB,
            Command.REFRESH,
            Command.STATISTICS,
            Command.DEBUG,
            Command.PING,
            Command.STMT_PREPARE,
            Command.STMT_EXECUTE,
            Command.STMT_SEND_LONG_DATA,
            Command.STMT_CLOSE,
            Command.STMT_RESET,
            Command.SET_OPTION,
            Command.STMT_FETCH,
            Command.RESET_CONNECTION,
            Command.STMT_BULK_EXECUTE,
        )
    },
}
HEAD = 16  # payload bytes the tracker gets
KILL_MAX = 4096  # COM_QUERY payloads up to this size are checked for KILL
WHOLE_MAX = 1 << 16  # largest packet the proxy assembles (COM_CHANGE_USER)
_KILL_HINT = re.compile(rb"[kK][iI][lL][lL]")


class Session:
    """One client connection and its backend connection."""

    __slots__ = (
        "_continued",
        "_discard",
        "_held",
        "_held_waiter",
        "_load",
        "_partial",
        "_quitting",
        "_rec",
        "_remaining",
        "_routed",
        "_server",
        "_task",
        "backend",
        "client",
        "closed",
        "ended",
        "id",
        "login",
        "reply_seq",
    )

    def __init__(
        self,
        client: ClientConnection,
        backend: BackendConnection,
        login: Login,
        load: ServerLoad | None = None,
        recorder: SessionObservations | None = None,
        routed: Counter[str] | None = None,
    ) -> None:
        self.client = client
        self.id = client.session_id
        self.login = login
        self.backend = backend
        backend.tracker = ResponseTracker(backend.capabilities)
        backend.sink = self
        client.congestion.link(backend.gate)
        backend.congestion.link(client.gate)
        self.closed = False
        self._partial = b""  # an incomplete packet start (< header + HEAD bytes)
        self._remaining = 0  # bytes of the current client packet still to pass on
        self._continued = False  # the current physical packet is 0xFFFFFF long: more follows
        self._discard = False  # the current packet is being dropped (answered by the proxy)
        self._held: bytearray | None = None  # input kept while waiting for the backend
        self._held_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._quitting = False
        self.reply_seq = 1  # sequence id of the proxy's answer to COM_CHANGE_USER
        self._load = load  # the server's live counters (readconnroute: connections)
        if load is not None:
            load.connected()
        # the service's Method 2 recorder (interlock.advisor.observations): one call per
        # command and per completed response, one at login and one at the close
        self._rec = recorder
        # readconnroute: commands routed, per server (the service's ``route_servers``)
        self._routed = routed
        self._server = backend.server.name
        self.ended: CloseReason | None = None  # why the proxy is ending it (None: not yet)

    def opened(self) -> None:
        """The client's login succeeded (its OK was sent)."""
        if self._rec is not None:
            self._rec.session_opened(self.id, time.monotonic())

    def arrived(self) -> None:
        """A command arrived from the client (the recorder's idle gap ends)."""
        if self._rec is not None:
            self._rec.statement(self.id, time.monotonic())

    def routed(self) -> None:
        """A client command goes to the backend (readconnroute's routed-queries count)."""
        if self._routed is not None:
            self._routed[self._server] += 1

    # -- routing seam ------------------------------------------------------------------------

    def route(self, command: int) -> BackendConnection:
        """The backend for the next command (issue 2: always the primary)."""
        return self.backend

    # -- client -> backend -------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        if self.closed:
            return
        if self._held is not None:
            self._held += data
            waiter = self._held_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        backend = self.backend
        tracker = backend.tracker
        try:
            if tracker.awaiting_client_data:
                backend.write(data)
                self._events(backend, tracker.feed_client(data))
                return
            if not (self._partial or self._remaining) and len(data) > 4:
                # fast path: exactly one whole command packet, relayed as the same object
                header, command = unpack_header_first(data)
                length = header & 0xFFFFFF
                if length + 4 == len(data) and length < MAX_PAYLOAD:
                    action = DISPATCH.get(command, REJECT)
                    if action == RELAY or (
                        action == QUERY
                        and (length > KILL_MAX or _KILL_HINT.search(data, 5, 261) is None)
                    ):
                        rec = self._rec
                        if rec is not None:
                            rec.statement(self.id, time.monotonic())
                        routed = self._routed
                        if routed is not None:
                            routed[self._server] += 1
                        tracker.start(command, data[4 : 4 + HEAD])
                        backend.write(data)
                        return
            self._feed(data)
        except Exception as exc:  # one session's failure must never reach the listener
            self.client_input_failed(exc)

    def client_input_failed(self, exc: Exception) -> None:
        """End the session for a failure while handling client input (called in ``except``)."""
        if isinstance(exc, ClientError):
            self.fail(exc, seq=1)
        elif isinstance(exc, ProtocolError):
            log.warning("Session %d: malformed packet from client: %s", self.id, exc)
            self.fail(errors.bad_handshake(), seq=1)
        else:
            log.exception("Session %d: unexpected failure", self.id)
            self.fail(errors.proxy_failure("internal error"), seq=1)

    def _feed(self, data: bytes) -> None:
        if self._partial:
            buf = self._partial + data
            self._partial = b""
        else:
            buf = data
        backend = self.backend
        tracker = backend.tracker
        size = len(buf)
        pos = 0
        start = 0  # start of the run of bytes to forward unchanged
        out: list[bytes] = []
        while pos < size:
            remaining = self._remaining
            if remaining:
                take = min(remaining, size - pos)
                if self._discard:
                    if start < pos:
                        out.append(buf[start:pos])
                    start = pos + take
                pos += take
                self._remaining = remaining - take
                continue
            if size - pos < 4:
                break
            length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            if self._continued:
                self._continued = length == MAX_PAYLOAD
                self._remaining = length
                pos += 4
                if self._discard:
                    start = pos
                continue
            self._discard = False
            if length == 0:
                raise errors.bad_handshake()
            if size - pos < 5:
                break
            command = buf[pos + 4]
            action = DISPATCH.get(command, REJECT)
            if action == QUERY and length > KILL_MAX:
                action = RELAY
            if action == RELAY:
                need = min(length, HEAD)
                if size - pos - 4 < need:
                    break
                self.arrived()
                self.routed()
                tracker.start(command, buf[pos + 4 : pos + 4 + need])
                self._continued = length == MAX_PAYLOAD
                self._remaining = length
                pos += 4
                continue
            if action == REJECT:
                if not tracker.idle:
                    self._hold(buf, pos, start, out)
                    return
                seq = buf[pos + 3]
                if start < pos:
                    out.append(buf[start:pos])
                self.arrived()
                self.client.write(errors.err_packet(errors.unknown_command(), seq + 1))
                log.warning("Session %d: rejected unsupported command 0x%02x", self.id, command)
                self._discard = True
                self._continued = length == MAX_PAYLOAD
                self._remaining = length
                pos += 4
                start = pos
                continue
            end = pos + 4 + length
            if length > WHOLE_MAX:
                raise errors.packet_too_large()
            if end > size:
                break
            packet = Packet(buf[pos + 3], buf[pos + 4 : end])
            if action in (QUERY, PROCESS_KILL):
                self.arrived()
                self.routed()
                payload = self._rewrite_kill(action, packet.payload)
                if payload is not packet.payload:
                    if start < pos:
                        out.append(buf[start:pos])
                    out.append(encode_packet(payload, packet.seq))
                    start = end
                tracker.start(command, payload[:HEAD])
                pos = end
                continue
            if action == QUIT:
                tracker.start(command, packet.payload)
                pos = end
                self._quitting = True
                break
            # CHANGE_USER: needs the backend idle, then runs as a task
            if not tracker.idle:
                self._hold(buf, pos, start, out)
                return
            if start < pos:
                out.append(buf[start:pos])
            self.arrived()
            self._flush(backend, buf, start, pos, out, whole=False)
            self._held = bytearray(buf[end:])
            self.client.gate.pause(Reason.BUSY)
            self._task = asyncio.ensure_future(self._change_user(packet))
            return
        if pos < size and not self._quitting:
            self._partial = buf[pos:]
        self._flush(backend, buf, start, pos, out, whole=True)
        if self._quitting:
            self.close()

    def _flush(
        self,
        backend: BackendConnection,
        buf: bytes,
        start: int,
        pos: int,
        out: list[bytes],
        whole: bool,
    ) -> None:
        if whole and not out and start == 0 and pos == len(buf):
            backend.write(buf)
            return
        if whole and start < pos:
            out.append(buf[start:pos])
        if out:
            backend.write(b"".join(out))

    def _hold(self, buf: bytes, pos: int, start: int, out: list[bytes]) -> None:
        """Forward what came before ``pos``, keep the rest until the backend is idle."""
        if start < pos:
            out.append(buf[start:pos])
        self._flush(self.backend, buf, start, pos, out, whole=False)
        self._held = bytearray(buf[pos:])
        self.client.gate.pause(Reason.BUSY)

    def _release_held(self) -> None:
        held = self._held
        self._held = None
        self.client.gate.resume(Reason.BUSY)
        if held and not self.closed:
            self.client_data(bytes(held))

    def _rewrite_kill(self, action: int, payload: bytes) -> bytes:
        """Translate a proxy connection id in KILL / COM_PROCESS_KILL to a backend thread id."""
        if action == PROCESS_KILL:
            if len(payload) != 5:
                return payload
            target_id = int.from_bytes(payload[1:5], "little")
        else:
            if _KILL_HINT.search(payload, 1, 261) is None:
                return payload
            stmt = parse_kill(payload[1:])
            if stmt is None:
                return payload
            target_id = stmt.thread_id
        if not is_proxy_id(target_id):
            return payload  # a backend thread id (from CONNECTION_ID()): pass through
        target = self.client.registry.get(target_id)
        thread = target.backend_thread_id() if target is not None else 0
        if not thread:
            # unknown proxy id: the server answers "Unknown thread id: N" with the same N
            return payload
        log.info("Session %d: KILL of session %d -> thread %d", self.id, target_id, thread)
        if action == PROCESS_KILL:
            return payload[:1] + thread.to_bytes(4, "little")
        assert stmt is not None
        return payload[:1] + stmt.with_thread_id(thread)

    def backend_thread_id(self) -> int:
        return self.backend.thread_id if not self.closed else 0

    # -- backend -> client -------------------------------------------------------------------

    def backend_data(self, backend: BackendConnection, data: bytes) -> None:
        try:
            events = backend.tracker.feed(data)
        except ProtocolError as exc:
            log.error(
                "Session %d: unexpected data from server %s: %s", self.id, backend.label, exc
            )
            self.fail(
                errors.lost_backend(
                    backend.server.name, backend.server.address, backend.server.port,
                    "malformed response",
                ),
                seq=backend.tracker.next_seq,
            )
            return
        self.client.write(data)
        if not events:
            return
        rec = self._rec
        if rec is not None and backend.tracker.idle:  # every response complete: idle from now
            rec.idle(self.id, time.monotonic())
        # usually one ResponseDone and nothing held: nothing to do
        if len(events) > 1 or self._held is not None or type(events[0]) is not ResponseDone:
            try:
                self._events(backend, events)
            except Exception:  # one session's failure must never reach the listener
                log.exception("Session %d: unexpected failure", self.id)
                self.fail(errors.proxy_failure("internal error"), seq=backend.tracker.next_seq)

    def _events(self, backend: BackendConnection, events: list[ResponseEvent]) -> None:
        for event in events:
            if isinstance(event, ResponseDone):
                if self._held is not None and self._task is None and backend.tracker.idle:
                    self._release_held()
            elif isinstance(event, LocalInfileRequested):
                log.info("Session %d: LOAD DATA LOCAL INFILE transfer", self.id)

    def backend_lost(self, backend: BackendConnection, exc: Exception | None) -> None:
        if self.closed:
            return
        if self._quitting:
            self.close()
            return
        tracker = backend.tracker
        if tracker.idle and self._rec is not None:
            now = time.monotonic()
            idle = self._rec.idle_for(self.id, now)
            if idle is not None:
                self._rec.backend_lost_idle(backend.server.name, now, idle)
        seq = 1 if tracker.idle else tracker.next_seq
        reason = str(exc) if exc else "connection closed by the server"
        log.warning(
            "Session %d: lost connection to server %s: %s", self.id, backend.label, reason
        )
        server = backend.server
        self.fail(errors.lost_backend(server.name, server.address, server.port), seq=seq)

    # -- COM_CHANGE_USER ---------------------------------------------------------------------

    async def read_client_packet(self) -> Packet:
        """A whole packet from the held client input (reading resumed meanwhile)."""
        buffer = PacketBuffer(max_payload=WHOLE_MAX)
        while True:
            held = self._held if self._held is not None else bytearray()
            buffer.feed(bytes(held))
            held.clear()
            packet = buffer.next_packet()
            if packet is not None:
                rest = buffer.packets()
                if rest or buffer.buffered:
                    raise errors.bad_handshake()
                return packet
            self._held_waiter = asyncio.get_running_loop().create_future()
            self.client.gate.resume(Reason.BUSY)
            try:
                await self._held_waiter
            finally:
                self._held_waiter = None
                self.client.gate.pause(Reason.BUSY)
            if self.closed:
                raise ConnectionResetError("client went away")

    async def _change_user(self, packet: Packet) -> None:
        try:
            await change_user.run(self, packet)
        except ClientError as exc:
            self.fail(exc, seq=self.reply_seq)
            return
        except (ProtocolError, OSError) as exc:
            log.warning("Session %d: COM_CHANGE_USER failed: %s", self.id, exc)
            server = self.backend.server
            error = errors.lost_backend(server.name, server.address, server.port, str(exc))
            self.fail(error, seq=self.reply_seq)
            return
        except asyncio.CancelledError:
            return
        self._task = None
        if self._rec is not None:
            self._rec.idle(self.id, time.monotonic())
        if not self.closed:
            self._release_held()

    # -- teardown ----------------------------------------------------------------------------

    def fail(self, error: ClientError, seq: int) -> None:
        """Send ``error`` to the client and end the session."""
        if self.closed:
            return
        if self.ended is None:
            self.ended = _ended_by(error)
        self.client.write(errors.err_packet(error, seq))
        self.close()

    def client_lost(self) -> None:
        if not self.closed:
            log.info("Session %d: client disconnected", self.id)
            if self.ended is None:
                self.ended = CloseReason.VANISHED
        self.close()

    def servers(self) -> tuple[str, ...]:
        """The servers this session has a backend connection to (admin API, forced
        maintenance)."""
        return (self.backend.server.name,)

    def in_flight(self) -> bool:
        """A command is being sent or answered (a graceful shutdown lets it finish)."""
        return not self.backend.tracker.idle or self._task is not None or self._held is not None

    def close_reason(self) -> CloseReason:
        """How the session ends (for the recorder): COM_QUIT, else what ended it, else the
        proxy closed it (shutdown, an admin action)."""
        if self._quitting:
            return CloseReason.QUIT
        return self.ended if self.ended is not None else CloseReason.KILLED

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._rec is not None:
            self._rec.session_closed(self.id, time.monotonic(), self.close_reason())
        if self._load is not None:
            self._load.connections -= 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
        waiter = self._held_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.client.congestion.link(None)
        self.backend.congestion.link(None)
        self.backend.close()
        self.client.close()


def _ended_by(error: ClientError) -> CloseReason:
    """The close reason of a session failed with ``error``: a lost or unreachable backend, or
    another error."""
    if isinstance(error, errors.BackendError) or error.code == ErrorCode.SERVER_LOST:
        return CloseReason.BACKEND_LOST
    return CloseReason.ERROR
