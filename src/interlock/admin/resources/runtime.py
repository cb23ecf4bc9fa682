"""Runtime changes of servers, services, monitors and listeners, in MaxScale's REST shapes
(``maxctrl create|alter|destroy|link|unlink``).  Every write applies without a restart and is
saved in ``persistdir`` (``interlock.admin.runtime_apply``); success is 204 No Content, as MaxScale.

- ``POST /v1/servers`` ``{"data": {"id": NAME, "type": "servers", "attributes": {"parameters":
  {...}}, "relationships": {"services": {"data": [{"id": S, "type": "services"}]},
  "monitors": {...}}}}``; ``PATCH /v1/servers/NAME`` (parameters and/or relationships; a
  relationship given replaces the old one); ``DELETE /v1/servers/NAME`` (403 while services or
  monitors use it, unless ``force=yes``, which unlinks it first).
- ``PATCH /v1/services/NAME``, ``PATCH /v1/monitors/NAME``: parameters (``null`` removes one:
  back to its default) and ``relationships.servers``; ``POST /v1/services`` (``attributes.router``)
  and ``POST /v1/monitors`` (``attributes.module``); ``DELETE`` of both.
- ``PATCH /v1/services/NAME/relationships/servers``, ``.../monitors/NAME/relationships/servers``,
  ``.../servers/NAME/relationships/services|monitors``: ``{"data": [{"id", "type"}, ...]}``.
- ``POST /v1/listeners`` (``relationships.services``: its one service) or ``POST
  /v1/services/NAME/listeners``; ``PATCH /v1/listeners/NAME``; ``DELETE /v1/listeners/NAME``
  or ``DELETE /v1/services/NAME/listeners/NAME``.  A listener opens, moves or closes at once
  (``interlock.server.listener_set``); a port this host cannot bind refuses the change (409)
  with nothing changed.

Parameter values are the text a configuration file would hold (JSON numbers and booleans are
written as ``5`` / ``true``; lists joined with commas), and they are checked by the same loader:
``monitor_interval: 5000`` is refused like ``monitor_interval=5000`` in a file (no unit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from interlock.admin import jsonapi
from interlock.admin.context import AdminContext
from interlock.admin.http import json_response
from interlock.admin.routes import Route, json_body, query_flag
from interlock.admin.runtime_apply import ChangeRefused, Op, configurator
from interlock.config.runtime import Edit
from interlock.errors import AdminError

#: REST collection -> config type, and the module attribute of each
KINDS = {"servers": "server", "services": "service", "monitors": "monitor",
         "listeners": "listener"}
MODULE_ATTRIBUTE = {"services": "router", "monitors": "module"}
#: the relationships a resource may be given, and the type of their members
RELATIONSHIPS = {"servers": ("services", "monitors"), "services": ("servers",),
                 "monitors": ("servers",), "listeners": ("services",)}


async def _run(ctx: AdminContext, what: str, *ops: Op) -> web.Response | None:
    try:
        await configurator(ctx.proxy).change(what, *ops)
    except ChangeRefused as exc:
        return json_response(jsonapi.errors(*exc.messages), exc.status)
    return None


# -- reading the request --------------------------------------------------------------------


def _data(body: Mapping[str, Any], collection: str) -> Mapping[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise AdminError(400, 'the body must be {"data": {...}} (a JSON:API resource)')
    kind = data.get("type")
    if kind is not None and kind != collection:
        raise AdminError(400, f"data.type is {kind!r}; expected {collection!r}")
    return data


def _name(data: Mapping[str, Any], url_name: str | None = None) -> str:
    ident = data.get("id")
    if url_name is not None:
        if ident is not None and ident != url_name:
            raise AdminError(400, f"data.id {ident!r} is not {url_name!r}: objects cannot be "
                                  "renamed")
        return url_name
    if not isinstance(ident, str) or not ident:
        raise AdminError(400, "data.id: the name of the new object is required")
    return ident


def _text(key: str, value: Any) -> str | None:
    """A JSON parameter value as the text of ``key=value`` in a file; None removes it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ",".join(str(v) for v in value)
    raise AdminError(400, f"parameters.{key}: expected a string, number, boolean, list or "
                          "null")


