"""``POST /v1/maxscale/tls/reload`` (MaxScale's): load every TLS certificate and key again
without a restart: the listeners', the backend servers' (client certificates, CAs) and the
admin listener's.  Connections made from now on use them; established ones keep what they
negotiated.  Every file is loaded before anything is replaced, so a file that does not load
(400, naming it) leaves the old certificates in use everywhere.
"""

from __future__ import annotations

from aiohttp import web

from interlock.admin.context import AdminContext
from interlock.admin.routes import Route
from interlock.errors import AdminError
from interlock.log import get_logger
from interlock.server.tls import TlsSetupError

log = get_logger(__name__)


async def reload_tls(ctx: AdminContext, request: web.Request) -> None:
    try:
        ctx.proxy.reload_tls()
    except TlsSetupError as exc:
        log.warning("TLS reload refused, the old certificates stay in use: %s", exc)
        raise AdminError(400, f"{exc}; the old certificates stay in use") from exc


ROUTES = (
    Route("POST", "/v1/maxscale/tls/reload", reload_tls,
          "load the TLS certificates of listeners, servers and the admin listener again"),
)
