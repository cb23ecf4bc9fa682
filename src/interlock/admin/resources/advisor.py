"""``/v1/advisor``: the timeout and capacity advice (Method 2, docs/advisor.md) from what this
proxy's sessions did, one report per service.

Each server's ``wait_timeout`` and ``max_connections`` come from the monitor's latest probe
(``@@global`` values, read every tick); for a server no monitor covers, the ``wait_timeout``
the sessions learned.  The report is the JSON of
:func:`interlock.advisor.proxy_report.report_for_service`; ``interlock ctl advise`` renders it
with :func:`~interlock.advisor.proxy_report.render_report`.
"""

from __future__ import annotations

import time

from aiohttp import web

from interlock.admin import views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject, document, resource
from interlock.admin.routes import Route, query_flag
from interlock.advisor.proxy_report import report_for_service
from interlock.server.service import ServiceRuntime

KIND = "advisor"


def server_variables(ctx: AdminContext, service: ServiceRuntime) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for server in service.servers:
        view = views.server_view(ctx.proxy, server.name)
        obs = view.last_good if view is not None else None
        if obs is None:
            continue
        values = {key: value for key, value in (("wait_timeout", obs.wait_timeout),
                                                 ("max_connections", obs.max_connections))
                  if value > 0}
        if values:
            found[server.name] = values
    return found


def service_report(ctx: AdminContext, service: ServiceRuntime, histograms: bool) -> JsonObject:
    backends, settings = service.advisor_settings(server_variables(ctx, service))
    report = report_for_service(service.observations, service.name, backends, settings,
                                now=time.monotonic(), histograms=histograms)
    return resource(KIND, service.name, report)


async def list_reports(ctx: AdminContext, request: web.Request) -> JsonObject:
    histograms = query_flag(request, "histograms")
    return document([service_report(ctx, s, histograms) for s in ctx.proxy.services.values()],
                    "/v1/advisor/")


async def show_report(ctx: AdminContext, request: web.Request) -> JsonObject:
    name = request.match_info["service"]
    service = views.service_named(ctx.proxy, name)
    return document(service_report(ctx, service, query_flag(request, "histograms")),
                    f"/v1/advisor/{name}/")


ROUTES = (
    Route("GET", "/v1/advisor", list_reports,
          "wait_timeout / connection advice from this proxy's sessions, per service",
          query=("histograms",)),
    Route("GET", "/v1/advisor/{service}", show_report, "the advice for one service",
          query=("histograms",)),
)
