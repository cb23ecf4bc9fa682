"""COM_CHANGE_USER: re-authenticated at the proxy, then replayed on the backend.

The client scrambles the new password with the proxy's handshake nonce, which was already used
at login; so, as MariaDB does, a client that speaks PLUGIN_AUTH is always answered with an auth
switch to mysql_native_password carrying a *fresh* nonce, and only the answer to that counts (a
captured COM_CHANGE_USER cannot be replayed). The proxy checks the account like at login, then
sends COM_CHANGE_USER to the backend with a token for the *backend's* nonce (answering an auth
switch if the backend asks) and relays the final OK or ERR with the sequence id the client
expects. A refused change leaves the session as it was, as on the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.log import get_logger
from interlock.server import errors
from interlock.server.backend import BackendRefused, Login
from interlock.wire.auth import NATIVE_PASSWORD, new_nonce
from interlock.wire.constants import Capability
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet, encode_packet
from interlock.wire.handshake import (
    AuthSwitchRequest,
    ChangeUser,
    build_auth_switch,
    build_change_user,
    parse_change_user,
)
from interlock.wire.packets import build_err_from
from interlock.wire.response import ResponseTracker

if TYPE_CHECKING:
    from interlock.server.session import Session

log = get_logger(__name__)


async def run(session: Session, packet: Packet) -> None:
    """Re-authenticate at the proxy, then change the user on the backend too."""
    client = session.client
    caps = client.capabilities
    try:
        request = parse_change_user(packet.payload, caps)
    except ProtocolError:
        client.write(errors.err_packet(errors.bad_handshake(), packet.seq + 1))
        return
    seq = packet.seq
    session.reply_seq = seq + 1
    response = request.auth_response
    nonce = client.nonce
    if caps & Capability.PLUGIN_AUTH:
        nonce = new_nonce()
        switch = AuthSwitchRequest(NATIVE_PASSWORD, nonce + b"\0")
        client.write(encode_packet(build_auth_switch(switch), seq + 1))
        reply = await session.read_client_packet()
        response, seq = reply.payload, reply.seq
        session.reply_seq = seq + 1
    verdict = await client.verify(request.username, response, nonce)
    if verdict.error is not None:
        log.warning(
            "Session %d: COM_CHANGE_USER to '%s' refused: %s",
            session.id, request.username, verdict.error.message,
        )
        client.write(errors.err_packet(verdict.error, seq + 1))
        return
    backend = session.backend
    charset = request.charset if request.charset is not None else session.login.charset
    login = Login(
        user=request.username,
        capabilities=session.login.capabilities,
        charset=charset,
        database=request.database or None,
        sha1_password=verdict.sha1_password,
        max_packet_size=session.login.max_packet_size,
        attributes=request.attributes,
    )
    forwarded = ChangeUser(
        username=request.username,
        auth_response=login.token(backend.nonce),
        database=request.database,
        charset=charset,
        auth_plugin=NATIVE_PASSWORD,
        attributes=request.attributes,
    )
    backend.sink = None
    try:
        backend.send_packet(build_change_user(forwarded, backend.capabilities), 0)
        ok = await backend.finish_auth(login, 0)
    except BackendRefused as exc:
        backend.sink = session
        client.write(encode_packet(build_err_from(exc.err), seq + 1))
        return
    backend.sink = session
    session.login = login
    backend.tracker = ResponseTracker(backend.capabilities)
    client.user = request.username
    client.write(encode_packet(ok.payload, seq + 1))
    log.info("Session %d: changed user to '%s'", session.id, request.username)
