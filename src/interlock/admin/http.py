"""The admin listener (I/O): REST API, dashboard and /metrics on ``admin_host:admin_port``.

aiohttp serves it on the proxy's event loop.  Two middlewares wrap every handler:
``_errors`` turns an :class:`~interlock.errors.AdminError` (and aiohttp's own 404/405) into a
JSON:API ``errors`` document, ``_authenticate`` checks HTTP Basic, ``Authorization: Bearer``
or the ``interlock_token`` cookie, and refuses anything but GET/HEAD to a ``basic`` (read-only)
account (401 for no or bad credentials, 403 for a read-only account, as MaxScale).  Public
paths (no data in them): the dashboard's static files.
"""

from __future__ import annotations

import base64
import importlib
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from interlock.admin import jsonapi
from interlock.admin.auth import Account, AdminUsers, Principal, Tokens, datadir_of
from interlock.admin.context import AdminContext
from interlock.admin.routes import PRINCIPAL, Route
from interlock.config.model import GlobalConfig
from interlock.errors import AdminError
from interlock.log import get_logger

log = get_logger(__name__)

#: modules that export ``ROUTES``; a module not yet written is skipped (see ``_routes``)
RESOURCE_MODULES = (
    "interlock.admin.resources.core",
    "interlock.admin.resources.servers",
    "interlock.admin.resources.services",
    "interlock.admin.resources.listeners",
    "interlock.admin.resources.monitors",
    "interlock.admin.resources.sessions",
    "interlock.admin.resources.maxscale",
    "interlock.admin.resources.users",
    "interlock.admin.resources.events",
    "interlock.admin.resources.runtime",
    "interlock.admin.resources.advisor",
    "interlock.admin.resources.tls",
    "interlock.admin.resources.health",
    "interlock.admin.resources.cluster",
    "interlock.admin.metrics",
    "interlock.admin.openapi",
    "interlock.admin.dashboard",
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CTX_KEY = web.AppKey("interlock", AdminContext)
PUBLIC_PREFIXES = ("/dashboard/",)
PUBLIC_PATHS = frozenset({"/", "/favicon.ico"})
TOKEN_COOKIE = "interlock_token"

Middleware = Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
                      Awaitable[web.StreamResponse]]


def all_routes() -> tuple[Route, ...]:
    found: list[Route] = []
    for name in RESOURCE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not built (yet)
            raise
        found.extend(module.ROUTES)
    return tuple(found)


def json_response(document: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(document, indent=1) + "\n",
                        content_type="application/json")


