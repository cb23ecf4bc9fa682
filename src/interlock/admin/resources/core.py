"""``GET /v1/`` (health check, as MaxScale's) and ``GET /v1/auth`` (a token)."""

from __future__ import annotations

from aiohttp import web

from interlock.admin.context import AdminContext
from interlock.admin.http import TOKEN_COOKIE
from interlock.admin.jsonapi import JsonObject
from interlock.admin.routes import Route, principal, query_flag
from interlock.errors import AdminError


async def root(ctx: AdminContext, request: web.Request) -> JsonObject:
    return {"links": {"self": "/v1/"}, "meta": {"version": _version()}}


async def auth(ctx: AdminContext, request: web.Request) -> JsonObject | web.Response:
    """A JWT for ``Authorization: Bearer``; ``max-age`` seconds (capped by admin_jwt_max_age);
    ``persist=yes``: in an HttpOnly SameSite=Strict cookie instead of the body."""
    raw = request.query.get("max-age")
    try:
        wanted = float(raw) if raw is not None else None
    except ValueError as exc:
        raise AdminError(400, f"max-age={raw!r}: expected seconds") from exc
    if wanted is not None and wanted <= 0:
        raise AdminError(400, f"max-age={raw!r}: expected a positive number of seconds")
    token, age = ctx.tokens.issue(principal(request), wanted)
    if query_flag(request, "persist"):
        response = web.Response(status=204)
        response.set_cookie(TOKEN_COOKIE, token, max_age=int(age), httponly=True,
                            samesite="Strict", secure=request.secure, path="/")
        return response
    return {"meta": {"token": token, "max_age": age,
                     "account": principal(request).account.value}}


def _version() -> str:
    from interlock import __version__
    return __version__


ROUTES = (
    Route("GET", "/v1/", root, "health check: 200 when the admin listener answers"),
    Route("GET", "/v1/auth", auth, "a token (JWT) for Authorization: Bearer",
          query=("max-age", "persist")),
)
