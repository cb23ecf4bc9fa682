"""The client-facing connection: handshake, TLS upgrade, authentication, then the session.

Login, as MaxScale does it: the proxy sends its own handshake (the primary's version string and
capabilities, a nonce of its own, a proxy connection id), upgrades to TLS on an SSL request,
switches clients that ask for another plugin to mysql_native_password, verifies the scramble
against the account loaded from the primary (reloading the accounts once, rate-limited, when
the user is unknown or the password wrong), and then logs in to the primary as the same user
with the recovered SHA1(password).  The primary's OK (or ERR) goes back to the client.

The login is a state machine driven by ``data_received`` (no task, no future per step): the
greeting is rendered from a template made once per listener, one timer bounds the client's
part of the handshake (a coarse :class:`backend.Deadlines` entry, not a timer handle per
connection), and the backend login is a :class:`backend.BackendLogin` that calls
back when it is done.  Only the rare paths run as tasks: the TLS upgrade and the reload of the
accounts after an unknown user or a wrong password.  Once the session exists every chunk goes
straight to :meth:`Session.client_data`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
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
from interlock.wire.auth import NATIVE_PASSWORD, NONCE_SIZE, new_nonce
from interlock.wire.constants import Capability, ServerStatus
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet, PacketBuffer, encode_packet
from interlock.wire.handshake import (
    AuthSwitchRequest,
    HandshakeResponse41,
    HandshakeTemplate,
    HandshakeV10,
    build_auth_switch,
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

# login states
_AWAIT_RESPONSE = 0  # greeting sent, waiting for the HandshakeResponse41 (or an SSL request)
_AWAIT_TLS = 1  # TLS upgrade running
_AWAIT_SWITCH = 2  # auth switch sent, waiting for the client's answer
_CHECKING = 3  # reloading accounts before deciding
_CONNECTING = 4  # logging in to the backend
_RELAYING = 5  # the session runs


@dataclass(frozen=True, slots=True)
class Greeting:
    """The listener's greeting template and what it was made from."""

    key: tuple[Capability, str, int, ServerStatus]
    template: HandshakeTemplate
    capabilities: Capability


