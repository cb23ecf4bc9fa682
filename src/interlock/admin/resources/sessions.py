"""``/v1/sessions``: the client sessions of the proxy; ``DELETE /v1/sessions/{id}`` kills one.

A session's id is the connection id the proxy gave the client (what ``CONNECTION_ID()`` shows
through the proxy, ``KILL <id>`` accepts, and the handshake carried).  A client still logging in
is listed with state ``Authenticating``.

Killing: mariadbd (10.11, checked) closes a connection it kills without a word; the client
learns it at its next command ("Lost connection" / "server has gone away").  Interlock does what
MaxScale does instead and tells the client why: a session waiting for its next command gets the
server's own error for a killed connection, ``ERROR 1927 (70100): Connection was killed``, as
the answer to that command, then the connection closes.  A session in the middle of a command
is closed without the error (an ERR cannot be inserted into a response being relayed), as
mariadbd does.  Its backend connections close with it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from interlock.admin import jsonapi, views
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import JsonObject
from interlock.admin.resources.common import iso
from interlock.admin.routes import Route, principal
from interlock.advisor.observations import CloseReason
from interlock.errors import AdminError, ClientError
from interlock.log import get_logger
from interlock.wire.constants import ErrorCode

if TYPE_CHECKING:
    from interlock.server.client import ClientConnection
    from interlock.server.session import Session

log = get_logger(__name__)

KIND = "sessions"
KILLED_STATE = "70100"


def killed_error() -> ClientError:
    """ER_CONNECTION_KILLED, as mariadbd words it."""
    return ClientError(ErrorCode.CONNECTION_KILLED, KILLED_STATE, "Connection was killed")


def _opened_at(client: ClientConnection) -> float | None:
    """Monotonic time the session's login succeeded, from the service's session recorder
    (the proxy keeps no other record of it)."""
    return client.ctx.service.observations.opened_at(client.session_id)


def _waiting_for_command(session: Session) -> bool:
    """The session has no command in flight: the client's next packet is a new command, so
    an ERR with sequence id 1 is a valid answer to it."""
    return not session.in_flight()


def session_resource(client: ClientConnection) -> JsonObject:
    session = client.session
    now_wall, now = time.time(), time.monotonic()
    opened = _opened_at(client)
    idle = client.ctx.service.observations.idle_for(client.session_id, now)
    attributes: dict[str, Any] = {
        "state": "Started" if session is not None else "Authenticating",
        "user": client.user,
        "remote": client.address,
        "connected": iso(now_wall - (now - opened)) if opened is not None else None,
        "idle": round(idle, 3) if idle is not None else None,
        "service": client.ctx.service.name,
        "listener": client.ctx.listener.name,
        "servers": list(session.servers()) if session is not None else [],
        "backend_thread_id": client.backend_thread_id(),
    }
    ident = str(client.session_id)
    relationships = {
        "services": jsonapi.relationship("services", [client.ctx.service.name], KIND, ident),
        "servers": jsonapi.relationship("servers", attributes["servers"], KIND, ident),
    }
    return jsonapi.resource(KIND, ident, attributes, relationships)


def live(client: ClientConnection) -> bool:
    """Not ended: a session the proxy closed is gone even while its TLS connection waits for
    the client's close_notify (the client still lists as connected until then)."""
    return not client.closed and (client.session is None or not client.session.closed)


def client_of(ctx: AdminContext, raw: str) -> ClientConnection:
    try:
        ident = int(raw)
    except ValueError as exc:
        raise AdminError(404, f"no session '{raw}' (ids are numbers)") from exc
    client = ctx.proxy.registry.get(ident)
    if client is None or not live(client):
        raise AdminError(404, f"no session '{raw}'")
    return client


async def list_sessions(ctx: AdminContext, request: web.Request) -> JsonObject:
    found = [session_resource(c) for c in views.clients(ctx.proxy) if live(c)]
    found.sort(key=lambda r: int(r["id"]))
    return jsonapi.document(found, "/v1/sessions/")


async def show_session(ctx: AdminContext, request: web.Request) -> JsonObject:
    raw = request.match_info["id"]
    return jsonapi.document(session_resource(client_of(ctx, raw)), f"/v1/sessions/{raw}/")


async def kill_session(ctx: AdminContext, request: web.Request) -> None:
    client = client_of(ctx, request.match_info["id"])
    session = client.session
    log.notice("Session %d ('%s'@'%s'): killed through the admin API by '%s'",
               client.session_id, client.user, client.address, principal(request).name)
    if session is None:
        client.close()  # still logging in
        return
    session.ended = CloseReason.KILLED  # (for the session recorder)
    if _waiting_for_command(session):
        session.fail(killed_error(), seq=1)
    else:
        session.close()


ROUTES = (
    Route("GET", "/v1/sessions", list_sessions, "all client sessions"),
    Route("GET", "/v1/sessions/{id}", show_session, "one client session"),
    Route("DELETE", "/v1/sessions/{id}", kill_session,
          "kill a session (the client gets ERROR 1927 Connection was killed)"),
)
