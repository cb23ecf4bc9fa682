"""An immutable snapshot of the cluster as the router sees it.

The monitor (or, until it exists, the static roles of the config) hands the router a new
:class:`Topology` whenever something changes: roles, health, maintenance/draining, replication
lag, GTID positions.  Routing functions only read it.

What changes with every statement (operations in flight, the response-time average) lives in a
:class:`ServerLoad` per server: a small mutable counter object the I/O layer owns and updates,
shared by reference between successive snapshots, so a new snapshot is not needed per query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from interlock.routing.causal import GtidPosition
from interlock.routing.decision import Reason

#: routing reasons of statements routed as reads (``ServerLoad.reads``; the rest are writes):
#: reads, reads that fell back to or were balanced onto the primary, read-only transactions,
#: ``route to slave`` hints, cursor fetches and statements following the previous one's target
READ_REASONS: frozenset[Reason] = frozenset((
    Reason.READ, Reason.READ_ON_PRIMARY, Reason.NO_USABLE_REPLICA, Reason.CAUSAL_FALLBACK,
    Reason.CAUSAL_TIMEOUT, Reason.READ_ONLY_TRX, Reason.BEGIN_READ_ONLY, Reason.HINT_SLAVE,
    Reason.CURSOR, Reason.PREVIOUS_TARGET))


class ServerRole(IntEnum):
    UNKNOWN = 0
    PRIMARY = 1
    REPLICA = 2
    RELAY = 3  # a replica that other replicas replicate from: usable as a replica
    RUNNING = 4  # up, but neither primary nor replica
    DOWN = 5


@dataclass(slots=True)
class ServerLoad:
    """Live load counters of one server (mutable, updated by the I/O layer).

    ``current_operations``: statements sent to the server and not answered yet (all sessions);
    ``connections``: open backend connections; ``response_time_ema``: exponential moving average
    of response times in seconds (``None`` until the first measurement).  Counters (metrics):
    ``total_connections`` opened; statements routed as ``reads`` (a reason in
    :data:`READ_REASONS`) or ``writes`` (any other reason); ``errors``: ERR answers to them.
    """

    current_operations: int = 0
    connections: int = 0
    response_time_ema: float | None = None
    total_connections: int = 0
    reads: int = 0
    writes: int = 0
    errors: int = 0

    def connected(self) -> None:
        """A backend connection to the server was opened."""
        self.connections += 1
        self.total_connections += 1

    def started(self) -> None:
        self.current_operations += 1

    def finished(self, seconds: float | None = None, alpha: float = 0.04) -> None:
        """One operation answered; ``seconds``: its response time, folded into the average."""
        self.current_operations = max(self.current_operations - 1, 0)
        if seconds is not None:
            ema = self.response_time_ema
            self.response_time_ema = seconds if ema is None else ema + alpha * (seconds - ema)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str
    role: ServerRole
    healthy: bool = True
    maintenance: bool = False
    draining: bool = False  # no new work: finish what runs, take nothing new
    replication_lag: float | None = None  # seconds behind the primary (None: unknown)
    gtid_position: GtidPosition | None = None  # gtid_current_pos as last seen by the monitor
    weight: float = 1.0
    load: ServerLoad = field(default_factory=ServerLoad, compare=False)

    @property
    def available(self) -> bool:
        """Up and not administratively excluded."""
        return (self.healthy and not self.maintenance and self.role is not ServerRole.DOWN)

    @property
    def is_primary(self) -> bool:
        return self.role is ServerRole.PRIMARY and self.available

    @property
    def is_replica(self) -> bool:
        """Usable for new reads as a replica."""
        return (self.role in (ServerRole.REPLICA, ServerRole.RELAY) and self.available
                and not self.draining and self.weight > 0)


@dataclass(frozen=True, slots=True)
class Topology:
    """Servers of a service at one moment.  ``global_gtid``: the position ``causal_reads=global``
    waits for (the primary's ``gtid_current_pos``, or the latest GTID any session of the service
    saw, whichever the caller keeps more current); ``None``: the primary's monitored position."""

    servers: tuple[ServerInfo, ...] = ()
    generation: int = 0
    global_gtid: GtidPosition | None = None
    _by_name: Mapping[str, ServerInfo] = field(init=False, repr=False, compare=False)
    _primary: ServerInfo | None = field(init=False, repr=False, compare=False)
    _replicas: tuple[ServerInfo, ...] = field(init=False, repr=False, compare=False)
    # memo of derived read candidates (interlock.routing.balancer.candidates): a pure function
    # of this immutable snapshot, so computing it once per snapshot is enough
    _candidates: dict[object, tuple[ServerInfo, ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_candidates", {})
        object.__setattr__(self, "_by_name", {s.name: s for s in self.servers})
        primary = next((s for s in self.servers if s.is_primary), None)
        object.__setattr__(self, "_primary", primary)
        object.__setattr__(self, "_replicas", tuple(s for s in self.servers if s.is_replica))

    @classmethod
    def of(cls, servers: Iterable[ServerInfo], generation: int = 0,
           global_gtid: GtidPosition | None = None) -> Topology:
        return cls(tuple(servers), generation, global_gtid)

    @property
    def primary(self) -> ServerInfo | None:
        """The usable primary (healthy, not in maintenance), if there is one."""
        return self._primary

    @property
    def replicas(self) -> tuple[ServerInfo, ...]:
        """Replicas usable for new reads (lag and GTID filters are the balancer's business)."""
        return self._replicas

    def server(self, name: str) -> ServerInfo | None:
        return self._by_name.get(name)

    def usable(self, name: str | None) -> bool:
        """Can ``name`` take a statement a session pins to it (its trx, its cursor, a hint)?"""
        if name is None:
            return False
        server = self._by_name.get(name)
        return server is not None and server.available

    def wanted_global_position(self) -> GtidPosition | None:
        if self.global_gtid is not None:
            return self.global_gtid
        return self._primary.gtid_position if self._primary else None