@dataclass(slots=True)
class ListenerContext:
    listener: ListenerConfig
    service: ServiceRuntime
    registry: SessionRegistry[ClientConnection]
    tls: ssl.SSLContext | None
    loop: asyncio.AbstractEventLoop | None = None  # the running loop, set by the first client
    greeting: Greeting | None = None
    deadlines: backend.Deadlines | None = None  # login timeouts (made with ``loop``)

    def current_greeting(self) -> Greeting:
        """The greeting template, rebuilt when what the service advertises changes."""
        service = self.service
        caps = service.capabilities(self.tls is not None)
        key = (caps, service.version_string(), service.charset(), service.status())
        greeting = self.greeting
        if greeting is None or greeting.key != key:
            handshake = HandshakeV10(
                server_version=key[1],
                connection_id=0,
                nonce=bytes(NONCE_SIZE),
                capabilities=caps,
                charset=key[2],
                status=key[3],
                auth_plugin=NATIVE_PASSWORD,
            )
            greeting = self.greeting = Greeting(key, HandshakeTemplate(handshake), caps)
        return greeting


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "_attempt",
        "_login",
        "_packets",
        "_raw",
        "_response",
        "_seq",
        "_state",
        "_task",
        "_timing",
        "address",
        "advertised",
        "capabilities",
        "closed",
        "congestion",
        "ctx",
        "gate",
        "loop",
        "nonce",
        "registry",
        "session",
        "session_id",
        "transport",
        "user",
    )

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx
        loop = ctx.loop
        if loop is None:
            loop = ctx.loop = asyncio.get_running_loop()
            ctx.deadlines = backend.Deadlines(loop)
        self.loop = loop
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
        self.advertised = backend.NO_CAPABILITIES
        self.closed = False
        self._packets: PacketBuffer | None = PacketBuffer(max_payload=HANDSHAKE_MAX)
        # bytes before a TLS upgrade (the ClientHello may follow the SSL request at once)
        self._raw: bytearray | None = bytearray() if ctx.tls is not None else None
        self._state = _AWAIT_RESPONSE
        self._timing = False  # the handshake deadline is set
        self._task: asyncio.Task[None] | None = None
        self._attempt: backend.BackendLogin | None = None
        self._response: HandshakeResponse41 | None = None
        self._login: backend.Login | None = None
        self._seq = 0

    # -- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.gate.attach(self.transport)
        flow.set_limits(transport)
        peer = transport.get_extra_info("peername")
        self.address = normalize_ip(peer[0]) if isinstance(peer, tuple) else "localhost"
        self.session_id = self.registry.allocate(self)
        try:
            greeting = self.ctx.current_greeting()
            self.advertised = greeting.capabilities
            self.write(greeting.template.render(self.session_id, self.nonce))
        except Exception as exc:
            self._login_failed(exc)
            return
        self._deadlines().add(self, HANDSHAKE_TIMEOUT, self._handshake_timed_out)
        self._timing = True

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.client_data(data)
            return
        packets = self._packets
        if packets is None:  # login over (refused): nothing more is read
            return
        if self._raw is not None:
            self._raw += data
        try:
            packets.feed(data)
            self._advance()
        except Exception as exc:
            self._login_failed(exc)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.registry.release(self.session_id)
        self._stop_timer()
        if self.session is not None:
            self.session.client_lost()
            return
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None
        if self._task is not None and not self._task.done():
            if self._state == _AWAIT_TLS and isinstance(exc, ssl.SSLError):
                self._log_tls_refused(exc)
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

    def _check(self, user: str, response: bytes, nonce: bytes) -> authn.Verdict:
        service = self.ctx.service
        return authn.verify(
            service.accounts.table, user, self.address, response, nonce,
            service=service.name, enable_root_user=service.config.enable_root_user,
        )

    async def verify(
        self, user: str, response: bytes, nonce: bytes | None = None
    ) -> authn.Verdict:
        """Check ``user``'s scramble of ``nonce`` (default: this connection's handshake nonce);
        reload accounts once if that could change the answer."""
        accounts = self.ctx.service.accounts
        scrambled = self.nonce if nonce is None else nonce
        verdict = self._check(user, response, scrambled)
        if verdict.error is not None and verdict.retry:
            if await accounts.reload():
                verdict = self._check(user, response, scrambled)
            elif not accounts.loaded and accounts.connect_error is not None:
                # nothing to check against: the primary is unreachable, say so
                return authn.Verdict(error=accounts.connect_error)
        return verdict

    # -- login: the client's part ------------------------------------------------------------

    def _advance(self) -> None:
        """Handle the complete packets received, as far as the current state allows."""
        while self._packets is not None and self._state in _READING:
            packet = self._packets.next_packet()
            if packet is None:
                return
            self._seq = packet.seq
            _READING[self._state](self, packet)

    def _on_response(self, packet: Packet) -> None:
        payload = packet.payload
        if is_ssl_request(payload):
            self._start_tls(packet)
            return
        without_tls = self._raw is not None  # a TLS listener, and no SSL request came
        self._raw = None
        if without_tls and self.ctx.listener.tls.verify_peer_certificate:
            log.warning("Session %d: client %s did not use TLS on listener '%s', which "
                        "requires a client certificate; refused", self.session_id,
                        self.address, self.ctx.listener.name)
            raise errors.tls_required(self.address)
        response = parse_handshake_response41(payload, self.advertised)
        self._response = response
        caps = int(response.capabilities) & int(self.advertised)
        self.capabilities = backend.as_capabilities(caps)
        self.user = response.username
        plugin = response.auth_plugin if caps & _PLUGIN_AUTH else None
        if not plugin or plugin == NATIVE_PASSWORD:
            self._authenticate(response.auth_response)
            return
        self._state = _AWAIT_SWITCH
        switch = AuthSwitchRequest(NATIVE_PASSWORD, self.nonce + b"\0")
        self.write(encode_packet(build_auth_switch(switch), self._seq + 1))

    def _on_switch_answer(self, packet: Packet) -> None:
        self._authenticate(packet.payload)

    def _start_tls(self, packet: Packet) -> None:
        tls = self.ctx.tls
        if tls is None or self.transport is None:
            raise errors.bad_handshake()
        # no more data_received on this protocol: later bytes must reach the TLS layer
        self.transport.pause_reading()
        raw = self._raw or bytearray()
        leftover = bytes(raw[4 + len(packet.payload):])
        self._raw = None
        self._packets = PacketBuffer(max_payload=HANDSHAKE_MAX)
        self._state = _AWAIT_TLS
        self._task = self.loop.create_task(self._upgrade(tls, leftover))

    async def _upgrade(self, tls: ssl.SSLContext, leftover: bytes) -> None:
        try:
            assert self.transport is not None
            transport = await upgrade_server_side(
                self.loop, self.transport, self, tls, leftover, HANDSHAKE_TIMEOUT
            )
            self._task = None
            self.transport = cast(asyncio.Transport, transport)
            self.gate.attach(self.transport)
            flow.set_limits(transport)
            self._state = _AWAIT_RESPONSE
            self._advance()
        except (Exception, asyncio.CancelledError) as exc:
            self._login_failed(exc)

    def _deadlines(self) -> backend.Deadlines:
        deadlines = self.ctx.deadlines
        if deadlines is None:
            deadlines = self.ctx.deadlines = backend.Deadlines(self.loop)
        return deadlines

    def _handshake_timed_out(self) -> None:
        self._timing = False
        if self.closed or self._state not in _HANDSHAKING:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the TLS upgrade
            self._task = None
        log.warning(
            "Session %d: client %s did not complete the handshake in %gs",
            self.session_id, self.address, HANDSHAKE_TIMEOUT,
        )
        self._refuse(errors.bad_handshake())

    def _stop_timer(self) -> None:
        if self._timing:
            self._timing = False
            self._deadlines().remove(self)

    # -- login: authentication ---------------------------------------------------------------

    def _authenticate(self, auth: bytes) -> None:
        self._stop_timer()  # the client's part of the handshake is complete
        response = self._response
        assert response is not None
        verdict = self._check(response.username, auth, self.nonce)
        if verdict.error is not None and verdict.retry:
            # the accounts may be stale: reload them (rate-limited) before deciding
            self._state = _CHECKING
            self._task = self.loop.create_task(self._verify_slowly(response.username, auth))
            return
        self._decide(verdict)

    async def _verify_slowly(self, user: str, auth: bytes) -> None:
        try:
            verdict = await self.verify(user, auth)
            self._task = None
            if not self.closed:
                self._decide(verdict)
        except (Exception, asyncio.CancelledError) as exc:
            self._login_failed(exc)

    def _decide(self, verdict: authn.Verdict) -> None:
        if verdict.error is not None:
            log.warning(
                "Session %d: authentication failed for '%s'@'%s': %s",
                self.session_id, self.user, self.address, verdict.error.message,
            )
            raise verdict.error
        self._connect_backend(verdict.sha1_password or b"")

    # -- login: the backend ------------------------------------------------------------------

    def _connect_backend(self, sha1: bytes) -> None:
        service = self.ctx.service
        server = service.login_server()
        if server is None:
            raise errors.no_server(service.name)
        response = self._response
        assert response is not None
        login = backend.Login(
            user=response.username,
            capabilities=self.capabilities,
            charset=response.charset,
            database=response.database or None,
            sha1_password=sha1,
            max_packet_size=response.max_packet_size or (1 << 24),
            attributes=response.attributes,
        )
        self._login = login
        self._state = _CONNECTING
        attempt = backend.BackendLogin(self.loop, server, login, service.config.connect_timeout,
                                       service.tls_for(server), self._backend_done,
                                       self._deadlines())
        self._attempt = attempt
        attempt.start()

    def _backend_done(
        self, conn: backend.BackendConnection | None, exc: BaseException | None
    ) -> None:
        self._attempt = None
        if exc is not None or conn is None:
            self._backend_failed(exc)
            return
        self.ctx.service.observations.backend_connected(conn.server.name, time.monotonic())
        if self.closed:
            conn.close()
            return
        login = self._login
        assert login is not None
        try:
            self._check_capabilities(conn)
            self.session = self.ctx.service.new_session(self, conn, login)
        except Exception as failure:
            conn.close()
            self._login_failed(failure)
            return
        self._state = _RELAYING
        self._packets = None
        self._response = None
        self.write(encode_packet(conn.login_ok, self._seq + 1))
        self.session.opened()
        if log.isEnabledFor(logging.INFO):
            log.info(
                "Session %d: '%s'@'%s' connected to server '%s' (thread %d)",
                self.session_id, self.user, self.address, conn.server.name, conn.thread_id,
            )

    def _backend_failed(self, exc: BaseException | None) -> None:
        if isinstance(exc, backend.BackendRefused):
            log.warning(
                "Session %d: server '%s' refused '%s'@'%s': %s",
                self.session_id, self._server_name(), self.user, self.address, exc.message,
            )
            self._stop_reading()
            self.write(encode_packet(build_err_from(exc.err), self._seq + 1))
            self.close()
        elif isinstance(exc, errors.BackendError):
            log.error("Session %d: %s", self.session_id, exc.message)
            self._refuse(exc)
        else:
            self._login_failed(exc or RuntimeError("backend login ended without a result"))

    def _server_name(self) -> str:
        server = self.ctx.service.login_server()
        return server.name if server is not None else "?"

    def _check_capabilities(self, conn: backend.BackendConnection) -> None:
        missing = int(self.capabilities) & ~_SSL & ~int(conn.capabilities)
        if missing & _MUST_MATCH:
            log.warning(
                "Session %d: server '%s' lacks capabilities the client negotiated: %s",
                self.session_id, conn.server.name, Capability(missing),
            )

    # -- login: failures ---------------------------------------------------------------------

    def _stop_reading(self) -> None:
        self._stop_timer()
        self._packets = None
        self._state = _RELAYING if self.session is not None else -1

    def _refuse(self, error: ClientError) -> None:
        self._stop_reading()
        self.write(errors.err_packet(error, self._seq + 1))
        self.close()

    def _login_failed(self, exc: BaseException) -> None:
        """End a login that raised: the client gets the error it can act on, if any."""
        for kinds, handler in _LOGIN_FAILURES:
            if isinstance(exc, kinds):
                handler(self, exc)
                return
        log.error("Session %d: unexpected failure during login", self.session_id,
                  exc_info=exc)
        self._refuse(errors.proxy_failure("internal error during login"))

    def _client_error(self, exc: BaseException) -> None:
        self._refuse(cast(ClientError, exc))

    def _protocol_error(self, exc: BaseException) -> None:
        log.warning("Session %d: bad handshake from %s: %s", self.session_id, self.address, exc)
        self._refuse(errors.bad_handshake())

    def _timeout(self, exc: BaseException) -> None:
        log.warning(
            "Session %d: client %s did not complete the handshake in %gs",
            self.session_id, self.address, HANDSHAKE_TIMEOUT,
        )
        self._refuse(errors.bad_handshake())

    def _log_tls_refused(self, exc: ssl.SSLError) -> None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = f"its certificate does not verify ({exc.verify_message})"
        elif exc.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            why = "it sent no client certificate"
        else:
            why = str(exc)
        log.warning("Session %d: TLS handshake with client %s refused: %s",
                    self.session_id, self.address, why)

    def _tls_failed(self, exc: BaseException) -> None:
        self._log_tls_refused(cast(ssl.SSLError, exc))
        self._stop_reading()
        self.close()

    def _gone(self, exc: BaseException) -> None:
        log.info("Session %d: client %s went away during login: %s",
                 self.session_id, self.address, exc)
        self._stop_reading()
        self.close()

    def _cancelled(self, exc: BaseException) -> None:
        self._stop_reading()
        self.close()


# what the packets received in a state are
_READING: dict[int, Callable[[ClientConnection, Packet], None]] = {
    _AWAIT_RESPONSE: ClientConnection._on_response,
    _AWAIT_SWITCH: ClientConnection._on_switch_answer,
}
_HANDSHAKING = frozenset((_AWAIT_RESPONSE, _AWAIT_TLS, _AWAIT_SWITCH))
# how a login that raised ends, in order (first match)
_LOGIN_FAILURES: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...],
          Callable[[ClientConnection, BaseException], None]], ...
] = (
    (ClientError, ClientConnection._client_error),
    (ProtocolError, ClientConnection._protocol_error),
    (TimeoutError, ClientConnection._timeout),
    (ssl.SSLError, ClientConnection._tls_failed),
    ((ConnectionError, TlsSetupError), ClientConnection._gone),
    (asyncio.CancelledError, ClientConnection._cancelled),
)
