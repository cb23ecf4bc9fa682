"""Parameter tables of the core objects: ``[maxscale]``, servers, listeners, services, monitors.

Router parameters (readwritesplit, readconnroute) and monitor-module parameters (mariadbmon)
are in ``modules.py``.  Names and MaxScale defaults follow MaxScale 24.02's configuration
guide.  To support a parameter: add the model field, switch its entry to ``supported`` with
that ``field``, and regenerate the docs table (``python -m interlock.config.reference``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from interlock.config.model import (
    GlobalConfig,
    ListenerConfig,
    MonitorConfig,
    ServerConfig,
    ServiceConfig,
)
from interlock.config.modules import (
    MONITOR_ALIASES,
    MONITOR_MODULES,
    OTHER_MONITORS,
    OTHER_ROUTERS,
    ROUTERS,
    AliasedModuleType,
)
from interlock.config.params import Param, Schema, ignored, rejected, supported
from interlock.config.values import (
    BOOL,
    COUNT,
    DURATION,
    HOST,
    INT,
    NAMES,
    PASSWORD,
    PATH,
    PORT,
    SIGNED_DURATION,
    SIZE,
    TEXT,
    ConfigValueError,
    EnumType,
    IntType,
    ModuleType,
    ThreadsType,
    ThrottlingType,
)

TLS_VERSION = EnumType(("MAX", "TLSv10", "TLSv11", "TLSv12", "TLSv13"))
RANK = EnumType(("primary", "secondary"))

#: the name of the global section (any case)
GLOBAL_SECTION = "maxscale"

#: the object types of ``type=...``; ``filter`` and ``include`` are known but rejected
OBJECT_TYPES = ("server", "service", "listener", "monitor")
_NO_INCLUDE = "Interlock has no include sections (MaxScale 23.08+)"
REJECTED_TYPES = {
    "filter": "Interlock has no filters; remove the section and the services' filters=",
    "include": f"{_NO_INCLUDE}; copy its parameters into each section that includes it, "
    "then remove it",
}


def _include_param() -> Param:
    """``@include=`` in an object section: rejected, with the advice of ``type=include``."""
    return rejected(
        "@include",
        NAMES,
        note=f"{_NO_INCLUDE}; copy the included section's parameters into this section",
    )


def type_param(kind: str) -> Param:
    return supported("type", EnumType((kind,)), field=None, required=True, note="")


GLOBAL: tuple[Param, ...] = (
    supported("threads", ThreadsType(), "auto"),
    supported(
        "logdir",
        PATH,
        "/var/log/maxscale",
        note="when set, Interlock also logs to LOGDIR/interlock.log",
    ),
    supported("log_file", PATH, note="Interlock extension: log file path (wins over logdir)"),
    supported(
        "users_refresh_time",
        SIGNED_DURATION,
        "30s",
        note="least time between account reloads on login failures; 0 = no limit, negative = never",
    ),
    supported("users_refresh_interval", DURATION, "0s", note="periodic account reload; 0s = off"),
    supported("admin_host", HOST, "127.0.0.1", note="address of the REST API and dashboard"),
    supported("admin_port", PORT, "8989", note="port of the REST API, dashboard and /metrics"),
    supported(
        "admin_auth",
        BOOL,
        "true",
        note="false: no authentication at all on the admin listener (a warning at start)",
    ),
    supported("admin_enabled", BOOL, "true", note="false: no admin listener"),
    supported("admin_gui", BOOL, "true", note="serve the dashboard at /"),
    ignored("admin_secure_gui", BOOL, "true"),
    supported("admin_log_auth_failures", BOOL, "true"),
    supported("admin_ssl_key", PATH, note="with admin_ssl_cert: the API is served over HTTPS"),
    supported("admin_ssl_cert", PATH),
    supported("admin_ssl_ca", PATH, aliases=("admin_ssl_ca_cert",),
              note="CA of admin_ssl_cert's chain (sent to clients)"),
    supported("admin_jwt_max_age", DURATION, "24h",
              note="longest lifetime of a token from /v1/auth (default lifetime 8h)"),
    ignored("admin_readwrite_hosts", TEXT, "%"),
    ignored("admin_readonly_hosts", TEXT, "%"),
    ignored("auth_connect_timeout", DURATION, "10s"),
    ignored("auth_read_timeout", DURATION, "10s"),
    ignored("auth_write_timeout", DURATION, "10s"),
    ignored("cachedir", PATH, "/var/cache/maxscale"),
    ignored("config_sync_cluster", TEXT),
    supported(
        "datadir",
        PATH,
        "/var/lib/maxscale",
        note="state directory: admin users (`passwd`), the generated admin password "
        "(`admin-password`), the key file `.secrets`; unset: /var/lib/interlock (for "
        "`.secrets` then /var/lib/maxscale too)",
    ),
    ignored("dump_last_statements", EnumType(("never", "on_close", "on_error")), "never"),
    ignored("host_cache_size", COUNT, "128"),
    supported(
        "load_persisted_configs",
        BOOL,
        "true",
        note="read the runtime changes saved in persistdir at start (after the main file)",
    ),
    ignored("local_address", HOST),
    ignored("log_augmentation", COUNT, "0"),
    supported("log_debug", BOOL, "false"),
    supported(
        "log_format",
        EnumType(("maxscale", "json")),
        note="Interlock extension: json = one JSON object per line",
    ),
    supported("log_info", BOOL, "false"),
    supported("log_notice", BOOL, "true"),
    supported(
        "log_throttling",
        ThrottlingType(),
        "10, 1000ms, 10000ms",
        note="errors and warnings; the same log statement N times in the window is suppressed",
    ),
    ignored("log_warn_super_user", BOOL, "false"),
    supported("log_warning", BOOL, "true"),
    ignored("max_auth_errors_until_block", COUNT, "10"),
    supported("maxlog", BOOL, "true", note="write the log file (log_file/logdir)"),
    ignored("module_configdir", PATH, "/etc/maxscale.modules.d"),
    supported("ms_timestamp", BOOL, "false"),
    # issue 9, monitor leadership through etcd (docs/cluster.md, "Monitor leadership")
    supported("cluster", EnumType(("none", "etcd")), "none",
              note="Interlock extension: etcd = monitor leadership shared through etcd"),
    supported("etcd_endpoints", TEXT,
              note="Interlock extension: comma-separated etcd URLs (required with cluster=etcd)"),
    supported("etcd_prefix", TEXT, "/interlock/", note="Interlock extension: key prefix in etcd"),
    supported("etcd_user", TEXT, note="Interlock extension: etcd user (with etcd_password)"),
    supported("etcd_password", PASSWORD, note="Interlock extension: may be encrypted (maxpasswd)"),
    supported("etcd_ssl_ca", PATH, note="Interlock extension: CA to verify etcd's certificates"),
    supported("etcd_ssl_cert", PATH, note="Interlock extension: client certificate for etcd"),
    supported("etcd_ssl_key", PATH, note="Interlock extension: key of etcd_ssl_cert"),
    supported("etcd_lease_ttl", DURATION, "5s",
              note="Interlock extension: leader lease TTL (whole seconds, at least 2s)"),
    supported("instance_name", TEXT,
              note="Interlock extension: this instance's name in etcd; unset: HOSTNAME:ADMIN_PORT"),
    ignored("passive", BOOL, "false"),
    supported("persist_runtime_changes", BOOL, "true",
              note="false: runtime changes apply but are not saved (lost at restart)"),
    supported(
        "persistdir",
        PATH,
        "/var/lib/maxscale/maxscale.cnf.d",
        note="where runtime changes (REST API, `interlock ctl`) are saved, one NAME.cnf per "
        "object; unset: DATADIR/interlock.cnf.d when datadir is set",
    ),
    ignored("piddir", PATH, "/var/run/maxscale"),
    ignored("query_classifier_cache_size", SIZE, "15% of memory"),
    ignored("rebalance_period", DURATION, "0s"),
    ignored("rebalance_threshold", IntType(0, 100), "20"),
    ignored("rebalance_window", COUNT, "10"),
    ignored("retain_last_statements", COUNT, "0"),
    supported(
        "secretsdir", PATH, "datadir", field=None, note="directory of the key file `.secrets`"
    ),
    ignored("session_trace", COUNT, "0"),
    supported(
        "shutdown_timeout",
        DURATION,
        note="Interlock extension: on SIGTERM, how long running statements may finish before "
        "their sessions are closed (idle sessions close at once); 0s = no wait",
    ),
    ignored("skip_name_resolve", BOOL, "false"),
    ignored("sql_mode", EnumType(("default", "oracle")), "default"),
    ignored("substitute_variables", BOOL, "false"),
    supported("syslog", BOOL, "false", note="to /dev/log, as 'interlock:'"),
    ignored("writeq_high_water", SIZE, "64Ki"),
    ignored("writeq_low_water", SIZE, "1Ki"),
)

_TLS_CLIENT_NOTE = "TLS to this backend"


@dataclass(frozen=True, slots=True)
class WeightType:
    """A finite number >= 0 (``1``, ``0.5``, ``2.5``): a server's share of the reads."""

    @property
    def form(self) -> str:
        return "number >= 0"

    @property
    def expected(self) -> str:
        return "a number >= 0 (e.g. 1, 0.5, 3)"

    def parse(self, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigValueError(f"'{raw}' is not a number", self.expected) from None
        if not math.isfinite(value) or value < 0:
            raise ConfigValueError(f"'{raw}' is negative or not finite", self.expected)
        return value

    def render(self, value: Any) -> str:
        return f"{float(value):g}"


WEIGHT = WeightType()

SERVER: tuple[Param, ...] = (
    type_param("server"),
    supported("address", HOST, required=True, note="host name or IP address of the backend"),
    supported("port", PORT, "3306"),
    supported(
        "protocol",
        EnumType(
            ("MariaDBBackend",), {"mariadb": "MariaDBBackend", "mysqlbackend": "MariaDBBackend"}
        ),
        "mariadbbackend",
        note="any case",
    ),
    supported("ssl", BOOL, "false", field="tls.enabled", note=_TLS_CLIENT_NOTE),
    supported("ssl_cert", PATH, field="tls.cert", note="client certificate for the backend"),
    supported("ssl_key", PATH, field="tls.key", note="client key for the backend"),
    supported("ssl_ca", PATH, field="tls.ca", aliases=("ssl_ca_cert",), note="CA bundle"),
    supported("ssl_verify_peer_certificate", BOOL, "false", field="tls.verify_peer_certificate"),
    ignored("ssl_verify_peer_host", BOOL, "false"),
    ignored("ssl_version", TLS_VERSION, "MAX"),
    ignored("ssl_cipher", TEXT),
    ignored("ssl_cert_verify_depth", COUNT, "9"),
    ignored("disk_space_threshold", TEXT),
    ignored("extra_port", IntType(0, 65535), "0"),
    ignored("max_routing_connections", COUNT, "0"),
    ignored("monitorpw", PASSWORD),
    ignored("monitoruser", TEXT),
    ignored("persistmaxtime", DURATION, "0s"),
    ignored("persistpoolmax", COUNT, "0"),
    supported("priority", INT, "0",
              note="failover/switchover tie-break: a lower positive value first, 0 last"),
    ignored("private_address", HOST),
    ignored("proxy_protocol", BOOL, "false"),
    ignored("rank", RANK, "primary"),
    ignored("replication_custom_options", TEXT),
    rejected("socket", PATH, note="unix-socket backends are not supported; use address and port"),
    supported(
        "weight",
        WEIGHT,
        note="Interlock extension (MaxScale removed `weightby` in 6.0): this server's relative "
        "share of the reads a readwritesplit service spreads; 0 = never chosen for reads "
        "(hints and pinned statements still reach it)",
    ),
    _include_param(),
)

LISTENER: tuple[Param, ...] = (
    type_param("listener"),
    supported("service", TEXT, required=True, note="the service this listener feeds"),
    supported(
        "protocol",
        EnumType(
            ("MariaDBClient",),
            {
                "mariadbprotocol": "MariaDBClient",
                "mariadb": "MariaDBClient",
                "mysqlclient": "MariaDBClient",
            },
        ),
        "mariadbprotocol",
        note="any case",
    ),
    supported("address", HOST, "::", note="`::` listens on every IPv6 and IPv4 address"),
    supported("port", PORT, required=True),
    supported(
        "ssl", BOOL, "false", field="tls.enabled", note="TLS for clients; needs ssl_cert, ssl_key"
    ),
    supported("ssl_cert", PATH, field="tls.cert", note="PEM certificate"),
    supported("ssl_key", PATH, field="tls.key", note="PEM private key"),
    supported("ssl_ca", PATH, field="tls.ca", aliases=("ssl_ca_cert",), note="PEM CA bundle"),
    supported(
        "authenticator",
        EnumType(("MariaDBAuth",), {"mysqlauth": "MariaDBAuth"}),
        "MariaDBAuth",
        field=None,
        note="only the mysql_native_password authenticator exists in Interlock",
    ),
    ignored("authenticator_options", TEXT),
    ignored("connection_metadata", TEXT),
    ignored("redirect_url", TEXT),
    ignored("socket", PATH, note="unix-socket listeners come later; the TCP port is used"),
    ignored("sql_mode", EnumType(("default", "oracle")), "default"),
    ignored("ssl_cert_verify_depth", COUNT, "9"),
    ignored("ssl_cipher", TEXT),
    ignored("ssl_crl", PATH),
    supported(
        "ssl_verify_peer_certificate",
        BOOL,
        "false",
        field="tls.verify_peer_certificate",
        note="true: clients must present a certificate signed by ssl_ca (required then); "
        "false: no client certificate is asked for",
    ),
    ignored(
        "ssl_verify_peer_host",
        BOOL,
        "false",
        note="the client's address is not checked against its certificate",
    ),
    ignored("ssl_version", TLS_VERSION, "MAX"),
    rejected(
        "connection_init_sql_file",
        PATH,
        note="Interlock cannot run per-connection init SQL yet; set it in the application",
    ),
    rejected(
        "proxy_protocol_networks",
        TEXT,
        note="Interlock does not read PROXY protocol headers",
    ),
    rejected("user_mapping_file", PATH, note="user mapping is not supported"),
    _include_param(),
)

SERVICE: tuple[Param, ...] = (
    type_param("service"),
    supported(
        "router",
        ModuleType("router", tuple(ROUTERS), OTHER_ROUTERS),
        required=True,
        note="readwritesplit (statement routing) or readconnroute (per connection)",
    ),
    supported(
        "servers",
        NAMES,
        field="servers",
        required=True,
        aliases=("targets",),
        note="servers only; without a monitor the first is the primary, the others replicas",
    ),
    supported("user", TEXT, required=True, note="service user: reads the accounts"),
    supported("password", PASSWORD, required=True,
              note="plain text, or encrypted with `interlock passwd`"),
    supported(
        "backend_connect_timeout",
        DURATION,
        field="connect_timeout",
        note="Interlock extension (MaxScale has it on monitors): backend connect + login timeout",
    ),
    supported("enable_root_user", BOOL, "false"),
    supported("version_string", TEXT, note="default: the primary's own version string"),
    ignored("auth_all_servers", BOOL, "false"),
    supported("connection_keepalive", DURATION, "300s",
              note="readwritesplit: COM_PING idle backend connections (0s: off)"),
    supported("disable_sescmd_history", BOOL, "false", field="routing.disable_sescmd_history",
              note="readwritesplit: no session-command history"),
    ignored("force_connection_keepalive", BOOL, "false"),
    ignored("idle_session_pool_time", SIGNED_DURATION, "-1s"),
    ignored("localhost_match_wildcard_host", BOOL, "true"),
    ignored("log_auth_warnings", BOOL, "true"),
    ignored("log_debug", BOOL, "false"),
    ignored("log_info", BOOL, "false"),
    ignored("log_notice", BOOL, "false"),
    ignored("log_warning", BOOL, "false"),
    ignored("max_connections", COUNT, "0"),
    supported("max_sescmd_history", COUNT, "50", field="routing.max_sescmd_history",
              note="readwritesplit: session commands kept for replay on new connections"),
    ignored("multiplex_timeout", DURATION, "60s"),
    ignored("net_write_timeout", DURATION, "0s"),
    supported("prune_sescmd_history", BOOL, "true", field="routing.prune_sescmd_history",
              note="readwritesplit: drop the oldest entry when the history is full"),
    ignored("rank", RANK, "primary"),
    ignored("retain_last_statements", IntType(-1), "-1"),
    ignored("session_track_trx_state", BOOL, "false"),
    ignored("strip_db_esc", BOOL, "true"),
    ignored("user_accounts_file", PATH),
    ignored("weightby", TEXT,
            note="removed in MaxScale 6.0; Interlock has the server parameter `weight`"),
    ignored(
        "user_accounts_file_usage",
        EnumType(("add_when_load_ok", "file_only_always")),
        "add_when_load_ok",
    ),
    supported("wait_timeout", DURATION, "0s", aliases=("connection_timeout",),
              field="client_idle_timeout",
              note="readwritesplit: idle client sessions are closed after this (0s: never)"),
    rejected("cluster", TEXT, note="name the servers with servers= instead"),
    rejected("filters", TEXT, note="Interlock has no filters"),
    _include_param(),
)

MONITOR: tuple[Param, ...] = (
    type_param("monitor"),
    supported(
        "module",
        AliasedModuleType(
            ModuleType("monitor module", tuple(MONITOR_MODULES), OTHER_MONITORS),
            MONITOR_ALIASES,
        ),
        required=True,
        note="mariadbmon: replication monitor with failover, switchover, rejoin; mysqlmon "
        "(its MaxScale 2.1 name, which MaxScale still loads as mariadbmon) is accepted as "
        "mariadbmon with a deprecation warning",
    ),
    supported("servers", NAMES, required=True),
    supported("user", TEXT, required=True),
    supported("password", PASSWORD, required=True),
    supported("monitor_interval", DURATION, "2s"),
    ignored("backend_connect_attempts", IntType(1), "1"),
    supported("backend_connect_timeout", DURATION, "3s", field="connect_timeout",
              note="connecting to a server for a probe"),
    supported("backend_read_timeout", DURATION, "3s", field="read_timeout",
              note="each probe query"),
    ignored("backend_write_timeout", DURATION, "3s"),
    ignored("disk_space_check_interval", DURATION, "0s"),
    ignored("disk_space_threshold", TEXT),
    ignored("events", TEXT, "all"),
    ignored("journal_max_age", DURATION, "28800s"),
    ignored("script", TEXT),
    ignored("script_timeout", DURATION, "90s"),
    _include_param(),
)

#: the parameter that names the module of a service / monitor, and the modules' parameters
MODULE_KEY = {"service": "router", "monitor": "module"}
#: old module names (lowercase) by object type, and the module each stands for
MODULE_ALIASES: dict[str, dict[str, str]] = {"service": {}, "monitor": MONITOR_ALIASES}
MODULE_PARAMS: dict[str, dict[str, tuple[Param, ...]]] = {
    "service": ROUTERS,
    "monitor": MONITOR_MODULES,
}

_CORE: dict[str, tuple[type[Any], tuple[Param, ...], dict[str, tuple[Param, ...]]]] = {
    "server": (ServerConfig, SERVER, {}),
    "listener": (ListenerConfig, LISTENER, {}),
    "service": (ServiceConfig, SERVICE, ROUTERS),
    "monitor": (MonitorConfig, MONITOR, MONITOR_MODULES),
}


@cache
def global_schema() -> Schema:
    return Schema.build("maxscale", GlobalConfig, GLOBAL)


@cache
def object_schema(kind: str, module: str | None = None) -> Schema:
    """The schema of a ``type=kind`` section whose router/module is ``module``.

    An old name (``mysqlmon``) is the module it stands for.  With an unknown or missing
    module, the parameters of every known module are accepted, so
    one wrong module name does not also turn all of its parameters into errors.
    """
    model, core, modules = _CORE[kind]
    module = MODULE_ALIASES.get(kind, {}).get(module or "", module)
    if module in modules:
        return Schema.build(kind, model, core, modules[module], module=module)
    merged: dict[str, Param] = {}
    for params in modules.values():
        for param in params:
            merged.setdefault(param.name, param)
    return Schema.build(kind, model, core, merged.values())
