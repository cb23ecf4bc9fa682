"""``/v1/monitors``: the monitors, their parameters and diagnostics; the mariadbmon commands
in MaxScale's form: ``POST /v1/maxscale/modules/mariadbmon/{command}?MONITOR&ARG...``.

Commands (arguments by position in the query string, as maxctrl sends them; MaxScale 24.08's
``key=value`` forms are accepted too):

- ``switchover MON [new] [old]`` (``new_primary=``, ``old_primary=``, Interlock:
  ``timeout=`` seconds for the new primary's catch-up),
- ``failover MON [new]`` (Interlock: the optional target, ``new_primary=``),
- ``rejoin MON SERVER`` (Interlock: ``force=yes`` rejoins a server whose GTID does not fit),
- ``reset-replication MON [primary]``.

The request waits for the operation to end (maxctrl's default, synchronous; a switchover takes
seconds); a client that disconnects does not cancel it.  Answers: **204** the operation
succeeded; **400** bad arguments; **404** no such command, monitor or server; **409** the
monitor refused it (the cluster's state does not allow it: nothing was done; the text says
why and what can be done); **502** it ran and a step failed on a server (the text names the
step, the error, and whether it was rolled back, as the monitor's event says); **501** the
command is not available in this build.  MaxScale answers every failure with 400; Interlock
tells a refusal (nothing changed) from a failure (a server failed mid-way) because a script
must act differently on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from interlock.admin import jsonapi, views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.operation_view import operation_of, operations_of
from interlock.admin.resources.common import parameters, positional_query, slave_connections
from interlock.admin.routes import Route, flag_value, principal
from interlock.errors import AdminError
from interlock.log import get_logger
from interlock.monitor.executor import PlanOutcome
from interlock.monitor.loop import MonitorRuntime, Outcome

log = get_logger(__name__)

KIND = "monitors"
MODULE = "mariadbmon"


# -- resources ----------------------------------------------------------------------------------


def server_info(monitor: MonitorRuntime) -> list[JsonObject]:
    """mariadbmon's ``monitor_diagnostics.server_info``: each server as the monitor sees it."""
    cluster = monitor.cluster
    found = []
    for status in monitor.status():
        view = cluster.server(status.name) if cluster is not None else None
        obs = view.observation if view is not None and view.running else None
        mode = monitor.admin.get(status.name)
        found.append({
            "name": status.name,
            "state": status.state,
            "gtid_current_pos": str(obs.gtid_current_pos) if obs else None,
            "gtid_binlog_pos": str(obs.gtid_binlog_pos) if obs else None,
            "read_only": obs.read_only if obs else None,
            "server_id": obs.server_id if obs else None,
            "failures": status.failures,
            "note": status.note,
            "maintenance": bool(mode and mode.maintenance),
            "draining": bool(mode and mode.draining),
            "slave_connections": slave_connections(obs),
        })
    return found


def monitor_resource(ctx: AdminContext, name: str, operation: JsonObject | None = None
                     ) -> JsonObject:
    """``operation``: the monitor's cluster operation (admin/operation_view.py), read by the
    caller because that may ask etcd."""
    monitor = views.monitor_named(ctx.proxy, name)
    cluster = monitor.cluster
    judgement = monitor.judgement
    attributes: dict[str, Any] = {
        "module": monitor.config.module,
        "state": "Running" if monitor.running else "Stopped",
        "ticks": monitor.ticks,
        # cluster=etcd: leadership (is_leader, leader: instance, admin_url, since); else None
        "cluster": monitor.leadership.as_json() if monitor.leadership is not None else None,
        # a switchover/failover under way or left standing by a dead leader; else None
        "operation": operation,
        "parameters": parameters(monitor.config, skip=("name", "module", "servers")),
        "monitor_diagnostics": {
            "primary": cluster.primary if cluster is not None else None,
            "master": cluster.primary if cluster is not None else None,  # MaxScale's name
            "primary_reason": cluster.primary_reason if cluster is not None else None,
            "verdict": judgement.verdict.value if judgement is not None else None,
            "verdict_reason": judgement.reason if judgement is not None else None,
            "operation_running": monitor.gate.held,
            "server_info": server_info(monitor),
            "warnings": list(cluster.warnings) if cluster is not None else [],
        },
    }
    relationships = {"servers": jsonapi.relationship("servers", list(monitor.servers), KIND,
                                                     name)}
    return jsonapi.resource(KIND, name, attributes, relationships)


async def list_monitors(ctx: AdminContext, request: web.Request) -> JsonObject:
    operations = await operations_of(ctx.proxy)
    return jsonapi.document([monitor_resource(ctx, n, operations.get(n))
                             for n in ctx.proxy.monitors], "/v1/monitors/")


