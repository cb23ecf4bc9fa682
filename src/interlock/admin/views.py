"""Read the running proxy for the admin API: which monitor and services a server belongs to,
its monitor view, its live load, the sessions using it.  No HTTP here: resources, metrics and
the dashboard's data all come through these functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from interlock.errors import AdminError
from interlock.monitor.cluster import ServerView
from interlock.monitor.loop import MonitorRuntime
from interlock.routing.topology import ServerLoad
from interlock.server.topology_source import TopologySource

if TYPE_CHECKING:
    from interlock.config.model import ServerConfig
    from interlock.server.app import Proxy
    from interlock.server.client import ClientConnection
    from interlock.server.service import ServiceRuntime


def server_config(proxy: Proxy, name: str) -> ServerConfig:
    server = proxy.config.servers.get(name)
    if server is None:
        raise AdminError(404, f"no server '{name}'")
    return server


def monitor_named(proxy: Proxy, name: str) -> MonitorRuntime:
    monitor = proxy.monitors.get(name)
    if monitor is None:
        raise AdminError(404, f"no monitor '{name}'")
    return monitor


def service_named(proxy: Proxy, name: str) -> ServiceRuntime:
    service = proxy.services.get(name)
    if service is None:
        raise AdminError(404, f"no service '{name}'")
    return service


def monitor_of_server(proxy: Proxy, name: str) -> MonitorRuntime | None:
    return next((m for m in proxy.monitors.values() if name in m.servers), None)


def services_of_server(proxy: Proxy, name: str) -> list[str]:
    return [svc for svc, cfg in proxy.config.services.items() if name in cfg.servers]


def server_view(proxy: Proxy, name: str) -> ServerView | None:
    monitor = monitor_of_server(proxy, name)
    if monitor is None or monitor.cluster is None:
        return None
    return monitor.cluster.server(name)


def sources(proxy: Proxy) -> Iterator[TopologySource]:
    """Every distinct topology source (a monitor's, or a static service's own)."""
    seen: set[int] = set()
    found = [m.source for m in proxy.monitors.values()]
    found += [s.topology for s in proxy.services.values()]
    for source in found:
        if id(source) not in seen:
            seen.add(id(source))
            yield source


def server_load(proxy: Proxy, name: str) -> ServerLoad:
    """The server's live counters summed over every source that has them."""
    total = ServerLoad()
    for source in sources(proxy):
        load = source.loads.get(name)
        if load is not None:
            total.connections += load.connections
            total.current_operations += load.current_operations
    return total


def routed_queries(proxy: Proxy, name: str) -> int:
    return sum(service.route_servers.get(name, 0) for service in proxy.services.values())


def clients(proxy: Proxy) -> list[ClientConnection]:
    return proxy.registry.values()


def sessions_on(proxy: Proxy, server: str) -> list[ClientConnection]:
    """Clients whose session has a backend connection to ``server``."""
    return [client for client in clients(proxy)
            if client.session is not None and server in client.session.servers()]
