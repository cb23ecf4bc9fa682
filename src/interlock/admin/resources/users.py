"""``/v1/users``: the admin API's own users (network users, MaxScale's ``inet`` type).

``POST /v1/users/inet`` (or ``/v1/users``) with ``{"data": {"id": NAME, "type": "inet",
"attributes": {"password": PW, "account": "admin"|"basic"}}}`` creates one (204, as MaxScale);
``DELETE /v1/users/inet/{name}`` removes one (not the last admin).  Passwords are never shown.
``admin`` accounts may change things; ``basic`` accounts only read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from interlock.admin import jsonapi
from interlock.admin.auth import Account
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.routes import Route, json_body, principal
from interlock.errors import AdminError
from interlock.log import get_logger

log = get_logger(__name__)

TYPE = "inet"

#: the request body of POST /v1/users/inet (JSON schema; the OpenAPI document shows it)
NEW_USER: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {
        "type": "object",
        "required": ["id", "attributes"],
        "properties": {
            "id": {"type": "string", "pattern": "^[^/:]+$",
                   "description": "the user name (no '/' or ':')"},
            "type": {"type": "string", "enum": [TYPE]},
            "attributes": {
                "type": "object",
                "required": ["password"],
                "properties": {
                    "password": {"type": "string", "minLength": 8},
                    "account": {"type": "string", "enum": [a.value for a in Account],
                                "default": Account.BASIC.value},
                },
            },
        },
    }},
}


def user_resource(name: str, account: Account) -> JsonObject:
    return {"id": name, "type": TYPE, "attributes": {"account": account.value},
            "links": {"self": f"{jsonapi.BASE}users/{TYPE}/{name}/"}}


async def list_users(ctx: AdminContext, request: web.Request) -> JsonObject:
    found = [user_resource(n, a) for n, a in ctx.users.names().items()]
    return jsonapi.document(found, f"{jsonapi.BASE}users/{TYPE}/")


async def show_user(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["name"]
    account = ctx.users.names().get(name)
    if account is None:
        raise AdminError(404, f"no user '{name}'")
    return jsonapi.document(user_resource(name, account), f"{jsonapi.BASE}users/{TYPE}/{name}/")


def _new_user(body: JsonObject) -> tuple[str, str, Account]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise AdminError(400, 'the body must be {"data": {"id": NAME, "type": "inet", '
                              '"attributes": {"password": PW, "account": "admin"|"basic"}}}')
    name, kind = data.get("id"), data.get("type", TYPE)
    attributes = data.get("attributes")
    if not isinstance(name, str) or not isinstance(attributes, dict):
        raise AdminError(400, "data.id (the user name) and data.attributes are required")
    if "/" in name:
        raise AdminError(400, f"invalid user name {name!r}: '/' cannot be part of a URL path")
    if kind != TYPE:
        raise AdminError(400, f"data.type={kind!r}: only network users ('{TYPE}') exist")
    password, account = attributes.get("password"), attributes.get("account", "basic")
    if not isinstance(password, str):
        raise AdminError(400, "data.attributes.password is required")
    try:
        return name, password, Account(account)
    except ValueError as exc:
        raise AdminError(400, f"data.attributes.account={account!r}: expected admin or "
                              "basic") from exc


async def create_user(ctx: AdminContext, request: web.Request) -> None:
    name, password, account = _new_user(await json_body(request))
    # (hashing the password takes a tenth of a second: not on the proxy's event loop)
    await asyncio.to_thread(ctx.users.add, name, password, account)
    log.notice("Admin API: user '%s' (%s) created by '%s'", name, account.value,
               principal(request).name)


async def delete_user(ctx: AdminContext, request: web.Request) -> None:
    name = request.match_info["name"]
    ctx.users.remove(name)
    log.notice("Admin API: user '%s' removed by '%s'", name, principal(request).name)


ROUTES = (
    Route("GET", "/v1/users", list_users, "the admin API's users"),
    Route("GET", "/v1/users/inet", list_users, "the admin API's (network) users"),
    Route("GET", "/v1/users/inet/{name}", show_user, "one admin API user"),
    Route("POST", "/v1/users", create_user, "create an admin API user", body=NEW_USER),
    Route("POST", "/v1/users/inet", create_user, "create an admin API user", body=NEW_USER),
    Route("DELETE", "/v1/users/inet/{name}", delete_user, "remove an admin API user"),
)
