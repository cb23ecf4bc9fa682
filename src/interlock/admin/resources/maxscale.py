"""``/v1/maxscale``: the proxy process (version, uptime, threads, logging, global parameters);
``POST /v1/maxscale/logs/rotate`` reopens the log file after it was renamed (as SIGUSR1 does;
MaxScale's name for it, ``POST /v1/maxscale/logs/flush``, is an alias)."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from typing import Any

from aiohttp import web

from interlock import __version__
from interlock import log as ilog
from interlock.admin import jsonapi
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.resources.common import iso, parameters
from interlock.admin.routes import Route, principal

log = ilog.get_logger(__name__)

KIND = "maxscale"
IDENT = "maxscale"
#: Interlock serves every client and the admin API on one event loop
THREADS = 1


def log_files() -> list[str]:
    """The files the process logs to now."""
    found: list[str] = []
    for handler in logging.getLogger("interlock").handlers:
        outputs = getattr(handler, "outputs", [handler])
        found += [out.baseFilename for out in outputs if isinstance(out, logging.FileHandler)]
    return found


def maxscale_resource(ctx: AdminContext) -> JsonObject:
    g = ctx.proxy.config.global_
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # uvloop or asyncio
    attributes: dict[str, Any] = {
        "version": __version__,
        "product": "Interlock",
        "started_at": iso(ctx.started),
        "uptime": int(ctx.uptime),
        "threads": THREADS,
        "pid": os.getpid(),
        "python": platform.python_version(),
        "event_loop": loop,
        "config": ctx.proxy.config.path,
        "log": {
            "files": log_files(),
            "format": g.log_format,
            "levels": {"notice": g.log_notice, "warning": g.log_warning, "info": g.log_info,
                       "debug": g.log_debug},
            "throttling": {"count": g.log_throttling[0], "window": g.log_throttling[1],
                           "suppress": g.log_throttling[2]},
        },
        "parameters": parameters(g),
    }
    return jsonapi.resource(KIND, IDENT, attributes) | {"links": {"self": "/v1/maxscale/"}}


async def show_maxscale(ctx: AdminContext, request: web.Request) -> JsonObject:
    return jsonapi.document(maxscale_resource(ctx), "/v1/maxscale/")


async def rotate_logs(ctx: AdminContext, request: web.Request) -> None:
    log.notice("Log rotation requested through the admin API by '%s'",
               principal(request).name)
    ilog.reopen()


ROUTES = (
    Route("GET", "/v1/maxscale", show_maxscale, "the proxy process: version, uptime, logging"),
    Route("POST", "/v1/maxscale/logs/rotate", rotate_logs,
          "reopen the log file (after it was renamed), as SIGUSR1"),
    Route("POST", "/v1/maxscale/logs/flush", rotate_logs,
          "MaxScale's name for logs/rotate"),
)
