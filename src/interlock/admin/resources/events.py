"""``/v1/events``: what the monitors saw and did (state changes, decisions, plan steps,
warnings), oldest first, newest last.

Each event keeps its id while it is kept (the monitors keep their last 1000 events); ids come
from one sequence for the whole process, so they also order the events of several monitors,
and ``?since=ID`` returns only the events after ``ID`` (a dashboard polls with the last id it
has).  ``state`` events carry the server's old and new states; other kinds have ``null``.
"""

from __future__ import annotations

from aiohttp import web

from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import BASE, JsonObject, document
from interlock.admin.resources.common import iso
from interlock.admin.routes import Route
from interlock.errors import AdminError
from interlock.monitor.events import Event, EventKind
from interlock.monitor.states import format_states

KIND = "events"


def event_resource(monitor: str, ident: int, event: Event) -> JsonObject:
    state = event.kind is EventKind.STATE
    return {
        "id": str(ident),
        "type": KIND,
        "attributes": {
            "time": iso(event.at),
            "monitor": monitor,
            "server": event.server,
            "kind": event.kind.value,
            "old_state": format_states(event.old) if state else None,
            "new_state": format_states(event.new) if state else None,
            "reason": event.reason,
            "text": str(event),
        },
    }


def _since(request: web.Request) -> int:
    raw = request.query.get("since", "0")
    try:
        value = int(raw)
    except ValueError as exc:
        raise AdminError(400, f"since={raw!r}: expected an event id (a number)") from exc
    if value < 0:
        raise AdminError(400, f"since={raw!r}: expected an event id (0 or more)")
    return value


async def list_events(ctx: AdminContext, request: web.Request) -> JsonObject:
    after = _since(request)
    wanted = request.query.get("monitor")
    if wanted is not None and wanted not in ctx.proxy.monitors:
        raise AdminError(404, f"no monitor '{wanted}'")
    found = [(ident, name, event)
             for name, monitor in ctx.proxy.monitors.items() if wanted in (None, name)
             for ident, event in monitor.events.numbered(after)]
    found.sort(key=lambda item: item[0])
    return document([event_resource(name, ident, event) for ident, name, event in found],
                    f"{BASE}events/")


ROUTES = (
    Route("GET", "/v1/events", list_events,
          "monitor events, oldest first (since=ID: only newer ones; monitor=NAME)",
          query=("since", "monitor")),
)
