"""TLS contexts for listeners (server side) and backends (client side), and the upgrade helper.

A MySQL client asks for TLS with a 32-byte SSL request packet and then immediately sends its
TLS ClientHello without waiting for an answer.  Both can arrive in the same read, so the bytes
after the SSL request must be handed to the TLS layer that ``loop.start_tls`` installs;
:func:`upgrade_server_side` does that.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from interlock.config.model import TlsConfig
from interlock.errors import InterlockError
from interlock.log import get_logger

log = get_logger(__name__)


class TlsSetupError(InterlockError):
    """A certificate or key could not be loaded."""


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """The listener's context: its certificate and key.  With ``ssl_verify_peer_certificate``
    a client must present a certificate signed by ``ssl_ca`` or its handshake fails
    (CERT_REQUIRED); without it no client certificate is asked for (CERT_NONE), as MaxScale."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert or "", tls.key or None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            f"cannot load TLS certificate/key ({tls.cert}, {tls.key}): {exc}"
        ) from exc
    if not tls.verify_peer_certificate:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not tls.ca:  # the loader refuses this; a context must never verify against nothing
        raise TlsSetupError("ssl_verify_peer_certificate=true needs ssl_ca")
    try:
        ctx.load_verify_locations(cafile=tls.ca)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load the client CA ssl_ca ({tls.ca}): {exc}") from exc
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """The context for connections to a backend server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if tls.verify_peer_certificate:
            if tls.ca:
                ctx.load_verify_locations(cafile=tls.ca)
            else:
                ctx.load_default_certs()
            ctx.check_hostname = False  # servers are addressed by IP; the CA is what we trust
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if tls.cert:
            ctx.load_cert_chain(tls.cert, tls.key or None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot set up TLS to backend: {exc}") from exc
    return ctx


def _feed(protocol: Any, data: bytes) -> None:
    # duck-typed: uvloop's SSL protocol is a Cython class, not an asyncio.BufferedProtocol
    if hasattr(protocol, "get_buffer"):
        view = memoryview(data)
        while view:
            buf = memoryview(protocol.get_buffer(len(view)))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            protocol.buffer_updated(n)
            view = view[n:]
    else:
        protocol.data_received(data)


async def upgrade_server_side(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    ctx: ssl.SSLContext,
    leftover: bytes,
    timeout: float,
) -> asyncio.BaseTransport:
    """``loop.start_tls(server_side=True)``, first feeding ``leftover`` (bytes that arrived
    right after the SSL request) to the TLS protocol it installs."""
    task = asyncio.ensure_future(
        loop.start_tls(transport, protocol, ctx, server_side=True, ssl_handshake_timeout=timeout)
    )
    if leftover:
        # start_tls swaps the transport's protocol and schedules its connection_made; wait for
        # both, then hand over the bytes we already read.
        for _ in range(100):
            await asyncio.sleep(0)
            if transport.get_protocol() is not protocol:
                break
        await asyncio.sleep(0)
        tls_protocol = transport.get_protocol()
        if tls_protocol is protocol:
            task.cancel()
            raise TlsSetupError("TLS upgrade did not start")
        _feed(tls_protocol, leftover)
    new_transport = await task
    if new_transport is None:
        raise TlsSetupError("TLS upgrade failed")
    return new_transport
