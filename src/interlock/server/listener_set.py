"""The proxy's open listeners, and how a runtime change opens, moves, changes and closes them.

A change is made in two steps, so that it is all or nothing:

- :meth:`ListenerSet.prepare` (before anything else changes): the listeners that are new or
  listen on another address or port get their socket bound, and every new or changed listener
  gets its TLS context loaded.  A socket that cannot be bound (the port is taken on this host)
  or a certificate that does not load raises, after closing what it bound: nothing changed.
- :meth:`ListenerSet.apply` (after the services changed): the bound sockets start accepting,
  the listeners removed or moved stop accepting, and a listener whose other parameters changed
  (its service, TLS, ...) gets a new :class:`ListenerContext` for the connections it accepts
  from now on.  Sessions already connected keep theirs: closing a listener ends no session.

The socket of a listener whose address and port stay is never closed, so a change of its TLS
settings, say, refuses no connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from interlock.config.model import ListenerConfig
from interlock.log import get_logger
from interlock.server import tls
from interlock.server.client import ClientConnection, ListenerContext
from interlock.server.listener import bind_listener, serve_socket

log = get_logger(__name__)

#: makes the context of a listener's new connections (the proxy knows its services)
MakeContext = Callable[[ListenerConfig, ssl.SSLContext | None], ListenerContext]


@dataclass(frozen=True, slots=True)
class ListenerDiff:
    """What a change does to the listeners (pure: configs in, names out)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()  # another address or port: a new socket
    changed: tuple[str, ...] = ()  # same socket, other parameters

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.moved or self.changed)


def listener_diff(old: Mapping[str, ListenerConfig],
                  new: Mapping[str, ListenerConfig]) -> ListenerDiff:
    common = [n for n in new if n in old and old[n] != new[n]]
    moved = tuple(n for n in common
                  if (old[n].address, old[n].port) != (new[n].address, new[n].port))
    return ListenerDiff(
        added=tuple(n for n in new if n not in old),
        removed=tuple(n for n in old if n not in new),
        moved=moved,
        changed=tuple(n for n in common if n not in moved))


@dataclass(slots=True)
class OpenListener:
    """One listening socket; ``context`` is what its next connection gets."""

    config: ListenerConfig
    context: ListenerContext
    server: asyncio.AbstractServer | None = None

    def accept(self) -> ClientConnection:
        return ClientConnection(self.context)


@dataclass(slots=True)
class Prepared:
    """A change's listeners, ready: bound sockets and loaded TLS contexts."""

    configs: Mapping[str, ListenerConfig]
    diff: ListenerDiff
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    tls: dict[str, ssl.SSLContext | None] = field(default_factory=dict)

    def release(self) -> None:
        """The change is not applied: close the sockets bound for it."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()


class ListenerSet:
    def __init__(self) -> None:
        self._open: dict[str, OpenListener] = {}

    def __iter__(self) -> Iterator[OpenListener]:
        return iter(list(self._open.values()))

    def __len__(self) -> int:
        return len(self._open)

    def get(self, name: str) -> OpenListener | None:
        return self._open.get(name)

    @property
    def configs(self) -> dict[str, ListenerConfig]:
        return {name: item.config for name, item in self._open.items()}

    def prepare(self, configs: Mapping[str, ListenerConfig]) -> Prepared:
        """Bind and load what ``configs`` needs beyond what is open; raises ListenerError or
        TlsSetupError with nothing left bound."""
        prepared = Prepared(dict(configs), listener_diff(self.configs, configs))
        diff = prepared.diff
        try:
            for name in (*diff.added, *diff.moved, *diff.changed):
                cfg = configs[name]
                prepared.tls[name] = tls.server_context(cfg.tls) if cfg.tls.enabled else None
            for name in (*diff.added, *diff.moved):
                prepared.sockets[name] = bind_listener(configs[name])
        except BaseException:
            prepared.release()
            raise
        return prepared

    async def apply(self, prepared: Prepared, make: MakeContext) -> None:
        """Make ``prepared`` the open listeners (it must have been prepared from the
        listeners open now)."""
        diff = prepared.diff
        for name in (*diff.removed, *diff.moved):
            item = self._open.pop(name)
            if item.server is not None:
                item.server.close()
            if name in diff.removed:
                log.notice("Listener '%s' closed (port %d); its sessions go on", name,
                           item.config.port)
        for name in diff.changed:
            cfg = prepared.configs[name]
            item = self._open[name]
            item.config, item.context = cfg, make(cfg, prepared.tls[name])
            log.notice("Listener '%s' changed: new connections use its new parameters", name)
        for name in (*diff.added, *diff.moved):
            cfg = prepared.configs[name]
            item = OpenListener(cfg, make(cfg, prepared.tls[name]))
            item.server = await serve_socket(prepared.sockets.pop(name), item.accept)
            self._open[name] = item
            log.notice("Listener '%s' for service '%s' listening on [%s]:%d%s", name,
                       cfg.service, cfg.address, cfg.port,
                       " with TLS" if item.context.tls else "")

    def close(self) -> None:
        """Stop accepting (connected sessions go on)."""
        for item in self._open.values():
            if item.server is not None:
                item.server.close()

    def servers(self) -> list[asyncio.AbstractServer]:
        return [item.server for item in self._open.values() if item.server is not None]
