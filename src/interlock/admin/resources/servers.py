"""``/v1/servers``: the backend servers, their monitor view and live statistics; ``set`` and
``clear`` of maintenance and drain (MaxScale: ``PUT /v1/servers/:name/set?state=...``).

As in mariadbmon, only ``maintenance`` and ``drain`` can be changed by hand on a monitored
server, and not on the current primary ("first perform a switchover").  ``force=yes`` with
maintenance closes the sessions using the server at once (``maxctrl set server S maintenance
--force``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from interlock.admin import jsonapi, views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.metrics import server_counters
from interlock.admin.resources.common import slave_connections
from interlock.admin.routes import Route, query_flag
from interlock.errors import AdminError
from interlock.log import get_logger
from interlock.monitor.cluster import ServerView
from interlock.monitor.states import ServerState

log = get_logger(__name__)

KIND = "servers"
SETTABLE = ("maintenance", "drain")


def server_resource(ctx: AdminContext, name: str) -> JsonObject:
    proxy = ctx.proxy
    cfg = views.server_config(proxy, name)
    view = views.server_view(proxy, name)
    monitor = views.monitor_of_server(proxy, name)
    load = views.server_load(proxy, name)
    attributes: dict[str, Any] = {
        **_monitor_attributes(view, monitor.cluster.primary if monitor and monitor.cluster
                              else None),
        "parameters": {"address": cfg.address, "port": cfg.port, "protocol": cfg.protocol,
                       "priority": cfg.priority, "weight": cfg.weight,
                       "ssl": cfg.tls.enabled},
        "statistics": {
            "connections": load.connections,
            "active_operations": load.current_operations,
            "routed_queries": views.routed_queries(proxy, name),
            **server_counters(proxy, name),
        },
    }
    if view is None:
        attributes["state"] = _static_state(ctx, name)
    relationships = {
        "services": jsonapi.relationship("services", views.services_of_server(proxy, name),
                                         KIND, name),
        "monitors": jsonapi.relationship("monitors", [monitor.name] if monitor else [],
                                         KIND, name),
    }
    return jsonapi.resource(KIND, name, attributes, relationships)


def _monitor_attributes(view: ServerView | None, primary: str | None) -> dict[str, Any]:
    if view is None:
        return {"state": "", "state_details": "not monitored"}
    obs = view.observation if view.running else None
    known = obs or view.last_good
    lag = None
    if view.name == primary and obs is not None:
        lag = 0
    elif obs is not None:
        lags = [s.seconds_behind_master for s in obs.slaves]
        lag = max((x for x in lags if x is not None), default=None)
    return {
        "state": view.state_text,
        "state_details": "" if view.running or view.observation is None
        or view.observation.error is None else str(view.observation.error),
        "gtid_current_pos": str(obs.gtid_current_pos) if obs else None,
        "gtid_binlog_pos": str(obs.gtid_binlog_pos) if obs else None,
        "replication_lag": lag,
        "read_only": obs.read_only if obs else None,
        "server_id": known.server_id if known else None,
        "version_string": known.version if known else None,
        "slave_connections": slave_connections(obs),
        "master": primary,
        "is_primary": view.name == primary and bool(view.states & ServerState.MASTER),
    }


def _static_state(ctx: AdminContext, name: str) -> str:
    """State of a server no monitor covers: the static role the services route by."""
    for service in ctx.proxy.services.values():
        info = service.topology.current.server(name)
        if info is not None:
            return f"{info.role.name.title()} (static)"
    return "Unused"


async def list_servers(ctx: AdminContext, request: web.Request) -> JsonObject:
    return jsonapi.document([server_resource(ctx, n) for n in ctx.proxy.config.servers],
                            "/v1/servers/")


async def show_server(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["name"]
    return jsonapi.document(server_resource(ctx, name), f"/v1/servers/{name}/")


def _state_argument(request: web.Request) -> str:
    state = request.query.get("state", "")
    if state not in SETTABLE:
        raise AdminError(400, f"state={state!r}: only {' and '.join(SETTABLE)} can be set or "
                              "cleared by hand on a monitored server")
    return state


async def set_state(ctx: AdminContext, request: web.Request) -> None:
    await _change(ctx, request, on=True)


async def clear_state(ctx: AdminContext, request: web.Request) -> None:
    await _change(ctx, request, on=False)


async def _change(ctx: AdminContext, request: web.Request, on: bool) -> None:
    name = request.match_info["name"]
    views.server_config(ctx.proxy, name)
    state = _state_argument(request)
    force = query_flag(request, "force")
    monitor = views.monitor_of_server(ctx.proxy, name)
    if monitor is None:
        raise AdminError(403, f"server '{name}' is not monitored; {state} needs a monitor")
    primary = monitor.cluster.primary if monitor.cluster is not None else None
    if on and name == primary:
        raise AdminError(403, f"The server is primary, so it cannot be set in {state} mode. "
                              "First perform a switchover")
    if state == "maintenance":
        monitor.set_maintenance(name, on)
    else:
        monitor.set_draining(name, on)
    await monitor.refresh()
    if on and force and state == "maintenance":
        closed = views.sessions_on(ctx.proxy, name)
        for client in closed:
            if client.session is not None:
                client.session.close()
        log.notice("Server '%s' in maintenance with --force: closed %d session(s)", name,
                   len(closed))


ROUTES = (
    Route("GET", "/v1/servers", list_servers, "all servers"),
    Route("GET", "/v1/servers/{name}", show_server, "one server"),
    Route("PUT", "/v1/servers/{name}/set", set_state,
          "set maintenance or drain (force=yes closes its sessions)", query=("state", "force")),
    Route("PUT", "/v1/servers/{name}/clear", clear_state, "clear maintenance or drain",
          query=("state",)),
)