async def show_monitor(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["name"]
    operation = await operation_of(ctx.proxy, views.monitor_named(ctx.proxy, name))
    return jsonapi.document(monitor_resource(ctx, name, operation), f"/v1/monitors/{name}/")


# -- commands -----------------------------------------------------------------------------------


class Arguments:
    """A command's query-string arguments: the monitor first, then by position or name."""

    def __init__(self, ctx: AdminContext, request: web.Request, command: str,
                 names: tuple[str, ...], flags: tuple[str, ...] = ()) -> None:
        positional, named = positional_query(request)
        if not positional:
            raise AdminError(400, f"{command}: the monitor is missing: POST /v1/maxscale/"
                                  f"modules/{MODULE}/{command}?MONITOR"
                                  + "".join(f"[&{n}]" for n in names))
        self.monitor = views.monitor_named(ctx.proxy, positional[0])
        rest = positional[1:]
        if len(rest) > len(names):
            raise AdminError(400, f"{command}: too many arguments {rest!r}; expected "
                                  f"MONITOR{''.join(f' [{n}]' for n in names)}")
        unknown = set(named) - set(names) - set(flags)
        if unknown:
            raise AdminError(400, f"{command}: unknown argument(s) {', '.join(sorted(unknown))}"
                                  f"; known: {', '.join(names + flags) or 'none'}")
        self.values: dict[str, str] = dict(zip(names, rest, strict=False))
        for key in names:
            if key in named:
                if key in self.values:
                    raise AdminError(400, f"{command}: {key} given twice")
                self.values[key] = named[key]
        self.flags = {key: named[key] for key in flags if key in named}

    def server(self, key: str) -> str | None:
        """A server argument (404 when the monitor has no such server)."""
        value = self.values.get(key)
        if value is None or value == "":
            return None
        if value not in self.monitor.servers:
            raise AdminError(404, f"monitor '{self.monitor.name}' has no server '{value}'")
        return value

    def flag(self, key: str) -> bool:
        return flag_value(key, self.flags.get(key))

    def seconds(self, key: str) -> float | None:
        value = self.flags.get(key)
        if value is None:
            return None
        try:
            seconds = float(value.removesuffix("s"))
        except ValueError as exc:
            raise AdminError(400, f"{key}={value!r}: expected seconds") from exc
        if seconds <= 0:
            raise AdminError(400, f"{key}={value!r}: expected a positive number of seconds")
        return seconds


async def _run(request: web.Request, command: str, monitor: MonitorRuntime,
               operation: Awaitable[Outcome]) -> None:
    """Wait for the operation (a disconnecting client does not cancel it) and turn its
    outcome into the answer: None (204), or an AdminError (409 refused, 502 failed)."""
    log.notice("Monitor '%s': %s requested through the admin API by '%s'", monitor.name,
               command, principal(request).name)
    outcome = await asyncio.shield(asyncio.ensure_future(operation))
    if not isinstance(outcome, PlanOutcome):
        raise AdminError(409, outcome.describe())
    if not outcome.ok:
        raise AdminError(502, outcome.describe())


async def switchover(ctx: AdminContext, request: web.Request, command: str) -> None:
    args = Arguments(ctx, request, command, ("new_primary", "old_primary"), ("timeout",))
    monitor = args.monitor
    new, old = args.server("new_primary"), args.server("old_primary")
    timeout = args.seconds("timeout")
    current = monitor.cluster.primary if monitor.cluster is not None else None
    if old is not None and old != current:
        raise AdminError(409, f"switchover refused: '{old}' is not the primary; the primary is "
                              f"'{current or 'unknown'}'")
    await _run(request, command, monitor, monitor.switchover(to=new, timeout=timeout))


async def failover(ctx: AdminContext, request: web.Request, command: str) -> None:
    args = Arguments(ctx, request, command, ("new_primary",))
    monitor = args.monitor
    await _run(request, command, monitor, monitor.failover(to=args.server("new_primary")))


async def rejoin(ctx: AdminContext, request: web.Request, command: str) -> None:
    args = Arguments(ctx, request, command, ("server",), ("force",))
    server = args.server("server")
    if server is None:
        raise AdminError(400, f"rejoin: the server is missing: POST /v1/maxscale/modules/"
                              f"{MODULE}/rejoin?{args.monitor.name}&SERVER")
    monitor = args.monitor
    await _run(request, command, monitor, monitor.rejoin(server, force=args.flag("force")))


async def reset_replication(ctx: AdminContext, request: web.Request, command: str) -> None:
    args = Arguments(ctx, request, command, ("primary",))
    monitor = args.monitor
    method: Callable[[str | None], Awaitable[Outcome]] | None = getattr(
        monitor, "reset_replication", None)
    if method is None:
        raise AdminError(501, "reset-replication is not available in this build of Interlock "
                              "(the monitor has no reset-replication operation yet)")
    await _run(request, command, monitor, method(args.server("primary")))


COMMANDS: dict[str, Callable[[AdminContext, web.Request, str], Awaitable[None]]] = {
    "switchover": switchover,
    "failover": failover,
    "rejoin": rejoin,
    "reset-replication": reset_replication,
}


async def module_command(ctx: AdminContext, request: web.Request) -> None:
    command = request.match_info["command"]
    handler = COMMANDS.get(command)
    if handler is None:
        raise AdminError(404, f"mariadbmon has no command '{command}'; commands: "
                              f"{', '.join(COMMANDS)}")
    await handler(ctx, request, command)


ROUTES = (
    Route("GET", "/v1/monitors", list_monitors, "all monitors"),
    Route("GET", "/v1/monitors/{name}", show_monitor, "one monitor"),
    Route("POST", "/v1/maxscale/modules/mariadbmon/{command}", module_command,
          "run a mariadbmon command: switchover, failover, rejoin or reset-replication "
          "(arguments in the query string: MONITOR first, then by position)"),
)
