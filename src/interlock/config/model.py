"""The validated configuration: frozen dataclasses the rest of Interlock reads.

The loader (``interlock.config.loader``) turns a maxscale.cnf-shaped INI file into a
:class:`Config`.  Names and defaults follow MariaDB MaxScale where the feature exists.
Durations are stored as float seconds, sizes as int bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS settings of a listener (server side) or of a server (client side, to backends)."""

    enabled: bool = False
    cert: str | None = None  # ssl_cert: PEM certificate path
    key: str | None = None  # ssl_key: PEM private key path
    ca: str | None = None  # ssl_ca: PEM CA bundle path (verify the peer when set)
    verify_peer_certificate: bool = False  # ssl_verify_peer_certificate (backends)


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    """The ``[maxscale]`` section."""

    threads: str = "auto"
    logdir: str | None = None  # when set, also log to <logdir>/interlock.log
    log_file: str | None = None  # explicit log file path (wins over logdir)
    users_refresh_time: float = 30.0  # min seconds between account reloads on auth failure
    # (0 = no limit; negative = never reload on auth failure, as in MaxScale)
    users_refresh_interval: float = 0.0  # periodic account reload, 0 = off
    shutdown_timeout: float = 10.0  # SIGTERM: how long running statements may finish (Interlock)
    # the admin listener: REST API, dashboard, /metrics (interlock.admin)
    admin_host: str = "127.0.0.1"
    admin_port: int = 8989
    admin_enabled: bool = True
    admin_auth: bool = True
    admin_gui: bool = True
    admin_log_auth_failures: bool = True
    admin_ssl_cert: str | None = None
    admin_ssl_key: str | None = None
    admin_ssl_ca: str | None = None
    admin_jwt_max_age: float = 86400.0  # longest token lifetime a client may ask for
    datadir: str | None = None  # state directory (admin users, generated password, .secrets)
    # runtime changes (REST API, `interlock ctl`): written here, read after the main file at
    # start; the loader puts <datadir>/interlock.cnf.d here when datadir is set and this is not
    persistdir: str = "/var/lib/interlock/interlock.cnf.d"
    load_persisted_configs: bool = True
    persist_runtime_changes: bool = True  # false: runtime changes apply but are not saved
    # logging (interlock.log.LogSettings); MaxScale's defaults
    log_throttling: tuple[int, float, float] = (10, 1.0, 10.0)  # count, window s, suppress s
    log_format: str = "maxscale"  # or "json" (Interlock extension)
    log_info: bool = False
    log_debug: bool = False
    log_notice: bool = True
    log_warning: bool = True
    maxlog: bool = True
    syslog: bool = False
    ms_timestamp: bool = False
    # issue 9, monitor leadership through etcd (interlock.cluster.leadership)
    cluster: str = "none"  # none | etcd
    etcd_endpoints: str | None = None  # comma-separated URLs
    etcd_prefix: str = "/interlock/"
    etcd_user: str | None = None
    etcd_password: str | None = None
    etcd_ssl_ca: str | None = None
    etcd_ssl_cert: str | None = None
    etcd_ssl_key: str | None = None
    etcd_lease_ttl: float = 5.0
    instance_name: str | None = None  # None: hostname:admin_port


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A ``type=server`` section: one backend MariaDB/MySQL server."""

    name: str
    address: str
    port: int = 3306
    protocol: str = "MariaDBBackend"
    tls: TlsConfig = field(default_factory=TlsConfig)
    priority: int = 0  # failover/switchover tie-break: lower positive first, 0 after them
    weight: float = 1.0  # Interlock: relative share of reads; 0 = never chosen for reads


@dataclass(frozen=True, slots=True)
class RouterParams:
    """The router parameters Interlock acts on (``readwritesplit`` / ``readconnroute``), as
    parsed; ``interlock.server.service`` maps them onto ``routing.RouterSettings``."""

    causal_reads: str = "none"
    causal_reads_timeout: float = 10.0
    lazy_connect: bool = False
    master_accept_reads: bool = False  # readwritesplit's (MaxScale default false)
    max_replication_lag: float = 0.0  # 0: no limit
    max_slave_connections: str = "255"  # a count or a percentage of the replicas
    slave_selection_criteria: str = "least_current_operations"
    strict_multi_stmt: bool = False
    strict_sp_calls: bool = False
    use_sql_variables_in: str = "all"
    max_sescmd_history: int = 50
    prune_sescmd_history: bool = True
    disable_sescmd_history: bool = False
    # sessions that survive (readwritesplit): reconnection, replay, keepalive
    master_reconnection: bool = True
    master_failure_mode: str = "fail_on_write"
    delayed_retry: bool = False
    delayed_retry_timeout: float = 10.0
    retry_failed_reads: bool = True
    transaction_replay: bool = False
    transaction_replay_attempts: int = 5
    transaction_replay_commit_marker: str = ""  # Interlock: schema.table; "": off
    transaction_replay_max_size: int = 1024 * 1024
    transaction_replay_timeout: float = 30.0
    router_options: tuple[str, ...] = ("running",)  # readconnroute
    connroute_master_accept_reads: bool = True  # readconnroute's master_accept_reads


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """A ``type=service`` section.

    Roles come from the monitor when one watches the servers, else statically: the first
    server of ``servers`` (in the order written) is the primary, the others are replicas.
    """

    name: str
    router: str
    servers: tuple[str, ...]
    user: str  # service user: reads the accounts (mysql.global_priv / mysql.user)
    password: str
    connect_timeout: float = 3.0  # backend connect + handshake timeout (seconds)
    enable_root_user: bool = False
    version_string: str | None = None  # handshake version shown to clients; default: primary's
    connection_keepalive: float = 300.0  # seconds; 0: off
    client_idle_timeout: float = 0.0  # the service's wait_timeout; 0: off
    routing: RouterParams = field(default_factory=RouterParams)
    params: tuple[tuple[str, str], ...] = ()  # accepted-but-ignored router/core keys, raw


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """A ``type=listener`` section."""

    name: str
    service: str
    port: int
    address: str = "::"
    protocol: str = "MariaDBClient"
    tls: TlsConfig = field(default_factory=TlsConfig)


@dataclass(frozen=True, slots=True)
class MonitorParams:
    """The ``mariadbmon`` parameters Interlock acts on, as parsed;
    ``interlock.monitor.rules.settings_for`` maps them onto ``MonitorSettings``."""

    auto_failover: str = "false"  # true/false/safe (or on/off/yes/no/1/0)
    auto_rejoin: bool = False
    failcount: int = 5
    failover_timeout: float = 90.0
    switchover_timeout: float = 90.0
    verify_master_failure: bool = True
    master_failure_timeout: float = 10.0
    servers_no_promotion: tuple[str, ...] | None = None
    promotion_sql_file: str | None = None
    demotion_sql_file: str | None = None
    enforce_read_only_slaves: bool = False
    enforce_writable_master: bool = False
    replication_user: str | None = None  # None: the monitor's user
    replication_password: str | None = None
    replication_master_ssl: bool = False
    failover_block: float = 3600.0  # Interlock: no second automatic failover within this
    switchover_max_lag: float = 10.0  # Interlock: a switchover candidate's max lag


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """A ``type=monitor`` section."""

    name: str
    module: str
    servers: tuple[str, ...]
    user: str
    password: str
    monitor_interval: float = 2.0
    connect_timeout: float = 3.0  # backend_connect_timeout
    read_timeout: float = 3.0  # backend_read_timeout
    mariadbmon: MonitorParams = field(default_factory=MonitorParams)
    params: tuple[tuple[str, str], ...] = ()  # other keys, raw, for the monitor to interpret


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    global_: GlobalConfig
    servers: dict[str, ServerConfig]
    services: dict[str, ServiceConfig]
    listeners: dict[str, ListenerConfig]
    monitors: dict[str, MonitorConfig]
    warnings: tuple[str, ...] = ()  # accepted-but-ignored parameters etc. (already logged)
