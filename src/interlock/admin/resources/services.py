"""``/v1/services``: the services, their router parameters and statistics; ``POST
/v1/services/{name}/reload`` reloads the service's user accounts (``maxctrl reload service``).

Statistics: ``connections`` are the sessions open now, ``total_connections`` those opened since
the start.  ``route_master`` / ``route_slave`` split the statements routed so far by the role
their server has *now* (a server's counter does not remember the role it had when it was
counted); ``router_diagnostics`` has the raw counters per routing reason and per server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from interlock.admin import jsonapi, views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.resources.common import parameters
from interlock.admin.routes import Route, principal
from interlock.errors import AdminError
from interlock.log import get_logger

if TYPE_CHECKING:
    from interlock.server.service import ServiceRuntime

log = get_logger(__name__)

KIND = "services"
#: RouterParams fields that belong to readconnroute; the rest are readwritesplit's
CONNROUTE_ONLY = ("router_options", "connroute_master_accept_reads")


def open_sessions(ctx: AdminContext, service: str) -> int:
    return sum(1 for client in views.clients(ctx.proxy)
               if client.session is not None and not client.session.closed
               and client.ctx.service.name == service)


def router_parameters(service: ServiceRuntime) -> dict[str, Any]:
    routing = service.config.routing
    if service.router == "readconnroute":
        return {"router_options": ",".join(routing.router_options),
                "master_accept_reads": routing.connroute_master_accept_reads,
                "max_replication_lag": routing.max_replication_lag}
    return parameters(routing, skip=CONNROUTE_ONLY)


def service_resource(ctx: AdminContext, name: str) -> JsonObject:
    proxy = ctx.proxy
    service = views.service_named(proxy, name)
    cfg = service.config
    primary = service.topology.current.primary
    primary_name = primary.name if primary is not None else None
    routed = dict(service.route_servers)
    counts = service.observations.counts()
    source = service.accounts.primary
    attributes: dict[str, Any] = {
        "router": cfg.router,
        "state": "Started",
        "parameters": {
            **parameters(cfg, skip=("name", "router", "servers", "routing")),
            **router_parameters(service),
        },
        "statistics": {
            "connections": open_sessions(ctx, name),
            "total_connections": counts.opened,
            "route_master": sum(n for s, n in routed.items() if s == primary_name),
            "route_slave": sum(n for s, n in routed.items() if s != primary_name),
            "reconnections": service.reconnections,
            "replayed_transactions": service.replays,
            "replay_failures": service.replay_failures,
        },
        "router_diagnostics": {
            "route_reasons": dict(sorted(service.route_reasons.items())),
            "route_servers": dict(sorted(routed.items())),
            "closed_by": {str(reason): n for reason, n in counts.by_reason},
        },
        "users": {
            "loaded": service.accounts.loaded,
            "accounts": len(service.accounts.table),
            "source": source.name if source is not None else None,
        },
    }
    monitor = proxy.monitor_of(name)
    listeners = [ln for ln, lc in proxy.config.listeners.items() if lc.service == name]
    relationships = {
        "servers": jsonapi.relationship("servers", cfg.servers, KIND, name),
        "listeners": jsonapi.relationship("listeners", listeners, KIND, name),
        "monitors": jsonapi.relationship("monitors", [monitor.name] if monitor else [],
                                         KIND, name),
    }
    return jsonapi.resource(KIND, name, attributes, relationships)


async def list_services(ctx: AdminContext, request: web.Request) -> JsonObject:
    return jsonapi.document([service_resource(ctx, n) for n in ctx.proxy.services],
                            "/v1/services/")


async def show_service(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["name"]
    return jsonapi.document(service_resource(ctx, name), f"/v1/services/{name}/")


async def reload_users(ctx: AdminContext, request: web.Request) -> None:
    """Load the service's user accounts from its primary now (``maxctrl reload service``)."""
    name = request.match_info["name"]
    service = views.service_named(ctx.proxy, name)
    log.notice("Service '%s': user accounts reload requested through the admin API by '%s'",
               name, principal(request).name)
    if await service.accounts.load():
        return
    source = service.accounts.primary
    why = service.accounts.connect_error
    raise AdminError(502, f"Service '{name}': the user accounts could not be loaded from "
                          f"server '{source.name if source else '(none: no primary)'}'"
                          + (f": {why.message}" if why is not None else "; see the log"))


ROUTES = (
    Route("GET", "/v1/services", list_services, "all services"),
    Route("GET", "/v1/services/{name}", show_service, "one service"),
    Route("POST", "/v1/services/{name}/reload", reload_users,
          "reload the service's user accounts from its primary"),
)
