"""Module parameters: routers of services and modules of monitors.

``ROUTERS``/``MONITOR_MODULES`` map Interlock's module names (lowercase; MaxScale looks modules
up in any case) to their extra parameters.  ``MONITOR_ALIASES`` maps old module names that
MaxScale still loads under their new name (``mysqlmon`` -> ``mariadbmon``).  ``OTHER_*`` names
MaxScale modules Interlock does not have, so the error can say so instead of "unknown".
Router parameters Interlock acts on fill ``ServiceConfig.routing``; the others are accepted
with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlock.config.params import Param, ignored, supported
from interlock.config.values import (
    BOOL,
    COUNT,
    DURATION,
    NAMES,
    PASSWORD,
    PATH,
    SIZE,
    TEXT,
    ConfigValueError,
    CountOrPercentType,
    EnumListType,
    EnumType,
    IntType,
    ModuleType,
    ValueType,
)

_BOOLISH = {w: w for w in ("true", "false", "on", "off", "yes", "no", "1", "0")}

_CAUSAL = EnumType(
    ("none", "local", "global", "fast", "fast_global", "universal", "fast_universal"), _BOOLISH
)
_CRITERIA = EnumType(
    (
        "least_current_operations",
        "adaptive_routing",
        "least_behind_master",
        "least_router_connections",
        "least_global_connections",
    )
)


class _TableName:
    """``schema.table`` of plain identifiers (letters, digits, ``_``, ``$``), or empty: off."""

    _NAME = re.compile(r"[A-Za-z0-9_$]{1,64}\.[A-Za-z0-9_$]{1,64}")

    @property
    def form(self) -> str:
        return "table"

    @property
    def expected(self) -> str:
        return "schema.table (letters, digits, _ and $), or empty"

    def parse(self, raw: str) -> str:
        value = raw.strip()
        if value and self._NAME.fullmatch(value) is None:
            raise ConfigValueError(f"'{raw}' is not a table name", self.expected)
        return value

    def render(self, value: Any) -> str:
        return str(value)


def _rw(name: str, vtype: ValueType, default: str, *, aliases: tuple[str, ...] = (),
        note: str = "", field: str = "") -> Param:
    return supported(name, vtype, default, field=f"routing.{field or name}", aliases=aliases,
                     note=note)


READWRITESPLIT: tuple[Param, ...] = (
    _rw("causal_reads", _CAUSAL, "none",
        note="none, local, global, fast (the fast_*/universal modes act as fast/global)"),
    _rw("causal_reads_timeout", DURATION, "10s"),
    _rw("delayed_retry", BOOL, "false",
        note="writes wait for a primary (up to delayed_retry_timeout) instead of failing"),
    _rw("delayed_retry_timeout", DURATION, "10s"),
    _rw("lazy_connect", BOOL, "false"),
    _rw("master_accept_reads", BOOL, "false",
        note="reads fall back to the primary when no replica is usable whatever its value"),
    _rw(
        "master_failure_mode",
        EnumType(("fail_instantly", "fail_on_write", "error_on_write")),
        "fail_on_write",
        note="without a primary: close the session at once / on a write / error, keep reads",
    ),
    _rw("master_reconnection", BOOL, "true",
        note="reopen a lost or moved primary connection, session state restored"),
    _rw("max_replication_lag", DURATION, "0s", aliases=("max_slave_replication_lag",),
        note="needs the monitor's lag; 0: no limit"),
    _rw("max_slave_connections", CountOrPercentType(), "255",
        note="replica connections opened per session"),
    ignored("optimistic_trx", BOOL, "false", note="removed in MaxScale 24.08"),
    _rw("retry_failed_reads", BOOL, "true",
        note="a read lost before any of its answer was relayed runs again"),
    ignored("reuse_prepared_statements", BOOL, "false", note="removed in MaxScale 24.08"),
    ignored("slave_connections", COUNT, "255"),
    _rw("slave_selection_criteria", _CRITERIA, "least_current_operations"),
    _rw("strict_multi_stmt", BOOL, "false"),
    _rw("strict_sp_calls", BOOL, "false"),
    ignored("strict_tmp_tables", BOOL, "true"),
    _rw("transaction_replay", BOOL, "false",
        note="replay the open transaction on a new primary connection, results checksummed"),
    _rw("transaction_replay_attempts", COUNT, "5"),
    _rw("transaction_replay_commit_marker", _TableName(), "",
        note="Interlock: schema.table of the commit marker that establishes the outcome of a"
             " COMMIT lost in flight (docs/failover.md); empty: off"),
    ignored(
        "transaction_replay_checksum",
        EnumType(("full", "result_only", "no_insert_id")),
        "full",
    ),
    _rw("transaction_replay_max_size", SIZE, "1Mi"),
    ignored("transaction_replay_retry_on_deadlock", BOOL, "false"),
    ignored("transaction_replay_retry_on_mismatch", BOOL, "false"),
    ignored("transaction_replay_safe_commit", BOOL, "true"),
    _rw("transaction_replay_timeout", DURATION, "30s"),
    _rw("use_sql_variables_in", EnumType(("all", "master")), "all"),
)

READCONNROUTE: tuple[Param, ...] = (
    _rw("master_accept_reads", BOOL, "true", field="connroute_master_accept_reads",
        note="router_options=slave: the primary takes the session when no replica is usable"),
    _rw("max_replication_lag", DURATION, "0s", aliases=("max_slave_replication_lag",),
        note="needs the monitor's lag; 0: no limit"),
    _rw("router_options", EnumListType(("master", "slave", "synced", "running")), "running",
        note="master, slave or running (synced: as running)"),
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

def _mon(name: str, vtype: ValueType, default: str = "", *, note: str = "",
         field: str = "") -> Param:
    return supported(name, vtype, default, field=f"mariadbmon.{field or name}", note=note)


MARIADBMON: tuple[Param, ...] = (
    ignored("assume_unique_hostnames", BOOL, "true"),
    _mon("auto_failover", EnumType(("true", "false", "safe"), _BOOLISH), "false",
         note="safe acts as true: a failover that could lose semi-sync commits is refused "
         "anyway"),
    _mon("auto_rejoin", BOOL, "false", note="only servers whose GTIDs the primary has"),
    ignored("backup_storage_address", TEXT),
    ignored("backup_storage_path", PATH),
    ignored(
        "cooperative_monitoring_locks",
        EnumType(("none", "majority_of_all", "majority_of_running")),
        "none",
    ),
    _mon("demotion_sql_file", PATH, note="run on an old primary that rejoins or is demoted"),
    ignored("detect_stale_master", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("detect_stale_slave", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("detect_standalone_master", BOOL, "true", note="removed in MaxScale 24.02"),
    ignored("enforce_read_only_servers", BOOL, "false"),
    _mon("enforce_read_only_slaves", BOOL, "false"),
    ignored("enforce_simple_topology", BOOL, "false"),
    _mon("enforce_writable_master", BOOL, "false"),
    _mon("failcount", IntType(1), "5"),
    _mon("failover_block", DURATION, note="Interlock extension: no second automatic failover "
         "within this time unless acknowledged (anti-flapping)", field="failover_block"),
    _mon("failover_timeout", DURATION, "90s"),
    ignored("handle_events", BOOL, "true"),
    ignored("maintenance_on_low_disk_space", BOOL, "true"),
    ignored("mariabackup_parallel", IntType(1), "1"),
    ignored("mariabackup_use_memory", TEXT, "1G"),
    ignored(
        "master_conditions",
        EnumListType(_MASTER_CONDITIONS),
        "primary_monitor_master, disk_space_ok",
    ),
    _mon("master_failure_timeout", DURATION, "10s",
         note="how long replicas' silence counts as losing the primary"),
    _mon("promotion_sql_file", PATH),
    ignored("rebuild_port", IntType(1, 65535), "4444"),
    ignored("replication_custom_options", TEXT),
    _mon("replication_master_ssl", BOOL, "false"),
    _mon("replication_password", PASSWORD),
    _mon("replication_user", TEXT, note="default: the monitor's user"),
    ignored("script_max_replication_lag", IntType(-1), "-1"),
    _mon("servers_no_promotion", NAMES),
    ignored("slave_conditions", EnumListType(_SLAVE_CONDITIONS), "none"),
    ignored("ssh_check_host_key", BOOL, "true"),
    ignored("ssh_keyfile", PATH),
    ignored("ssh_port", IntType(1, 65535), "22"),
    ignored("ssh_timeout", DURATION, "10s"),
    ignored("ssh_user", TEXT),
    ignored("switchover_on_low_disk_space", BOOL, "false"),
    _mon("switchover_max_lag", DURATION, note="Interlock extension: a switchover candidate "
         "may be at most this far behind"),
    _mon("switchover_timeout", DURATION, "90s"),
    _mon("verify_master_failure", BOOL, "true"),
    ignored("write_test_fail_action", EnumType(("log", "failover")), "log"),
    ignored("write_test_interval", DURATION, "0s"),
    ignored("write_test_table", TEXT, "mxs.maxscale_write_test"),
)

MONITOR_MODULES: dict[str, tuple[Param, ...]] = {"mariadbmon": MARIADBMON}

#: old monitor module names MaxScale loads under their new name, with a deprecation warning
#: (``name_mappings`` of MaxScale's server/core/load_utils.cc, 2.2 onwards); lowercase
MONITOR_ALIASES: dict[str, str] = {"mysqlmon": "mariadbmon"}

OTHER_MONITORS = frozenset(
    {
        "auroramon",
        "csmon",
        "galeramon",
        "grmon",
        "mmmon",
        "ndbclustermon",
        "xpandmon",
    }
)


@dataclass(frozen=True, slots=True)
class AliasedModuleType:
    """A :class:`ModuleType` that also takes old names, stored as the module they stand for
    (``mysqlmon`` parses to ``mariadbmon``), so the rest of Interlock sees one name."""

    modules: ModuleType
    aliases: Mapping[str, str]

    @property
    def form(self) -> str:
        return self.modules.form

    @property
    def expected(self) -> str:
        return self.modules.expected

    def parse(self, raw: str) -> str:
        name = raw.strip().lower()
        return self.aliases[name] if name in self.aliases else self.modules.parse(raw)

    def render(self, value: Any) -> str:
        return self.modules.render(value)
