"""``/v1/listeners``: the listeners, where they listen and for which service."""

from __future__ import annotations

from aiohttp import web

from interlock.admin import jsonapi, views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.resources.common import parameters
from interlock.admin.resources.sessions import live
from interlock.admin.routes import Route
from interlock.errors import AdminError

KIND = "listeners"


def listener_state(ctx: AdminContext, name: str) -> str:
    """``Running`` while its socket accepts connections."""
    item = ctx.proxy.listener_set.get(name)
    serving = item is not None and item.server is not None and item.server.is_serving()
    return "Running" if serving else "Stopped"


def listener_resource(ctx: AdminContext, name: str) -> JsonObject:
    cfg = ctx.proxy.config.listeners.get(name)
    if cfg is None:
        raise AdminError(404, f"no listener '{name}'")
    sessions = sum(1 for client in views.clients(ctx.proxy)
                   if client.ctx.listener.name == name and live(client))
    attributes = {
        "state": listener_state(ctx, name),
        "parameters": parameters(cfg, skip=("name",)),
        "statistics": {"connections": sessions},
    }
    relationships = {"services": jsonapi.relationship("services", [cfg.service], KIND, name)}
    return jsonapi.resource(KIND, name, attributes, relationships)


async def list_listeners(ctx: AdminContext, request: web.Request) -> JsonObject:
    return jsonapi.document([listener_resource(ctx, n) for n in ctx.proxy.config.listeners],
                            "/v1/listeners/")


async def show_listener(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["name"]
    return jsonapi.document(listener_resource(ctx, name), f"/v1/listeners/{name}/")


async def service_listeners(ctx: AdminContext, request: web.Request) -> JsonObject:
    """MaxScale's ``GET /v1/services/:name/listeners``."""
    name = request.match_info["name"]
    views.service_named(ctx.proxy, name)
    found = [listener_resource(ctx, n) for n, cfg in ctx.proxy.config.listeners.items()
             if cfg.service == name]
    return jsonapi.document(found, f"/v1/services/{name}/listeners/")


ROUTES = (
    Route("GET", "/v1/listeners", list_listeners, "all listeners"),
    Route("GET", "/v1/listeners/{name}", show_listener, "one listener"),
    Route("GET", "/v1/services/{name}/listeners", service_listeners,
          "the listeners of one service"),
)
