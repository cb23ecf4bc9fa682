"""A service at run time: its servers, its primary, its accounts, what it advertises.

Roles come from the service's :class:`TopologySource`: the monitor's when a monitor watches the
servers, else static roles from the config (first server primary).  ``login_server()`` is where
a new client session logs in; ``new_session()`` builds the router's session object.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from interlock import __version__
from interlock.config.model import GlobalConfig, ServerConfig, ServiceConfig
from interlock.server import tls
from interlock.server.account_loader import ServiceAccounts
from interlock.server.topology_source import TopologySource, static_topology
from interlock.wire.constants import SUPPORTED_CAPABILITIES, Capability, ServerStatus
from interlock.wire.handshake import HandshakeV10

if TYPE_CHECKING:
    from interlock.server.backend import BackendConnection, Login
    from interlock.server.client import ClientConnection
    from interlock.server.session import Session

FALLBACK_VERSION = f"5.5.5-10.11.0-Interlock-{__version__}"
DEFAULT_CHARSET = 45  # utf8mb4_general_ci


class ServiceRuntime:
    def __init__(
        self,
        config: ServiceConfig,
        servers: dict[str, ServerConfig],
        global_: GlobalConfig,
        topology: TopologySource | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.servers = [servers[name] for name in config.servers if name in servers]
        self._by_name = {server.name: server for server in self.servers}
        self.topology = topology or TopologySource(
            config.name, static_topology(server.name for server in self.servers)
        )
        # accounts come from the first server (the primary of the static roles); the monitor
        # issue makes this follow the current primary
        self.primary: ServerConfig | None = self.servers[0] if self.servers else None
        self._tls: dict[str, ssl.SSLContext | None] = {}
        # capabilities() per listener TLS setting, for the handshake it was computed from
        self._advertised: dict[bool, tuple[HandshakeV10 | None, Capability]] = {}
        self.accounts = ServiceAccounts(config, self.primary, global_.users_refresh_time,
                                        self.tls_for)

    def login_server(self) -> ServerConfig | None:
        """The server a new client session logs in to: the current primary."""
        primary = self.topology.current.primary
        if primary is not None and primary.name in self._by_name:
            return self._by_name[primary.name]
        return None

    def new_session(
        self, client: ClientConnection, conn: BackendConnection, login: Login
    ) -> Session:
        """The session object of this service's router, joined to its first backend ``conn``."""
        from interlock.server.session import Session

        return Session(client, conn, login)

    def tls_for(self, server: ServerConfig) -> ssl.SSLContext | None:
        """The client-side TLS context for ``server`` (None when its TLS is off)."""
        if server.name not in self._tls:
            self._tls[server.name] = tls.client_context(server.tls) if server.tls.enabled else None
        return self._tls[server.name]

    def capabilities(self, listener_tls: bool) -> Capability:
        """What the proxy advertises: supported ∩ the primary's, SSL only with listener TLS."""
        handshake = self.accounts.handshake
        cached = self._advertised.get(listener_tls)
        if cached is not None and cached[0] is handshake:
            return cached[1]
        caps = self._compute_capabilities(handshake, listener_tls)
        self._advertised[listener_tls] = (handshake, caps)
        return caps

    @staticmethod
    def _compute_capabilities(handshake: HandshakeV10 | None, listener_tls: bool) -> Capability:
        caps = SUPPORTED_CAPABILITIES
        if handshake is not None:
            caps &= handshake.capabilities
        caps &= ~Capability.SSL
        if listener_tls:
            caps |= Capability.SSL
        return caps

    def version_string(self) -> str:
        if self.config.version_string:
            return self.config.version_string
        handshake = self.accounts.handshake
        return handshake.server_version if handshake is not None else FALLBACK_VERSION

    def charset(self) -> int:
        handshake = self.accounts.handshake
        return handshake.charset if handshake is not None and handshake.charset else DEFAULT_CHARSET

    def status(self) -> ServerStatus:
        return ServerStatus.AUTOCOMMIT
