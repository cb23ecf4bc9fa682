"""Listening sockets.

``address=::`` (the default, as in MaxScale) means every IPv4 and IPv6 address: the socket is
created dual-stack (``IPV6_V6ONLY`` off), which asyncio's ``create_server`` would not do; on a
host without IPv6 it falls back to ``0.0.0.0``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from interlock.config.model import ListenerConfig
from interlock.errors import InterlockError
from interlock.log import get_logger

log = get_logger(__name__)

BACKLOG = 1024


class ListenerError(InterlockError):
    """A listener could not be opened."""


def _dual_stack_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
    except OSError:
        sock.close()
        raise
    return sock


def _bind(cfg: ListenerConfig) -> socket.socket:
    if cfg.address in ("::", ""):
        try:
            return _dual_stack_socket(cfg.port)
        except OSError as exc:
            if exc.errno == 98:  # EADDRINUSE: the port is taken, IPv4 would not help
                raise
            log.warning("Listener '%s': IPv6 unavailable (%s), using 0.0.0.0", cfg.name, exc)
            address = "0.0.0.0"
    else:
        address = cfg.address
    infos = socket.getaddrinfo(address, cfg.port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock


def bind_listener(cfg: ListenerConfig) -> socket.socket:
    """The listening socket of ``cfg`` (bound, listening, non-blocking); ListenerError when
    the address cannot be bound."""
    try:
        sock = _bind(cfg)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenerError(
            f"Listener '{cfg.name}': cannot listen on {cfg.address}:{cfg.port}: {reason}"
        ) from exc
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


async def serve_socket(sock: socket.socket,
                       factory: Callable[[], asyncio.Protocol]) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(factory, sock=sock, backlog=BACKLOG)


async def open_listener(
    cfg: ListenerConfig, factory: Callable[[], asyncio.Protocol]
) -> asyncio.AbstractServer:
    return await serve_socket(bind_listener(cfg), factory)
