"""A service at run time: its servers, its primary, its accounts, what it advertises.

Roles come from the service's :class:`TopologySource`: the monitor's when a monitor watches the
servers, else static roles from the config (first server primary).  ``login_server()`` is where
a new client session logs in; ``new_session()`` builds the router's session object:

- ``readwritesplit``: the client logs in to the primary; :class:`RWSplitSession` adds replica
  connections and routes per statement (``interlock.server.rwsplit``).
- ``readconnroute``: one server per session, chosen at login by ``router_options``
  (``master``, ``slave``, ``running``; fewest connections first), then the plain
  :class:`Session` relay with no statement parsing.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from interlock import __version__
from interlock.advisor.method2 import BackendSettings, ProxySettings
from interlock.advisor.observations import SessionObservations
from interlock.config.model import GlobalConfig, ServerConfig, ServiceConfig
from interlock.log import get_logger
from interlock.routing.balancer import within_lag
from interlock.routing.causal import CausalReads, GtidPosition
from interlock.routing.settings import (
    MasterFailureMode,
    RouterSettings,
    SelectionCriteria,
    UseSqlVariablesIn,
)
from interlock.routing.topology import ServerInfo
from interlock.server import tls
from interlock.server.account_loader import ServiceAccounts
from interlock.server.topology_source import TopologySource, static_topology
from interlock.wire.constants import SUPPORTED_CAPABILITIES, Capability, ServerStatus
from interlock.wire.handshake import HandshakeV10

if TYPE_CHECKING:
    from interlock.monitor.executor import WriteGate
    from interlock.server.backend import BackendConnection, Login
    from interlock.server.client import ClientConnection
    from interlock.server.session import Session

FALLBACK_VERSION = f"5.5.5-10.11.0-Interlock-{__version__}"
DEFAULT_CHARSET = 45  # utf8mb4_general_ci

log = get_logger(__name__)


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
            config.name, static_topology((server.name for server in self.servers),
                                         weights={s.name: s.weight for s in self.servers})
        )
        # accounts come from the first server (the primary of the static roles); the monitor
        # issue makes this follow the current primary
        self.primary: ServerConfig | None = self.servers[0] if self.servers else None
        self._tls: dict[str, ssl.SSLContext | None] = {}
        # capabilities() per listener TLS setting, for the handshake it was computed from
        self._advertised: dict[bool, tuple[HandshakeV10 | None, Capability]] = {}
        self.accounts = ServiceAccounts(config, lambda: self.login_server() or self.primary,
                                        global_.users_refresh_time, self.tls_for)
        self.router = config.router.lower()
        self.settings = router_settings(config)
        self.connroute_roles = connroute_roles(config)
        # statements routed per reason (readwritesplit) and per server (both routers: for
        # readconnroute every client command), for metrics, /v1/servers and tests
        self.route_reasons: Counter[str] = Counter()
        self.route_servers: Counter[str] = Counter()
        self._picks: Counter[str] = Counter()  # readconnroute choices
        # causal_reads=global: the latest GTIDs any session of the service wrote
        self.causal_position: GtidPosition | None = None
        # the monitor's switchover write hold (set by the proxy when a monitor covers the
        # service; None: static roles, nothing ever holds writes)
        self.write_gate: WriteGate | None = None
        # connection_keepalive / wait_timeout (service core parameters, seconds; 0: off)
        self.keepalive = config.connection_keepalive
        self.client_idle_limit = config.client_idle_timeout
        # each server's wait_timeout as a session of this service sees it (read once)
        self.backend_wait_timeouts: dict[str, float] = {}
        # sessions that survive: counters for metrics and tests
        self.reconnections = 0
        self.replays = 0
        self.replay_failures = 0
        # metrics: sessions opened, replica reads preceded by a causal_reads GTID wait
        self.total_sessions = 0
        self.causal_waits = 0
        # what the sessions of this service did (the advisor's Method 2, docs/advisor.md):
        # each session reports its login, commands, responses and close, and backend
        # connections opened and lost while idle
        self.observations = SessionObservations()

    def learned_wait_timeout(self, server: str, seconds: float) -> None:
        """The first session that read ``server``'s wait_timeout reports it (once): warn when
        the configured keepalive cannot protect connections whose state cannot be restored."""
        if server in self.backend_wait_timeouts:
            return
        self.backend_wait_timeouts[server] = seconds
        keepalive = self.keepalive
        if keepalive <= 0 or keepalive >= seconds:
            setting = "0 (off)" if keepalive <= 0 else f"{keepalive:g}s"
            log.warning("Service '%s': connection_keepalive=%s is not below server '%s''s"
                        " wait_timeout=%gs: it cannot keep idle connections alive; connections"
                        " holding a transaction, temporary tables or locks are pinged every %gs"
                        " instead, others may expire and are reopened when next used",
                        self.name, setting, server, seconds, protect_interval(seconds))

    def advisor_settings(
        self, variables: Mapping[str, Mapping[str, int]] | None = None
    ) -> tuple[list[BackendSettings], ProxySettings]:
        """Method 2's settings for this service (``advisor.proxy_report``): per server its
        ``wait_timeout`` and ``max_connections`` from ``variables`` (server name -> SHOW GLOBAL
        VARIABLES, lower-case names), else the ``wait_timeout`` the sessions read; the
        service's keepalive and client idle timeout."""
        given = variables or {}
        backends = []
        for server in self.servers:
            values = given.get(server.name, {})
            wait = values.get("wait_timeout")
            if wait is None and server.name in self.backend_wait_timeouts:
                wait = int(self.backend_wait_timeouts[server.name])
            backends.append(BackendSettings(server.name, wait, values.get("max_connections")))
        return backends, ProxySettings(self.keepalive, self.client_idle_limit)

    def login_server(self) -> ServerConfig | None:
        """The server a new client session logs in to: the current primary, or for
        ``readconnroute`` the server ``router_options`` picks."""
        topology = self.topology.current
        if self.router == "readconnroute":  # among this service's servers: the monitor's
            info = self._connroute_choice(  # topology may hold more
                tuple(s for s in topology.servers if s.name in self._by_name))
        else:
            info = topology.primary
        if info is not None and info.name in self._by_name:
            return self._by_name[info.name]
        return None

    def _connroute_choice(self, servers: tuple[ServerInfo, ...]) -> ServerInfo | None:
        roles, params = self.connroute_roles, self.config.routing
        lag = params.max_replication_lag
        usable = [s for s in servers if s.available and not s.draining and (
            (s.is_primary and "master" in roles)
            or (s.is_replica and "slave" in roles and within_lag(s, lag)))]
        if not usable and roles == {"slave"} and params.connroute_master_accept_reads:
            usable = [s for s in servers if s.is_primary]
        if not usable:
            return None
        # fewest connections, then the least often picked (a burst of logins spreads out before
        # their sessions exist), the primary last on a tie for "running"
        picks = self._picks
        chosen = min(usable, key=lambda s: (s.load.connections, picks[s.name], s.is_primary))
        picks[chosen.name] += 1
        return chosen

    def new_session(
        self, client: ClientConnection, conn: BackendConnection, login: Login
    ) -> Session:
        """The session object of this service's router, joined to its first backend ``conn``."""
        self.total_sessions += 1
        if self.router == "readwritesplit":
            from interlock.server.rwsplit import RWSplitSession

            return RWSplitSession(client, conn, login, self)
        from interlock.server.session import Session

        return Session(client, conn, login, self.topology.load(conn.server.name),
                       self.observations, routed=self.route_servers)

    def tls_for(self, server: ServerConfig) -> ssl.SSLContext | None:
        """The client-side TLS context for ``server`` (None when its TLS is off)."""
        if server.name not in self._tls:
            self._tls[server.name] = tls.client_context(server.tls) if server.tls.enabled else None
        return self._tls[server.name]

    def replace_tls(self, contexts: dict[str, ssl.SSLContext | None]) -> None:
        """Backend TLS contexts loaded again (``POST /v1/maxscale/tls/reload``): connections
        opened from now on use them."""
        self._tls = dict(contexts)

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

    def reconfigure(self, config: ServiceConfig, servers: Mapping[str, ServerConfig]) -> bool:
        """A runtime change (``Proxy.reconfigure``): new sessions use the new parameters and
        servers (new connections go to a server's new address); running sessions keep the
        settings they started with and their connections, as in MaxScale.  The router does not
        change (refused before).  True when the service user changed: reload the accounts."""
        old, before = self.config, self._by_name
        self.config = config
        self.servers = [servers[name] for name in config.servers if name in servers]
        self._by_name = {server.name: server for server in self.servers}
        self.primary = self.servers[0] if self.servers else None
        changed = {n for n in {*before, *self._by_name} if before.get(n) != self._by_name.get(n)}
        self._tls = {n: ctx for n, ctx in self._tls.items() if n not in changed}
        for name in changed & set(self.backend_wait_timeouts):
            del self.backend_wait_timeouts[name]
        self.settings = router_settings(config)
        self.connroute_roles = connroute_roles(config)
        self.keepalive = config.connection_keepalive
        self.client_idle_limit = config.client_idle_timeout
        self.accounts.service = config
        return (old.user, old.password) != (config.user, config.password)


