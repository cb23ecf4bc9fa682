"""Where routers get the current :class:`~interlock.routing.topology.Topology` of their servers.

One :class:`TopologySource` per set of servers (a monitor's servers, or a service's servers
with static roles when no monitor watches them).  A publisher (the monitor loop, the static
config) calls :meth:`TopologySource.publish` with a new snapshot; readers take
:attr:`TopologySource.current` per statement (one attribute read, no copy) and may subscribe
to be told at once (e.g. to release writes held during a switchover, or to re-route sessions
after a failover).

Live load counters (:class:`~interlock.routing.topology.ServerLoad`) belong to the source, one
per server name, and are carried over into every snapshot it publishes, so the counters the
I/O layer increments survive topology changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from interlock.log import get_logger
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole, Topology

log = get_logger(__name__)

Subscriber = Callable[[Topology], None]


class TopologySource:
    __slots__ = ("_subscribers", "current", "loads", "name")

    def __init__(self, name: str, initial: Topology) -> None:
        self.name = name
        self.loads: dict[str, ServerLoad] = {}
        self._subscribers: list[Subscriber] = []
        self.current = self._with_loads(initial)

    def load(self, server: str) -> ServerLoad:
        """The live counters of ``server`` (created on first use)."""
        load = self.loads.get(server)
        if load is None:
            load = self.loads[server] = ServerLoad()
        return load

    def publish(self, topology: Topology) -> None:
        """Make ``topology`` current and tell every subscriber (a failing one is logged)."""
        self.current = topology = self._with_loads(topology)
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(topology)
            except Exception:  # one subscriber must not stop the others
                log.exception("Topology subscriber of '%s' failed", self.name)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every new snapshot; returns the function that unsubscribes."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _with_loads(self, topology: Topology) -> Topology:
        servers = tuple(
            info if info.load is self.loads.get(info.name)
            else dataclasses.replace(info, load=self.load(info.name))
            for info in topology.servers
        )
        return Topology(servers, topology.generation, topology.global_gtid)


def static_topology(names: Iterable[str], roles: dict[str, ServerRole] | None = None,
                    weights: Mapping[str, float] | None = None) -> Topology:
    """Roles from the config when no monitor watches the servers: ``roles`` where given, else
    the first server is the primary and the others are replicas.  ``weights``: each server's
    configured ``weight`` (1 where not given; 0 keeps reads off a server)."""
    roles = roles or {}
    weights = weights or {}
    infos = []
    for index, name in enumerate(names):
        role = roles.get(name, ServerRole.PRIMARY if index == 0 else ServerRole.REPLICA)
        infos.append(ServerInfo(name=name, role=role, weight=weights.get(name, 1.0)))
    return Topology.of(infos)