def _parameters(data: Mapping[str, Any], collection: str) -> dict[str, str | None]:
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise AdminError(400, "data.attributes must be an object")
    given = attributes.get("parameters") or {}
    if not isinstance(given, dict):
        raise AdminError(400, "data.attributes.parameters must be an object")
    params = {str(key): _text(str(key), value) for key, value in given.items()}
    module_key = MODULE_ATTRIBUTE.get(collection)
    if module_key is not None and attributes.get(module_key) is not None:
        params[module_key] = _text(module_key, attributes[module_key])
    return params


def _members(document: Any, kind: str, where: str) -> list[str]:
    """The ids of a relationship document ``{"data": [{"id", "type"}, ...]}``."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise AdminError(400, f'{where}: expected {{"data": [{{"id": NAME, "type": "{kind}"}}, '
                              '...]}')
    names = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise AdminError(400, f"{where}: every member needs an id")
        if item.get("type", kind) != kind:
            raise AdminError(400, f"{where}: member {item['id']!r} has type {item['type']!r}; "
                                  f"expected {kind!r}")
        names.append(item["id"])
    return names


def _relationships(data: Mapping[str, Any], collection: str) -> dict[str, list[str]]:
    given = data.get("relationships") or {}
    if not isinstance(given, dict):
        raise AdminError(400, "data.relationships must be an object")
    allowed = RELATIONSHIPS[collection]
    found = {}
    for kind, document in given.items():
        if kind not in allowed:
            raise AdminError(403 if kind == "listeners" else 400,
                             f"relationships.{kind}: a {KINDS[collection]} can be related to "
                             f"{' and '.join(allowed)} at runtime")
        found[kind] = _members(document, kind, f"relationships.{kind}")
    return found


def _link_ops(collection: str, name: str, relationships: dict[str, list[str]]) -> list[Op]:
    return [_link_op(collection, name, kind, members)
            for kind, members in relationships.items()]


def _link_op(collection: str, name: str, related: str, members: list[str]) -> Op:
    def link(edit: Edit) -> None:
        if collection == "servers":  # the server is in exactly these services / monitors
            edit.set_owners(name, KINDS[related], members)
        else:
            edit.set_servers(KINDS[collection], name, members)

    return link


# -- handlers -------------------------------------------------------------------------------


def _create(collection: str) -> Any:
    kind = KINDS[collection]

    async def create(ctx: AdminContext, request: web.Request) -> web.Response | None:
        data = _data(await json_body(request), collection)
        name = _name(data)
        params = _parameters(data, collection)
        links = _relationships(data, collection)
        if kind != "server" and "servers" in links:
            params["servers"] = ",".join(links.pop("servers")) or None
        if kind == "listener":
            params.update(_listener_service(links, request.match_info.get("service")))

        def make(edit: Edit) -> None:
            edit.create(kind, name, params)

        return await _run(ctx, f"created {kind} '{name}'", make,
                          *_link_ops(collection, name, links))

    return create


def _alter(collection: str) -> Any:
    kind = KINDS[collection]

    async def alter(ctx: AdminContext, request: web.Request) -> web.Response | None:
        name = request.match_info["name"]
        data = _data(await json_body(request), collection)
        _name(data, name)
        params = _parameters(data, collection)
        links = _relationships(data, collection)
        if kind == "listener":
            params.update(_listener_service(links, None))
        ops: list[Op] = []
        if params:
            ops.append(lambda e: e.alter(kind, name, params))
        ops += _link_ops(collection, name, links)
        if not ops:  # still a 404 for an unknown name
            ops.append(lambda e: e.alter(kind, name, {}))
        changed = ", ".join([*params, *(f"relationships.{k}" for k in links)]) or "nothing"
        return await _run(ctx, f"altered {kind} '{name}': {changed}", *ops)

    return alter


def _destroy(collection: str) -> Any:
    kind = KINDS[collection]

    async def destroy(ctx: AdminContext, request: web.Request) -> web.Response | None:
        name = request.match_info["name"]
        force = query_flag(request, "force")
        service = request.match_info.get("service")
        if service is not None:  # DELETE /v1/services/S/listeners/NAME: a listener of S
            listener = ctx.proxy.config.listeners.get(name)
            if listener is not None and listener.service != service:
                raise AdminError(404, f"listener '{name}' belongs to service "
                                      f"'{listener.service}', not '{service}'")
        return await _run(ctx, f"destroyed {kind} '{name}'" + (" (force)" if force else ""),
                          lambda e: e.destroy(kind, name, force))

    return destroy


def _relationship(collection: str, related: str) -> Any:
    kind = KINDS[collection]

    async def relate(ctx: AdminContext, request: web.Request) -> web.Response | None:
        name = request.match_info["name"]
        members = _members(await json_body(request), related, "the body")
        ops = _link_ops(collection, name, {related: members})
        return await _run(ctx, f"{kind} '{name}': {related} = {', '.join(members) or 'none'}",
                          *ops)

    return relate


def _listener_service(links: dict[str, list[str]], url_service: str | None
                      ) -> dict[str, str | None]:
    """A listener's ``relationships.services`` (or the service of the URL) as its
    ``service`` parameter: exactly one service."""
    named = links.pop("services", None)
    if url_service is not None:
        if named is not None and named != [url_service]:
            raise AdminError(400, f"relationships.services must be [{url_service!r}], the "
                                  "service of the URL")
        named = [url_service]
    if named is None:
        return {}
    if len(named) != 1:
        raise AdminError(400, "relationships.services: a listener belongs to exactly one "
                              "service")
    return {"service": named[0]}


_PARAMS = {"type": "object", "additionalProperties": {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
              {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}]}}]}}
_MEMBERS = {"type": "object", "required": ["data"], "properties": {"data": {
    "type": "array", "items": {"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "type": {"type": "string"}}}}}}


def _body(collection: str, create: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {"parameters": _PARAMS}
    if collection in MODULE_ATTRIBUTE:
        attributes[MODULE_ATTRIBUTE[collection]] = {"type": "string"}
    resource: dict[str, Any] = {"type": "object", "properties": {
        "id": {"type": "string"}, "type": {"type": "string", "enum": [collection]},
        "attributes": {"type": "object", "properties": attributes},
        "relationships": {"type": "object", "properties": {
            k: _MEMBERS for k in RELATIONSHIPS[collection]}}}}
    if create:
        resource["required"] = ["id"]
    return {"type": "object", "required": ["data"], "properties": {"data": resource}}


def _routes() -> tuple[Route, ...]:
    found: list[Route] = []
    for collection in ("servers", "services", "monitors", "listeners"):
        kind = KINDS[collection]
        found += [
            Route("POST", f"/v1/{collection}", _create(collection),
                  f"create a {kind} (saved in persistdir)", body=_body(collection, True)),
            Route("PATCH", f"/v1/{collection}/{{name}}", _alter(collection),
                  f"change a {kind}'s parameters or relationships (saved in persistdir)",
                  body=_body(collection, False)),
            Route("DELETE", f"/v1/{collection}/{{name}}", _destroy(collection),
                  f"destroy a {kind}" + (" (force=yes unlinks it first)"
                                         if kind == "server" else ""),
                  query=("force",) if kind == "server" else ()),
        ]
        for related in RELATIONSHIPS[collection] if collection != "listeners" else ():
            found.append(Route("PATCH", f"/v1/{collection}/{{name}}/relationships/{related}",
                               _relationship(collection, related),
                               f"set the {related} of a {kind} (link / unlink)", body=_MEMBERS))
    found += [
        Route("POST", "/v1/services/{service}/listeners", _create("listeners"),
              "create a listener of this service", body=_body("listeners", True)),
        Route("DELETE", "/v1/services/{service}/listeners/{name}", _destroy("listeners"),
              "destroy a listener of this service"),
    ]
    return tuple(found)


ROUTES = _routes()
