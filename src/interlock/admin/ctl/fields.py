"""What ``list`` and ``show`` print: columns and fields as data (pure).

A field is a title and a *path* into a JSON:API resource, written as maxctrl writes them:
``attributes.parameters.address``; ``relationships.servers.data[].id`` collects ``id`` over a
list; ``a|b`` takes the first alternative that has a value (Interlock's attribute, else
MaxScale's); a path starting with ``=`` names a value computed from the resource
(``DERIVED``: the one-line text of a monitor's cluster operation).  The ``list`` columns are
maxctrl's (``maxctrl list servers``: Server, Address, Port, Connections, State, GTID,
Monitor; ``list monitors`` adds Interlock's Operation); the ``show`` fields follow maxctrl's
names where Interlock has the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    derived = DERIVED.get(path)
    if derived is not None:
        return derived(resource)
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


# -- a monitor's cluster operation (attributes.operation; docs/cluster.md) -----------------

#: a takeover decision's verdict as ``show monitor`` words it
VERDICT_WORDS = {"manual": "left for a person", "complete": "to be completed",
                 "rollback": "to be rolled back", "clear": "nothing to undo"}


def _operation(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    op = pluck(resource, "attributes.operation")
    return op if isinstance(op, Mapping) else None


def _steps(op: Mapping[str, Any]) -> str:
    done, steps = op.get("steps_done"), op.get("steps")
    return f"{done}/{steps}" if done is not None and steps is not None else ""


def operation_short(resource: Mapping[str, Any]) -> str:
    """The ``list monitors`` column: ``-``, ``switchover 3/16 running``, ``switchover 9/16
    left for a person``, ``unknown``."""
    op = _operation(resource)
    if op is None:
        return "-"
    if op.get("state") == "unknown":
        return "unknown"
    decision = op.get("decision")
    state = str(op.get("state") or "")
    if state == "left" and isinstance(decision, Mapping) and decision.get("verdict") == "manual":
        state = "left for a person"
    return " ".join(p for p in (str(op.get("kind") or ""), _steps(op), state) if p)


def operation_text(resource: Mapping[str, Any]) -> str:
    """The ``show monitor`` line: what runs or stands, who wrote it, how far it got and, for
    an operation a dead leader left, what the takeover rule decides and why."""
    op = _operation(resource)
    if op is None:
        return "-"
    if op.get("state") == "unknown":
        return f"unknown: {op.get('error')}"
    kind, instance = op.get("kind"), op.get("instance")
    moves = f" {op['from'] or '?'} -> {op['to']}" if op.get("to") else ""
    if op.get("state") == "running":
        text = f"{kind}{moves} under way by {instance}"
    else:
        text = f"{kind}{moves} left by {instance}"
    if steps := _steps(op):
        text += f", {steps} step(s) done"
    about = [f"plan {op['plan_id']}"] if op.get("plan_id") else []
    if op.get("started"):
        about.append(f"started {op['started']}")
    if about:
        text += f" ({', '.join(about)})"
    if op.get("to") is None and op.get("state") == "running":
        text += " (writes held)"
    decision = op.get("decision")
    if isinstance(decision, Mapping):
        who = (f"the leader {decision.get('judged_by')} decides" if decision.get("by_leader")
               else f"as {decision.get('judged_by')} sees the servers")
        verdict = VERDICT_WORDS.get(str(decision.get("verdict")), str(decision.get("verdict")))
        text += f"; {who}: {verdict}: {decision.get('reason')}"
        if decision.get("todo"):
            text += f". What to do: {decision['todo']}"
    if op.get("error"):
        text += f" [etcd not read: {op['error']}]"
    return text


DERIVED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "=operation": operation_text,
    "=operation_short": operation_short,
}

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
    ("Operation", "=operation_short"),
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
    ("Operation", "=operation"),
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
