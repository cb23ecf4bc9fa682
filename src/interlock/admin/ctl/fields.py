"""What ``list`` and ``show`` print: columns and fields as data (pure).

A field is a title and a *path* into a JSON:API resource, written as maxctrl writes them:
``attributes.parameters.address``; ``relationships.servers.data[].id`` collects ``id`` over a
list; ``a|b`` takes the first alternative that has a value (Interlock's attribute, else
MaxScale's).  The ``list`` columns are maxctrl's (``maxctrl list servers``: Server, Address,
Port, Connections, State, GTID, Monitor); the ``show`` fields follow maxctrl's names where
Interlock has the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interlock.admin.ctl.tables import Fields, Table

Spec = tuple[tuple[str, str], ...]  # (title, path)


def _step(value: Any, key: str) -> Any:
    if key.endswith("[]"):
        items = _step(value, key[:-2])
        return list(items) if isinstance(items, list) else None
    if isinstance(value, list):
        found = [_step(v, key) for v in value]
        return [v for v in found if v is not None]
    if isinstance(value, Mapping):
        return value.get(key)
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def pluck(resource: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (see the module docstring), None when absent."""
    for alternative in path.split("|"):
        value: Any = resource
        for key in alternative.split("."):
            value = _step(value, key)
            if value is None:
                break
        if not _empty(value):
            return value
    return None


def table(spec: Spec, resources: Sequence[Mapping[str, Any]]) -> Table:
    return Table(tuple(title for title, _ in spec),
                 tuple(tuple(pluck(r, path) for _, path in spec) for r in resources))


def fields(spec: Spec, resource: Mapping[str, Any]) -> Fields:
    return Fields(tuple((title, pluck(resource, path)) for title, path in spec))


# -- list ---------------------------------------------------------------------------------

LIST_SERVERS: Spec = (
    ("Server", "id"),
    ("Address", "attributes.parameters.address|attributes.parameters.socket"),
    ("Port", "attributes.parameters.port"),
    ("Connections", "attributes.statistics.connections"),
    ("State", "attributes.state"),
    ("GTID", "attributes.gtid_current_pos"),
    ("Monitor", "relationships.monitors.data[].id"),
)
LIST_SERVICES: Spec = (
    ("Service", "id"),
    ("Router", "attributes.router"),
    ("Connections", "attributes.statistics.connections"),
    ("Total Connections", "attributes.statistics.total_connections"),
    ("Targets", "relationships.servers.data[].id|relationships.services.data[].id"),
)
LIST_LISTENERS: Spec = (
    ("Name", "id"),
    ("Port", "attributes.parameters.port"),
    ("Host", "attributes.parameters.address|attributes.parameters.host"
             "|attributes.parameters.socket"),
    ("State", "attributes.state"),
    ("Service", "attributes.parameters.service|relationships.services.data[].id"),
)
LIST_MONITORS: Spec = (
    ("Monitor", "id"),
    ("State", "attributes.state"),
    ("Servers", "relationships.servers.data[].id"),
)
LIST_SESSIONS: Spec = (
    ("Id", "id"),
    ("User", "attributes.user"),
    ("Host", "attributes.remote"),
    ("Connected", "attributes.connected"),
    ("Idle", "attributes.idle"),
    ("Service", "attributes.service|relationships.services.data[].id"),
)
LIST_USERS: Spec = (
    ("Name", "id"),
    ("Type", "type"),
    ("Privileges", "attributes.account"),
)
LIST_EVENTS: Spec = (
    ("Id", "id"),
    ("Time", "attributes.time"),
    ("Monitor", "attributes.monitor"),
    ("Server", "attributes.server"),
    ("Kind", "attributes.kind"),
    ("Old State", "attributes.old_state"),
    ("New State", "attributes.new_state"),
    ("Reason", "attributes.reason"),
)

# -- show ---------------------------------------------------------------------------------

SHOW_SERVER: Spec = (
    ("Server", "id"),
    ("Address", "attributes.parameters.address|attributes.parameters.socket"),
    ("Port", "attributes.parameters.port"),
    ("State", "attributes.state"),
    ("State Details", "attributes.state_details"),
    ("Version", "attributes.version_string"),
    ("Services", "relationships.services.data[].id"),
    ("Monitors", "relationships.monitors.data[].id"),
    ("Master", "attributes.master"),
    ("Master ID", "attributes.master_id|attributes.slave_connections[].master_server_id"),
    ("Node ID", "attributes.server_id"),
    ("Read Only", "attributes.read_only"),
    ("GTID Current Pos", "attributes.gtid_current_pos"),
    ("GTID Binlog Pos", "attributes.gtid_binlog_pos"),
    ("Replication Lag", "attributes.replication_lag"),
    ("Current Connections", "attributes.statistics.connections"),
    ("Total Connections", "attributes.statistics.total_connections"),
    ("Slave Connections", "attributes.slave_connections"),
    ("Statistics", "attributes.statistics"),
    ("Parameters", "attributes.parameters"),
)
SHOW_SERVICE: Spec = (
    ("Service", "id"),
    ("Router", "attributes.router"),
    ("State", "attributes.state"),
    ("Current Connections", "attributes.statistics.connections"),
    ("Total Connections", "attributes.statistics.total_connections"),
    ("Servers", "relationships.servers.data[].id"),
    ("Listeners", "relationships.listeners.data[].id"),
    ("Monitors", "relationships.monitors.data[].id"),
    ("Statistics", "attributes.statistics"),
    ("Parameters", "attributes.parameters"),
    ("Router Diagnostics", "attributes.router_diagnostics"),
)
SHOW_MONITOR: Spec = (
    ("Monitor", "id"),
    ("Module", "attributes.module"),
    ("State", "attributes.state"),
    ("Primary", "attributes.monitor_diagnostics.primary"),
    ("Servers", "relationships.servers.data[].id"),
    ("Ticks", "attributes.ticks"),
    ("Parameters", "attributes.parameters"),
    ("Monitor Diagnostics", "attributes.monitor_diagnostics"),
)
SHOW_SESSION: Spec = (
    ("Id", "id"),
    ("Service", "attributes.service|relationships.services.data[].id"),
    ("State", "attributes.state"),
    ("User", "attributes.user"),
    ("Host", "attributes.remote"),
    ("Connected", "attributes.connected"),
    ("Idle", "attributes.idle"),
    ("Servers", "attributes.servers|relationships.servers.data[].id"),
)
SHOW_MAXSCALE: Spec = (
    ("Version", "attributes.version"),
    ("Started At", "attributes.started_at"),
    ("Uptime", "attributes.uptime"),
    ("Threads", "attributes.threads"),
    ("Parameters", "attributes.parameters"),
)