def router_settings(config: ServiceConfig) -> RouterSettings:
    """The service's ``readwritesplit`` parameters as the routing functions read them."""
    params = config.routing
    return RouterSettings(
        causal_reads=CausalReads.parse(params.causal_reads),
        causal_reads_timeout=params.causal_reads_timeout,
        lazy_connect=params.lazy_connect,
        master_accept_reads=params.master_accept_reads,
        max_replication_lag=params.max_replication_lag,
        max_slave_connections=max_replicas(params.max_slave_connections, len(config.servers)),
        slave_selection_criteria=SelectionCriteria.parse(params.slave_selection_criteria),
        strict_multi_stmt=params.strict_multi_stmt,
        strict_sp_calls=params.strict_sp_calls,
        use_sql_variables_in=UseSqlVariablesIn.parse(params.use_sql_variables_in),
        max_sescmd_history=params.max_sescmd_history,
        prune_sescmd_history=params.prune_sescmd_history,
        disable_sescmd_history=params.disable_sescmd_history,
        master_reconnection=params.master_reconnection,
        master_failure_mode=MasterFailureMode.parse(params.master_failure_mode),
        delayed_retry=params.delayed_retry,
        delayed_retry_timeout=params.delayed_retry_timeout,
        retry_failed_reads=params.retry_failed_reads,
        transaction_replay=params.transaction_replay,
        transaction_replay_attempts=params.transaction_replay_attempts,
        transaction_replay_max_size=params.transaction_replay_max_size,
        transaction_replay_timeout=params.transaction_replay_timeout,
    )


def protect_interval(wait_timeout: float) -> float:
    """How often an idle connection holding unrestorable state is pinged: well before the
    server's ``wait_timeout`` closes it."""
    return max(wait_timeout / 3.0, 0.2)


def max_replicas(value: str, servers: int) -> int:
    """``max_slave_connections``: a count, or a percentage of the service's replicas."""
    if value.endswith("%"):
        replicas = max(servers - 1, 0)
        return max(replicas * int(value[:-1]) // 100, 1 if int(value[:-1]) else 0)
    return int(value)


def connroute_roles(config: ServiceConfig) -> frozenset[str]:
    """``router_options`` of ``readconnroute``: which roles a session may be sent to."""
    options = set(config.routing.router_options) or {"running"}
    if options & {"running", "synced"}:
        return frozenset(("master", "slave"))
    return frozenset(options & {"master", "slave"})
