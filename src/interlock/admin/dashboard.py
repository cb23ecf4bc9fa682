"""The web dashboard's static files, served by the admin listener: ``GET /`` is the page,
``GET /dashboard/{path}`` its assets from ``interlock/admin/static/``.

Public paths (see ``http.PUBLIC_PATHS``): they hold no data; the page itself logs in through
``GET /v1/auth`` and polls the REST API with the token.  Only files of a known type under the
static directory are served (no directory listing, no ``..``, no dot files), each with its
content type, ``Cache-Control: no-cache`` (a proxy upgrade shows the new page at the next load)
and a Content-Security-Policy that lets the page load nothing but its own files and talk to
nothing but this listener.  ``admin_gui=false`` turns the dashboard off: 404 with a JSON error.
``POST /dashboard/logout`` expires the HttpOnly token cookie the page cannot clear itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

from aiohttp import web

from interlock.admin.context import AdminContext
from interlock.admin.http import TOKEN_COOKIE
from interlock.admin.routes import Route
from interlock.errors import AdminError

STATIC = Path(__file__).parent / "static"
INDEX = "index.html"

#: file types served (anything else under static/ answers 404)
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

#: the page may load its own files and call this listener, nothing else
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
}


def _gui_enabled(ctx: AdminContext) -> None:
    if not ctx.proxy.config.global_.admin_gui:
        raise AdminError(404, "the web dashboard is off (admin_gui=false in [maxscale]); the "
                              "REST API under /v1/ still answers")


def resolve(relative: str, root: Path = STATIC) -> Path | None:
    """The file ``relative`` names under ``root``, or None (unknown type, a dot or ``..``
    segment, a backslash, outside ``root``, not a regular file, a name the file system
    refuses)."""
    if "\\" in relative or "\x00" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if not parts or any(p in ("", ".", "..") or p.startswith(".") or p == "/" for p in parts):
        return None
    if PurePosixPath(relative).suffix not in CONTENT_TYPES:
        return None
    try:
        base = root.resolve()
        path = base.joinpath(*parts).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
    except (OSError, ValueError):  # a name too long for the file system, ...
        return None
    return path


async def _file(path: Path) -> web.Response:
    body = await asyncio.to_thread(path.read_bytes)
    response = web.Response(body=body, headers=HEADERS)
    response.headers["Content-Type"] = CONTENT_TYPES[path.suffix]
    return response


async def index(ctx: AdminContext, request: web.Request) -> web.Response:
    _gui_enabled(ctx)
    path = resolve(INDEX)
    if path is None:
        raise AdminError(500, f"the dashboard is not installed ({STATIC / INDEX} is missing)")
    return await _file(path)


async def asset(ctx: AdminContext, request: web.Request) -> web.Response:
    _gui_enabled(ctx)
    relative = request.match_info.get("path", "") or INDEX
    path = resolve(relative)
    if path is None:
        raise AdminError(404, f"no dashboard file '{relative}'")
    return await _file(path)


async def favicon(ctx: AdminContext, request: web.Request) -> web.Response:
    _gui_enabled(ctx)
    path = resolve("favicon.svg")
    if path is None:
        raise AdminError(404, "no favicon")
    return await _file(path)


async def logout(ctx: AdminContext, request: web.Request) -> web.Response:
    """Expire the ``interlock_token`` cookie (``GET /v1/auth?persist=yes`` set it HttpOnly,
    so the page's script cannot remove it)."""
    response = web.Response(status=204)
    response.del_cookie(TOKEN_COOKIE, path="/", samesite="Strict", httponly=True)
    return response


ROUTES = (
    Route("GET", "/", index, "the web dashboard (admin_gui=true)"),
    Route("GET", "/favicon.ico", favicon, "the dashboard's icon"),
    Route("GET", "/dashboard/{path:.*}", asset, "the dashboard's files (HTML, JS, CSS, SVG)"),
    Route("POST", "/dashboard/logout", logout, "expire the dashboard's token cookie"),
)
