"""Module parameters: routers of services and modules of monitors.

``ROUTERS``/``MONITOR_MODULES`` map Interlock's module names (lowercase; MaxScale looks modules
up in any case) to their extra parameters.  ``OTHER_*`` names MaxScale modules Interlock does
not have, so the error can say so instead of "unknown".  Today both routers send every
statement to the service's first server, so their own parameters are accepted and ignored;
the mariadbmon parameters wait for the monitor issue.
"""

from __future__ import annotations

from interlock.config.params import Param, ignored
from interlock.config.values import (
    BOOL,
    COUNT,
    DURATION,
    NAMES,
    PASSWORD,
    PATH,
    SIZE,
    TEXT,
    CountOrPercentType,
    EnumListType,
    EnumType,
    IntType,
)

_BOOLISH = {w: w for w in ("true", "false", "on", "off", "yes", "no", "1", "0")}

READWRITESPLIT: tuple[Param, ...] = (
    ignored(
        "causal_reads",
        EnumType(
            ("none", "local", "global", "fast", "fast_global", "universal", "fast_universal"),
            _BOOLISH,
        ),
        "none",
    ),
    ignored("causal_reads_timeout", DURATION, "10s"),
    ignored("delayed_retry", BOOL, "false"),
    ignored("delayed_retry_timeout", DURATION, "10s"),
    ignored("lazy_connect", BOOL, "false"),
    ignored("master_accept_reads", BOOL, "false"),
    ignored(
        "master_failure_mode",
        EnumType(("fail_instantly", "fail_on_write", "error_on_write")),
        "fail_on_write",
    ),
    ignored("master_reconnection", BOOL, "true"),
    ignored("max_replication_lag", DURATION, "0s", aliases=("max_slave_replication_lag",)),
    ignored("max_slave_connections", CountOrPercentType(), "255"),
    ignored("optimistic_trx", BOOL, "false", note="removed in MaxScale 24.08"),
    ignored("retry_failed_reads", BOOL, "true"),
    ignored("reuse_prepared_statements", BOOL, "false", note="removed in MaxScale 24.08"),
    ignored("slave_connections", COUNT, "255"),
    ignored(
        "slave_selection_criteria",
        EnumType(
            (
                "least_current_operations",
                "adaptive_routing",
                "least_behind_master",
                "least_router_connections",
                "least_global_connections",
            )
        ),
        "least_current_operations",
    ),
    ignored("strict_multi_stmt", BOOL, "false"),
    ignored("strict_sp_calls", BOOL, "false"),
    ignored("strict_tmp_tables", BOOL, "true"),
    ignored("transaction_replay", BOOL, "false"),
    ignored("transaction_replay_attempts", COUNT, "5"),
    ignored(
        "transaction_replay_checksum",
        EnumType(("full", "result_only", "no_insert_id")),
        "full",
    ),
    ignored("transaction_replay_max_size", SIZE, "1Mi"),
    ignored("transaction_replay_retry_on_deadlock", BOOL, "false"),
    ignored("transaction_replay_retry_on_mismatch", BOOL, "false"),
    ignored("transaction_replay_safe_commit", BOOL, "true"),
    ignored("transaction_replay_timeout", DURATION, "30s"),
    ignored("use_sql_variables_in", EnumType(("all", "master")), "all"),
)

READCONNROUTE: tuple[Param, ...] = (
    ignored("master_accept_reads", BOOL, "true"),
    ignored("max_replication_lag", DURATION, "0s", aliases=("max_slave_replication_lag",)),
    ignored(
        "router_options",
        EnumListType(("master", "slave", "synced", "running")),
        "running",
    ),
)

ROUTERS: dict[str, tuple[Param, ...]] = {
    "readwritesplit": READWRITESPLIT,
    "readconnroute": READCONNROUTE,
}

OTHER_ROUTERS = frozenset(
    {
        "avrorouter",
        "binlogrouter",
        "cat",
        "diff",
        "hintrouter",
        "kafkacdc",
        "kafkaimporter",
        "mirror",
        "schemarouter",
        "smartrouter",
        "xrouter",
    }
)

_MASTER_CONDITIONS = (
    "none",
    "connecting_slave",
    "connected_slave",
    "running_slave",
    "primary_monitor_master",
    "disk_space_ok",
)
_SLAVE_CONDITIONS = (
    "none",
    "linked_master",
    "running_master",
    "writable_master",
    "primary_monitor_master",
    "disk_space_ok",
)

MARIADBMON: tuple[Param, ...] = (
    ignored("assume_unique_hostnames", BOOL, "true"),
    ignored("auto_failover", EnumType(("true", "false", "safe"), _BOOLISH), "false"),
    ignored("auto_rejoin", BOOL, "false"),
    ignored("backup_storage_address", TEXT),
    ignored("backup_storage_path", PATH),
    ignored(
        "cooperative_monitoring_locks",
        EnumType(("none", "majority_of_all", "majority_of_running")),
        "none",
    ),
    ignored("demotion_sql_file", PATH),
    ignored("detect_stale_master", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("detect_stale_slave", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("detect_standalone_master", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("enforce_read_only_servers", BOOL, "false"),
    ignored("enforce_read_only_slaves", BOOL, "false"),
    ignored("enforce_simple_topology", BOOL, "false"),
    ignored("enforce_writable_master", BOOL, "false"),
    ignored("failcount", IntType(1), "5"),
    ignored("failover_timeout", DURATION, "90s"),
    ignored("handle_events", BOOL, "true"),
    ignored("maintenance_on_low_disk_space", BOOL, "true"),
    ignored("mariabackup_parallel", IntType(1), "1"),
    ignored("mariabackup_use_memory", TEXT, "1G"),
    ignored(
        "master_conditions",
        EnumListType(_MASTER_CONDITIONS),
        "primary_monitor_master, disk_space_ok",
    ),
    ignored("master_failure_timeout", DURATION, "10s"),
    ignored("promotion_sql_file", PATH),
    ignored("rebuild_port", IntType(1, 65535), "4444"),
    ignored("replication_custom_options", TEXT),
    ignored("replication_master_ssl", BOOL, "false"),
    ignored("replication_password", PASSWORD),
    ignored("replication_user", TEXT),
    ignored("script_max_replication_lag", IntType(-1), "-1"),
    ignored("servers_no_promotion", NAMES),
    ignored("slave_conditions", EnumListType(_SLAVE_CONDITIONS), "none"),
    ignored("ssh_check_host_key", BOOL, "true"),
    ignored("ssh_keyfile", PATH),
    ignored("ssh_port", IntType(1, 65535), "22"),
    ignored("ssh_timeout", DURATION, "10s"),
    ignored("ssh_user", TEXT),
    ignored("switchover_on_low_disk_space", BOOL, "false"),
    ignored("switchover_timeout", DURATION, "90s"),
    ignored("verify_master_failure", BOOL, "true"),
    ignored("write_test_fail_action", EnumType(("log", "failover")), "log"),
    ignored("write_test_interval", DURATION, "0s"),
    ignored("write_test_table", TEXT, "mxs.maxscale_write_test"),
)

MONITOR_MODULES: dict[str, tuple[Param, ...]] = {"mariadbmon": MARIADBMON}

OTHER_MONITORS = frozenset(
    {
        "auroramon",
        "csmon",
        "galeramon",
        "grmon",
        "mmmon",
        "mysqlmon",
        "ndbclustermon",
        "xpandmon",
    }
)
