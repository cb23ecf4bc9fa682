"""Connections to backend servers.

:class:`BackendConnection` is an ``asyncio.Protocol`` with two modes:

* *packet mode* (``sink is None``): bytes go into a :class:`PacketBuffer` and coroutines await
  whole packets with :meth:`read_packet`.  Used for the handshake and login, for the proxy's own
  queries (loading accounts) and for exchanges the proxy drives (COM_CHANGE_USER).
* *relay mode* (``sink`` set): every received chunk is handed to ``sink.backend_data`` as is;
  the session feeds it to the :class:`ResponseTracker` and writes it to the client.

:func:`connect` opens a connection and logs in within a timeout, either as a client's user
(knowing only SHA1 of the password, via ``token_from_sha1``) or with a plaintext password (the
service user).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from interlock.config.model import ServerConfig
from interlock.log import get_logger
from interlock.server import errors, flow
from interlock.wire.auth import NATIVE_PASSWORD, scramble_native_password, token_from_sha1
from interlock.wire.constants import Capability, Command
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet, PacketBuffer, encode_packet
from interlock.wire.handshake import (
    HandshakeResponse41,
    HandshakeV10,
    build_handshake_response41,
    build_ssl_request,
    is_auth_switch,
    parse_auth_switch,
    parse_handshake_v10,
)
from interlock.wire.packets import ErrPacket, parse_err
from interlock.wire.response import ResponseTracker

log = get_logger(__name__)

_LOGIN_MAX_PACKET = 16 * 1024 * 1024
SERVICE_CAPABILITIES = (
    Capability.LONG_PASSWORD
    | Capability.LONG_FLAG
    | Capability.PROTOCOL_41
    | Capability.TRANSACTIONS
    | Capability.SECURE_CONNECTION
    | Capability.MULTI_RESULTS
    | Capability.PLUGIN_AUTH
)


_CAPS_CACHE: dict[int, Capability] = {}
NO_CAPABILITIES = Capability(0)
_LONG_PASSWORD = int(Capability.LONG_PASSWORD)
_NOT_FORWARDED = int(Capability.SSL | Capability.COMPRESS)
_FROM_SERVER = int(Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH)
_CONNECT_WITH_DB = int(Capability.CONNECT_WITH_DB)
_CONNECT_ATTRS = int(Capability.CONNECT_ATTRS)
_SSL = int(Capability.SSL)


def as_capabilities(value: int) -> Capability:
    """``Capability(value)``, made once per distinct value (flag arithmetic on enums is slow
    and logins do a lot of it: the proxy computes with ints and converts at the edges)."""
    caps = _CAPS_CACHE.get(value)
    if caps is None:
        caps = _CAPS_CACHE[value] = Capability(value)
    return caps


def login_capabilities(client: int, server: int, database: bool, attributes: bool) -> int:
    """What the proxy asks a backend for on behalf of a client that negotiated ``client``."""
    caps = client & (server | _LONG_PASSWORD)
    caps &= ~_NOT_FORWARDED
    caps |= server & _FROM_SERVER
    if database:
        caps |= _CONNECT_WITH_DB
    else:
        caps &= ~_CONNECT_WITH_DB
    if not attributes:
        caps &= ~_CONNECT_ATTRS
    if server & _LONG_PASSWORD:  # a MySQL server: no MariaDB extended caps
        caps &= 0xFFFFFFFF
    return caps


class BackendSink(Protocol):
    """What a session provides to a backend connection in relay mode."""

    def backend_data(self, backend: BackendConnection, data: bytes) -> None: ...

    def backend_lost(self, backend: BackendConnection, exc: Exception | None) -> None: ...


class BackendRefused(errors.BackendError):
    """The server answered the login (or a proxy-driven command) with an ERR packet."""

    def __init__(self, err: ErrPacket) -> None:
        super().__init__(err.code, err.sqlstate, err.message)
        self.err = err


@dataclass(frozen=True, slots=True)
class Login:
    """Who to log in as, and with which client-side parameters."""

    user: str
    capabilities: Capability
    charset: int = 45
    database: str | None = None
    sha1_password: bytes | None = None  # SHA1(pw); b"" = empty password
    password: bytes | None = None  # plaintext (service user only)
    max_packet_size: int = _LOGIN_MAX_PACKET
    attributes: tuple[tuple[str, str], ...] = field(default=())

    def token(self, nonce: bytes) -> bytes:
        if self.password is not None:
            return scramble_native_password(self.password, nonce)
        if not self.sha1_password:
            return b""
        return token_from_sha1(self.sha1_password, nonce)


class BackendConnection(asyncio.Protocol):
    __slots__ = (
        "_packets",
        "_waiter",
        "capabilities",
        "closed",
        "congestion",
        "gate",
        "handshake",
        "login_ok",
        "lost",
        "nonce",
        "server",
        "sink",
        "tracker",
        "transport",
    )

    def __init__(self, server: ServerConfig) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.sink: BackendSink | None = None
        self.gate = flow.ReadGate()
        self.congestion = flow.Congestion()
        self.handshake: HandshakeV10 | None = None
        self.nonce = b""  # the nonce the server uses for this connection (for COM_CHANGE_USER)
        self.capabilities = NO_CAPABILITIES
        self.login_ok = b""  # payload of the OK that ended the login
        self.tracker = ResponseTracker(NO_CAPABILITIES)  # replaced by the session (relay mode)
        self._packets = PacketBuffer(max_payload=1 << 30)
        self._waiter: asyncio.Future[None] | None = None
        self.lost: Exception | None = None
        self.closed = False

    # -- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.gate.attach(self.transport)
        flow.set_limits(transport)

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is not None:
            sink.backend_data(self, data)
            return
        self._packets.feed(data)
        self._wake()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc or ConnectionResetError("connection closed by the server")
        self._wake()
        sink = self.sink
        if sink is not None:
            self.sink = None
            sink.backend_lost(self, exc)

    def pause_writing(self) -> None:
        self.congestion.pause_writing()

    def resume_writing(self) -> None:
        self.congestion.resume_writing()

    # -- packet mode -------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read_packet(self) -> Packet:
        while True:
            packet = self._packets.next_packet()
            if packet is not None:
                return packet
            if self.lost is not None:
                raise self.lost
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            transport.write(data)

    def send_packet(self, payload: bytes, seq: int) -> None:
        self.write(encode_packet(payload, seq))

    def close(self) -> None:
        self.sink = None
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        self.sink = None
        if self.transport is not None and not self.closed:
            self.transport.abort()

    @property
    def thread_id(self) -> int:
        return self.handshake.connection_id if self.handshake else 0

    @property
    def label(self) -> str:
        return f"'{self.server.name}' ({self.server.address}:{self.server.port})"

    # -- proxy-driven exchanges --------------------------------------------------------------

    async def finish_auth(self, login: Login, seq: int) -> Packet:
        """Read the server's answer to a login / COM_CHANGE_USER, answering auth switches.

        Returns the final OK packet; raises :class:`BackendRefused` on ERR."""
        while True:
            packet = await self.read_packet()
            payload = packet.payload
            if not payload:
                raise MalformedBackendPacket("empty packet during authentication")
            first = payload[0]
            if first == 0x00:
                return packet
            if first == 0xFF:
                raise BackendRefused(parse_err(payload))
            if is_auth_switch(payload):
                self.nonce = switched_nonce(self.server, payload)
                self.send_packet(login.token(self.nonce), packet.seq + 1)
                continue
            raise MalformedBackendPacket(f"unexpected packet 0x{first:02x} during authentication")

    async def query(self, sql: str) -> list[tuple[bytes | None, ...]]:
        """Run one statement in packet mode and return its text rows (proxy's own use)."""
        self.send_packet(bytes((Command.QUERY,)) + sql.encode(), 0)
        first = await self.read_packet()
        return await read_text_rows(self, first.payload)


def switched_nonce(server: ServerConfig, payload: bytes) -> bytes:
    """The new nonce of a server's auth switch request; only mysql_native_password is spoken."""
    switch = parse_auth_switch(payload)
    if switch.plugin != NATIVE_PASSWORD:
        raise errors.BackendError(
            1251,
            "08004",
            f"Server '{server.name}' asked for authentication plugin"
            f" '{switch.plugin}'; Interlock logs in with mysql_native_password only",
        )
    return switch.data[:20]


class MalformedBackendPacket(errors.BackendError):
    def __init__(self, detail: str) -> None:
        super().__init__(2027, "HY000", f"Malformed packet from backend: {detail}")


async def read_text_rows(
    conn: BackendConnection, first: bytes
) -> list[tuple[bytes | None, ...]]:
    """Read a text result set (without DEPRECATE_EOF) whose first packet was ``first``."""
    from interlock.wire.codec import Reader

    if first[:1] == b"\xff":
        raise BackendRefused(parse_err(first))
    if first[:1] == b"\x00":
        return []
    columns = Reader(first).read_lenenc_int()
    for _ in range(columns):
        await conn.read_packet()
    eof = await conn.read_packet()
    if eof.payload[:1] != b"\xfe":
        raise MalformedBackendPacket("expected EOF after column definitions")
    rows: list[tuple[bytes | None, ...]] = []
    while True:
        payload = (await conn.read_packet()).payload
        if payload[:1] == b"\xfe" and len(payload) < 9:
            return rows
        if payload[:1] == b"\xff":
            raise BackendRefused(parse_err(payload))
        reader = Reader(payload)
        row: list[bytes | None] = []
        for _ in range(columns):
            if reader.peek() == 0xFB:
                reader.skip(1)
                row.append(None)
            else:
                row.append(reader.read_lenenc_bytes())
        rows.append(tuple(row))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Deadlines:
    """Coarse timeouts for many short waits (logins): one loop timer that ticks every
    :data:`TICK` seconds while something is pending, instead of a timer per wait.

    uvloop's ``call_later`` + ``cancel`` costs several microseconds (a libuv timer handle made,
    started, stopped and closed); a login that succeeds only needs a dict insert and pop here.
    A deadline fires at most ``TICK`` late."""

    TICK = 0.1

    __slots__ = ("_handle", "_pending", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: dict[object, tuple[float, Callable[[], None]]] = {}
        self._handle: asyncio.TimerHandle | None = None

    def add(self, key: object, delay: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``delay`` seconds have passed, unless ``key`` is removed."""
        self._pending[key] = (self.loop.time() + delay, callback)
        if self._handle is None:
            self._handle = self.loop.call_later(self.TICK, self._tick)

    def remove(self, key: object) -> None:
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)

    def _tick(self) -> None:
        self._handle = None
        now = self.loop.time()
        pending = self._pending
        expired = [key for key, (deadline, _) in pending.items() if deadline <= now]
        for key in expired:
            entry = pending.pop(key, None)
            if entry is not None:
                try:
                    entry[1]()
                except Exception:  # one wait's failure must not stop the others' timeouts
                    log.exception("timeout callback failed")
        if pending and self._handle is None:
            self._handle = self.loop.call_later(self.TICK, self._tick)


_AWAIT_HANDSHAKE, _AWAIT_TLS, _AWAIT_AUTH = range(3)  # BackendLogin states
LoginDone = Callable[["BackendConnection | None", "BaseException | None"], None]


class BackendLogin:
    """Connects to a server and logs in, driven by callbacks instead of a coroutine per step.

    One task makes the TCP connection (``loop.create_connection`` is a coroutine); from then on
    the new :class:`BackendConnection`'s bytes come here through its ``sink`` (this object is a
    :class:`BackendSink` until the login ends) and each packet advances the login: handshake ->
    (SSL request, TLS) -> HandshakeResponse41 -> auth switches -> OK or ERR.  One timer bounds
    the whole attempt.  ``on_done(conn, None)`` gets the logged-in connection in packet mode
    (``sink`` cleared); ``on_done(None, exc)`` gets :class:`BackendRefused` when the server
    refused the login, another :class:`errors.BackendError` (2003 and friends) when it could not
    be reached or talked to, or an unexpected exception.  :meth:`cancel` drops the attempt
    without calling ``on_done``.
    """

    __slots__ = ("conn", "deadlines", "finished", "login", "loop", "on_done", "packets", "seq",
                 "server", "state", "task", "timeout", "timer", "tls")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        server: ServerConfig,
        login: Login,
        timeout: float,
        tls: ssl.SSLContext | None,
        on_done: LoginDone,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.loop = loop
        self.deadlines = deadlines
        self.server = server
        self.login = login
        self.timeout = timeout
        self.tls = tls
        self.on_done = on_done
        self.conn: BackendConnection | None = None
        self.packets = PacketBuffer(max_payload=1 << 30)
        self.seq = 0
        self.state = _AWAIT_HANDSHAKE
        self.finished = False
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Future[Any] | None = None

    def start(self) -> None:
        loop = self.loop
        if self.deadlines is not None:
            self.deadlines.add(self, self.timeout, self._timed_out)
        else:
            self.timer = loop.call_later(self.timeout, self._timed_out)
        task = loop.create_task(
            loop.create_connection(self._protocol, self.server.address, self.server.port)
        )
        task.add_done_callback(self._connected)
        self.task = task

    def cancel(self) -> None:
        """Give up (the caller went away): close whatever was opened, no callback."""
        if not self.finished:
            self.finished = True
            self._release()
            if self.conn is not None:
                self.conn.abort()

    # -- the steps ---------------------------------------------------------------------------

    def _protocol(self) -> BackendConnection:
        conn = BackendConnection(self.server)
        conn.sink = self
        self.conn = conn
        return conn

    def _connected(self, task: asyncio.Future[Any]) -> None:
        if self.task is task:
            self.task = None
        if self.finished or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._fail(exc)

    def backend_data(self, backend: BackendConnection, data: bytes) -> None:
        if self.finished:
            return
        self.packets.feed(data)
        try:
            self._drain()
        except Exception as exc:
            self._fail(exc)

    def _drain(self) -> None:
        while not self.finished and self.state != _AWAIT_TLS:
            packet = self.packets.next_packet()
            if packet is None:
                return
            if self.state == _AWAIT_HANDSHAKE:
                self._handshake(packet)
            else:
                self._auth(packet)

    def backend_lost(self, backend: BackendConnection, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(TimeoutError())

    def _handshake(self, first: Packet) -> None:
        conn = self.conn
        assert conn is not None
        if first.payload[:1] == b"\xff":
            raise BackendRefused(parse_err(first.payload))
        handshake = parse_handshake_v10(first.payload)
        conn.handshake = handshake
        conn.nonce = handshake.nonce[:20]
        login = self.login
        server_caps = int(handshake.capabilities)
        caps = login_capabilities(
            int(login.capabilities), server_caps, bool(login.database), bool(login.attributes)
        )
        self.seq = first.seq + 1
        if self.tls is not None:
            if not server_caps & _SSL:
                raise errors.cant_connect(
                    self.server.name, self.server.address, self.server.port,
                    "TLS is configured but the server does not support it",
                )
            caps |= _SSL
            conn.capabilities = as_capabilities(caps)
            conn.send_packet(build_ssl_request(conn.capabilities, login.max_packet_size,
                                               login.charset), self.seq)
            self.seq += 1
            assert conn.transport is not None
            task = self.loop.create_task(
                self.loop.start_tls(conn.transport, conn, self.tls, server_side=False)
            )
            task.add_done_callback(self._tls_done)
            self.task = task
            self.state = _AWAIT_TLS
            return
        conn.capabilities = as_capabilities(caps)
        self._send_response()

    def _tls_done(self, task: asyncio.Future[Any]) -> None:
        if self.task is task:
            self.task = None
        if self.finished or task.cancelled():
            return
        try:
            exc = task.exception()
            if exc is not None:
                raise exc
            transport = task.result()
            if transport is None:
                raise errors.cant_connect(self.server.name, self.server.address,
                                          self.server.port, "TLS handshake failed")
            conn = self.conn
            assert conn is not None
            conn.transport = transport
            conn.gate.attach(transport)
            flow.set_limits(transport)
            self._send_response()
            self._drain()
        except Exception as exc:
            self._fail(exc)

    def _send_response(self) -> None:
        conn = self.conn
        assert conn is not None and conn.handshake is not None
        login = self.login
        response = HandshakeResponse41(
            capabilities=conn.capabilities,
            max_packet_size=login.max_packet_size,
            charset=login.charset,
            username=login.user,
            auth_response=login.token(conn.nonce),
            database=login.database,
            auth_plugin=NATIVE_PASSWORD,
            attributes=login.attributes,
        )
        conn.send_packet(build_handshake_response41(response, conn.handshake.capabilities),
                         self.seq)
        self.state = _AWAIT_AUTH

    def _auth(self, packet: Packet) -> None:
        """The server's answer to the login: OK, ERR or an auth switch."""
        conn = self.conn
        assert conn is not None
        payload = packet.payload
        if not payload:
            raise MalformedBackendPacket("empty packet during authentication")
        first = payload[0]
        if first == 0x00:
            conn.login_ok = payload
            self._succeed(conn)
            return
        if first == 0xFF:
            raise BackendRefused(parse_err(payload))
        if first == 0xFE:  # auth switch
            conn.nonce = switched_nonce(self.server, payload)
            conn.send_packet(self.login.token(conn.nonce), packet.seq + 1)
            return
        raise MalformedBackendPacket(f"unexpected packet 0x{first:02x} during authentication")

    # -- the end -----------------------------------------------------------------------------

    def _release(self) -> None:
        if self.deadlines is not None:
            self.deadlines.remove(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def _succeed(self, conn: BackendConnection) -> None:
        self.finished = True
        self._release()
        conn.sink = None
        for packet in self.packets.packets():  # nothing, normally: hand it to packet mode
            conn.data_received(encode_packet(packet.payload, packet.seq))
        self._report(conn, None)

    def _fail(self, exc: BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        self._release()
        if self.conn is not None:
            self.conn.abort()
        if not isinstance(exc, errors.BackendError) and isinstance(
            exc, (OSError, TimeoutError, ProtocolError, ssl.SSLError)
        ):
            reason = (f"timed out after {self.timeout:g}s" if isinstance(exc, TimeoutError)
                      else _reason(exc))
            server = self.server
            error = errors.cant_connect(server.name, server.address, server.port, reason)
            error.__cause__ = exc
            exc = error
        self._report(None, exc)

    def _report(self, conn: BackendConnection | None, exc: BaseException | None) -> None:
        try:
            self.on_done(conn, exc)
        except Exception:  # the caller's failure must not break the connection's callbacks
            log.exception("Login to server '%s': failure in the completion callback",
                          self.server.name)


async def connect(
    server: ServerConfig,
    login: Login,
    timeout: float,
    tls: ssl.SSLContext | None,
) -> BackendConnection:
    """Connect to ``server`` and log in, all within ``timeout`` seconds.

    Raises :class:`BackendRefused` when the server refuses the login (its ERR is to be relayed
    as is) and :class:`errors.BackendError` (2003) when it cannot be reached or talked to.
    (The awaitable form of :class:`BackendLogin`.)"""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[BackendConnection] = loop.create_future()

    def finished(conn: BackendConnection | None, exc: BaseException | None) -> None:
        if done.done():
            if conn is not None:
                conn.abort()
        elif exc is not None:
            done.set_exception(exc)
        else:
            assert conn is not None
            done.set_result(conn)

    attempt = BackendLogin(loop, server, login, timeout, tls, finished)
    attempt.start()
    try:
        return await done
    except asyncio.CancelledError:
        attempt.cancel()
        if done.done() and not done.cancelled() and done.exception() is None:
            done.result().abort()
        raise


async def probe_version(server: ServerConfig, timeout: float) -> str:
    """The version string from ``server``'s handshake (no login)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        transport, conn = await loop.create_connection(
            lambda: BackendConnection(server), server.address, server.port
        )
        try:
            first = await conn.read_packet()
        finally:
            transport.abort()
    if first.payload[:1] == b"\xff":
        raise BackendRefused(parse_err(first.payload))
    return parse_handshake_v10(first.payload).server_version


async def close_quietly(conn: BackendConnection) -> None:
    """Send COM_QUIT and close (for the proxy's own short-lived connections)."""
    with contextlib.suppress(Exception):
        conn.send_packet(bytes((Command.QUIT,)), 0)
    conn.close()