def error_response(status: int, *details: str) -> web.Response:
    return json_response(jsonapi.errors(*details), status)


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    try:
        return await handler(request)
    except AdminError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else (
            exc.reason)
        response = error_response(exc.status, detail)
        for header in ("Allow", "WWW-Authenticate"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception as exc:  # a bug: still a JSON answer, and the traceback in the log
        log.exception("Admin API: %s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


@web.middleware
async def _authenticate(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    ctx = request.app[CTX_KEY]
    if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    if not ctx.proxy.config.global_.admin_auth:
        request[PRINCIPAL] = Principal("(admin_auth=false)", Account.ADMIN)
        return await handler(request)
    who = _principal(ctx, request)
    if who is None:
        if ctx.proxy.config.global_.admin_log_auth_failures and request.headers.get(
                "Authorization"):
            log.warning("Admin API: authentication failed for %s %s from %s",
                        request.method, request.path, request.remote)
        response = error_response(401, "authentication required: HTTP Basic with an admin "
                                       "user, or a token from /v1/auth")
        if not request.headers.get("X-Requested-With"):  # no browser dialog for the dashboard
            response.headers["WWW-Authenticate"] = 'Basic realm="interlock"'
        return response
    if request.method not in READ_METHODS and not who.account.writes:
        return error_response(403, f"user '{who.name}' is read-only (a basic account); "
                                   f"{request.method} needs an admin account")
    request[PRINCIPAL] = who
    return await handler(request)


def _principal(ctx: AdminContext, request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return ctx.users.authenticate(user, password) if sep else None
    if scheme.lower() == "bearer":
        return ctx.tokens.verify(value.strip())
    cookie = request.cookies.get(TOKEN_COOKIE)
    return ctx.tokens.verify(cookie) if cookie else None


def _mount(app: web.Application, route: Route, ctx: AdminContext) -> None:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        result = await route.handler(ctx, request)
        if result is None:
            return web.Response(status=204)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result)

    app.router.add_route(route.method, route.path, endpoint)
    if route.path.startswith("/v1/") and route.path != "/v1/":
        # MaxScale: the /v1 prefix is optional, and a trailing slash is accepted
        app.router.add_route(route.method, route.path[3:], endpoint)
    if not route.path.endswith("/"):
        app.router.add_route(route.method, route.path + "/", endpoint)


def build_app(ctx: AdminContext) -> web.Application:
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=1 << 20)
    app[CTX_KEY] = ctx
    seen: set[tuple[str, str]] = set()
    for route in all_routes():
        key = (route.method, route.path)
        if key in seen:
            raise AdminError(500, f"two handlers for {route.method} {route.path}")
        seen.add(key)
        _mount(app, route, ctx)
    return app


def tls_context(g: GlobalConfig) -> ssl.SSLContext | None:
    if not (g.admin_ssl_cert and g.admin_ssl_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(g.admin_ssl_cert, g.admin_ssl_key)
    return context


class AdminServer:
    """The admin listener of one proxy process."""

    def __init__(self, proxy: Any) -> None:
        g: GlobalConfig = proxy.config.global_
        self.config = g
        self.users = AdminUsers(datadir_of(g.datadir))
        self.ctx = AdminContext(proxy, self.users, Tokens(g.admin_jwt_max_age))
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.tls: ssl.SSLContext | None = None

    async def start(self) -> None:
        g = self.config
        try:
            generated = self.users.ensure_admin()
        except OSError as exc:
            raise AdminError(500, f"cannot create the admin users in {self.users.datadir}: "
                                  f"{exc.strerror or exc} (set datadir in [maxscale])") from exc
        if generated is not None:
            log.notice("Admin API: created user 'admin' with a random password, written to %s "
                       "(mode 0600); `interlock ctl` reads it there", generated)
        if not g.admin_auth:
            log.warning("Admin API: admin_auth=false, anyone who reaches %s:%d can change "
                        "the cluster", g.admin_host, g.admin_port)
        try:
            self.tls = tls_context(g)
        except (OSError, ssl.SSLError) as exc:
            raise AdminError(500, f"admin_ssl_cert/admin_ssl_key: {exc}") from exc
        self._runner = web.AppRunner(build_app(self.ctx), access_log=None,
                                     handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, g.admin_host, g.admin_port,
                                 ssl_context=self.tls, reuse_address=True)
        try:
            await self._site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise AdminError(500, f"the admin listener cannot listen on [{g.admin_host}]:"
                                  f"{g.admin_port}: {exc.strerror or exc}") from exc
        log.notice("Admin API listening on %s://%s:%d/", "https" if self.tls else "http",
                   g.admin_host, g.admin_port)

    def reload_tls(self) -> bool:
        """Load admin_ssl_cert/key again into the listener's context (new connections use
        them; the site keeps the context object).  They are loaded into a scratch context
        first, so a file that does not load changes nothing (AdminError 400).  False: the
        admin listener does not use TLS."""
        g = self.config
        if self.tls is None or not (g.admin_ssl_cert and g.admin_ssl_key):
            return False
        try:
            tls_context(g)
            self.tls.load_cert_chain(g.admin_ssl_cert, g.admin_ssl_key)
        except (OSError, ssl.SSLError) as exc:
            raise AdminError(400, f"admin_ssl_cert/admin_ssl_key: {exc}") from exc
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
