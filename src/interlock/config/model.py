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
    admin_host: str = "127.0.0.1"  # REST API address (parsed now; the API lands with issue 7)
    admin_port: int = 8989  # REST API port (parsed now; the API lands with issue 7)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A ``type=server`` section: one backend MariaDB/MySQL server."""

    name: str
    address: str
    port: int = 3306
    protocol: str = "MariaDBBackend"
    tls: TlsConfig = field(default_factory=TlsConfig)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """A ``type=service`` section.

    Until the router and monitor issues land, every statement goes to the *primary*: the first
    server of ``servers`` (in the order written).
    """

    name: str
    router: str
    servers: tuple[str, ...]
    user: str  # service user: reads the accounts (mysql.global_priv / mysql.user)
    password: str
    connect_timeout: float = 3.0  # backend connect + handshake timeout (seconds)
    enable_root_user: bool = False
    version_string: str | None = None  # handshake version shown to clients; default: primary's
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
class MonitorConfig:
    """A ``type=monitor`` section (parsed now; acted on by the monitor issue)."""

    name: str
    module: str
    servers: tuple[str, ...]
    user: str
    password: str
    monitor_interval: float = 2.0
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
