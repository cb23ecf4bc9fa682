"""The client-facing connection: handshake, TLS upgrade, authentication, then the session.

Until the login completes, bytes go into a :class:`PacketBuffer` and the ``_login`` coroutine
awaits whole packets.  Afterwards every chunk goes straight to :meth:`Session.client_data`.

Login, as MaxScale does it: the proxy sends its own handshake (the primary's version string and
capabilities, a nonce of its own, a proxy connection id), upgrades to TLS on an SSL request,
switches clients that ask for another plugin to mysql_native_password, verifies the scramble
against the account loaded from the primary (reloading the accounts once, rate-limited, when
the user is unknown or the password wrong), and then logs in to the primary as the same user
with the recovered SHA1(password).  The primary's OK (or ERR) goes back to the client.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast

from interlock.config.model import ListenerConfig
from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.server import authn, backend, errors, flow
from interlock.server.accounts import normalize_ip
from interlock.server.registry import SessionRegistry
from interlock.server.service import ServiceRuntime
from interlock.server.session import Session
from interlock.server.tls import TlsSetupError, upgrade_server_side
from interlock.wire.auth import NATIVE_PASSWORD, new_nonce
from interlock.wire.constants import Capability
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet, PacketBuffer, encode_packet
from interlock.wire.handshake import (
    AuthSwitchRequest,
    HandshakeResponse41,
    HandshakeV10,
    build_auth_switch,
    build_handshake_v10,
    is_ssl_request,
    parse_handshake_response41,
)
from interlock.wire.packets import build_err_from

log = get_logger(__name__)

HANDSHAKE_TIMEOUT = 10.0  # like the server's connect_timeout
_PLUGIN_AUTH = int(Capability.PLUGIN_AUTH)
_SSL = int(Capability.SSL)
# what a backend must offer when the client negotiated it (not CONNECT_WITH_DB, CONNECT_ATTRS)
_MUST_MATCH = ~int(Capability.CONNECT_WITH_DB | Capability.CONNECT_ATTRS)
HANDSHAKE_MAX = 64 * 1024  # no login packet is bigger


@dataclass(slots=True)
class ListenerContext:
    listener: ListenerConfig
    service: ServiceRuntime
    registry: SessionRegistry[ClientConnection]
    tls: ssl.SSLContext | None


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "_packets",
        "_raw",
        "_seq",
        "_task",
        "_waiter",
        "address",
        "capabilities",
        "closed",
        "congestion",
        "ctx",
        "gate",
        "nonce",
        "registry",
        "session",
        "session_id",
        "transport",
        "user",
    )

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx
        self.registry = ctx.registry
        self.transport: asyncio.Transport | None = None
        self.gate = flow.ReadGate()
        self.congestion = flow.Congestion()
        self.session: Session | None = None
        self.session_id = 0
        self.address = "?"
        self.user = ""
        self.nonce = new_nonce()
        self.capabilities = backend.NO_CAPABILITIES
        self.closed = False
        self._packets = PacketBuffer(max_payload=HANDSHAKE_MAX)
        self._raw: bytearray | None = bytearray()  # bytes before a TLS upgrade
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = 0

    # -- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.gate.attach(self.transport)
        flow.set_limits(transport)
        peer = transport.get_extra_info("peername")
        self.address = normalize_ip(peer[0]) if isinstance(peer, tuple) else "localhost"
        self.session_id = self.registry.allocate(self)
        self._task = asyncio.ensure_future(self._run_login())

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.client_data(data)
            return
        if self._raw is not None:
            self._raw += data
        try:
            self._packets.feed(data)
        finally:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.registry.release(self.session_id)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.session is not None:
            self.session.client_lost()
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    def pause_writing(self) -> None:
        self.congestion.pause_writing()

    def resume_writing(self) -> None:
        self.congestion.resume_writing()

    # -- helpers -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if not self.closed and transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def backend_thread_id(self) -> int:
        return self.session.backend_thread_id() if self.session is not None else 0

    async def _read(self) -> Packet:
        while True:
            packet = self._packets.next_packet()
            if packet is not None:
                self._seq = packet.seq
                return packet
            if self.closed:
                raise ConnectionResetError("client went away")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def verify(
        self, user: str, response: bytes, nonce: bytes | None = None
    ) -> authn.Verdict:
        """Check ``user``'s scramble of ``nonce`` (default: this connection's handshake nonce);
        reload accounts once if that could change the answer."""
        service = self.ctx.service
        accounts = service.accounts
        scrambled = self.nonce if nonce is None else nonce

        def check() -> authn.Verdict:
            return authn.verify(
                accounts.table, user, self.address, response, scrambled,
                service=service.name, enable_root_user=service.config.enable_root_user,
            )

        verdict = check()
        if verdict.error is not None and verdict.retry:
            if await accounts.reload():
                verdict = check()
            elif not accounts.loaded and accounts.connect_error is not None:
                # nothing to check against: the primary is unreachable, say so
                return authn.Verdict(error=accounts.connect_error)
        return verdict

    # -- login -------------------------------------------------------------------------------

    async def _run_login(self) -> None:
        try:
            await self._login()
        except ClientError as exc:
            self._refuse(exc)
        except ProtocolError as exc:
            log.warning(
                "Session %d: bad handshake from %s: %s", self.session_id, self.address, exc
            )
            self._refuse(errors.bad_handshake())
        except TimeoutError:
            log.warning(
                "Session %d: client %s did not complete the handshake in %gs",
                self.session_id, self.address, HANDSHAKE_TIMEOUT,
            )
            self._refuse(errors.bad_handshake())
        except (ConnectionError, ssl.SSLError, TlsSetupError) as exc:
            log.info("Session %d: client %s went away during login: %s",
                     self.session_id, self.address, exc)
            self.close()
        except asyncio.CancelledError:
            self.close()
        except Exception:  # one session's failure must never reach the listener
            log.exception("Session %d: unexpected failure during login", self.session_id)
            self._refuse(errors.proxy_failure("internal error during login"))

    def _refuse(self, error: ClientError) -> None:
        self.write(errors.err_packet(error, self._seq + 1))
        self.close()

    async def _login(self) -> None:
        ctx = self.ctx
        service = ctx.service
        advertised = service.capabilities(ctx.tls is not None)
        handshake = HandshakeV10(
            server_version=service.version_string(),
            connection_id=self.session_id,
            nonce=self.nonce,
            capabilities=advertised,
            charset=service.charset(),
            status=service.status(),
            auth_plugin=NATIVE_PASSWORD,
        )
        self.write(encode_packet(build_handshake_v10(handshake), 0))
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            packet = await self._read()
            if is_ssl_request(packet.payload):
                packet = await self._upgrade(packet)
            self._raw = None
            response = parse_handshake_response41(packet.payload, advertised)
            self.capabilities = backend.as_capabilities(
                int(response.capabilities) & int(advertised)
            )
            self.user = response.username
            auth = await self._client_auth(response)
        verdict = await self.verify(response.username, auth)
        if verdict.error is not None:
            log.warning(
                "Session %d: authentication failed for '%s'@'%s': %s",
                self.session_id, response.username, self.address, verdict.error.message,
            )
            raise verdict.error
        await self._connect_backend(response, verdict.sha1_password or b"")

    async def _upgrade(self, packet: Packet) -> Packet:
        tls = self.ctx.tls
        if tls is None or self.transport is None:
            raise errors.bad_handshake()
        # no more data_received on this protocol: later bytes must reach the TLS layer
        self.transport.pause_reading()
        raw = self._raw or bytearray()
        leftover = bytes(raw[4 + len(packet.payload):])
        self._raw = None
        self._packets = PacketBuffer(max_payload=HANDSHAKE_MAX)
        loop = asyncio.get_running_loop()
        transport = await upgrade_server_side(
            loop, self.transport, self, tls, leftover, HANDSHAKE_TIMEOUT
        )
        self.transport = cast(asyncio.Transport, transport)
        self.gate.attach(self.transport)
        flow.set_limits(transport)
        return await self._read()

    async def _client_auth(self, response: HandshakeResponse41) -> bytes:
        """The client's mysql_native_password response, switching it over if needed."""
        plugin = response.auth_plugin if int(self.capabilities) & _PLUGIN_AUTH else None
        if not plugin or plugin == NATIVE_PASSWORD:
            return response.auth_response
        switch = AuthSwitchRequest(NATIVE_PASSWORD, self.nonce + b"\0")
        self.write(encode_packet(build_auth_switch(switch), self._seq + 1))
        return (await self._read()).payload

    async def _connect_backend(self, response: HandshakeResponse41, sha1: bytes) -> None:
        service = self.ctx.service
        server = service.login_server()
        if server is None:
            raise errors.no_server(service.name)
        login = backend.Login(
            user=response.username,
            capabilities=self.capabilities,
            charset=response.charset,
            database=response.database or None,
            sha1_password=sha1,
            max_packet_size=response.max_packet_size or (1 << 24),
            attributes=response.attributes,
        )
        timeout = service.config.connect_timeout
        try:
            conn = await backend.connect(server, login, timeout, service.tls_for(server))
        except backend.BackendRefused as exc:
            log.warning(
                "Session %d: server '%s' refused '%s'@'%s': %s",
                self.session_id, server.name, response.username, self.address, exc.message,
            )
            self.write(encode_packet(build_err_from(exc.err), self._seq + 1))
            self.close()
            return
        except errors.BackendError as exc:
            log.error("Session %d: %s", self.session_id, exc.message)
            raise
        if self.closed:
            conn.close()
            return
        self._check_capabilities(conn)
        self.session = service.new_session(self, conn, login)
        self.write(encode_packet(conn.login_ok, self._seq + 1))
        log.info(
            "Session %d: '%s'@'%s' connected to server '%s' (thread %d)",
            self.session_id, response.username, self.address, server.name, conn.thread_id,
        )

    def _check_capabilities(self, conn: backend.BackendConnection) -> None:
        missing = int(self.capabilities) & ~_SSL & ~int(conn.capabilities)
        if missing & _MUST_MATCH:
            log.warning(
                "Session %d: server '%s' lacks capabilities the client negotiated: %s",
                self.session_id, conn.server.name, Capability(missing),
            )
