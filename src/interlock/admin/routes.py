"""The REST API's route table: each resource module exports ``ROUTES`` (a tuple of
:class:`Route`); ``interlock.admin.http`` mounts them and the OpenAPI document lists them.

A handler is ``async (ctx, request) -> JsonObject | None``: a JSON document (200) or None (204
No Content, MaxScale's answer to a successful action).  It raises
:class:`~interlock.errors.AdminError` for a failure; the server turns that into a JSON:API
``errors`` document with the status.  Requests other than GET/HEAD need an ``admin`` account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from interlock.admin.auth import Principal
from interlock.admin.jsonapi import JsonObject
from interlock.errors import AdminError

if TYPE_CHECKING:
    from interlock.admin.context import AdminContext

#: who made the request (set by the authentication middleware)
PRINCIPAL = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


Handler = Callable[["AdminContext", web.Request],
                   Awaitable[JsonObject | web.StreamResponse | None]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # GET, POST, PUT, PATCH, DELETE
    path: str  # aiohttp pattern, e.g. "/v1/servers/{name}"
    handler: Handler
    summary: str  # one line, for the OpenAPI document
    query: tuple[str, ...] = ()  # accepted query parameters (documented)
    body: dict[str, Any] | None = field(default=None)  # JSON schema of the request body


def flag_value(name: str, value: str | None) -> bool:
    """A yes/no query value (absent: no); 400 for anything else."""
    if value is None:
        return False
    if value.lower() in ("", "1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise AdminError(400, f"query parameter {name}={value!r}: expected true or false")


def query_flag(request: web.Request, name: str) -> bool:
    return flag_value(name, request.query.get(name))


async def json_body(request: web.Request) -> JsonObject:
    """The request's JSON object body (400 when it is not one)."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise AdminError(400, f"the request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AdminError(400, "the request body must be a JSON object")
    return body
