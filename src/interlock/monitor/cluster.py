"""The cluster topology from one tick's observations (pure).

:func:`build_cluster` resolves every replication connection to a configured server (by
``Master_Host:Master_Port`` against the servers' ``address:port``; when no address matches,
by ``Master_Server_Id`` against the running servers' ``server_id``; otherwise the source is
external), builds the replication graph (an edge source -> replica for every running
connection: IO thread Yes/Connecting and SQL thread Yes), selects the primary as mariadbmon
does, assigns the state flags and collects warnings.

Primary selection: a candidate is running, not in maintenance, ``read_only=OFF`` and does not
replicate from a monitored server outside its own replication cycle (two servers replicating
from each other are one multi-primary group).  The candidate with the most replicas, counted
transitively (replicas of replicas, cycle members), wins; ties go to the server listed first.
The selection is sticky: the previous primary stays while it is valid.  It becomes invalid when
it is read-only, in maintenance, replicates from a server outside its cycle, or has been down
for ``failcount`` ticks with no replica still pointing at it (a connection to it in any thread
state: a stopped IO thread still names its source).  A down primary otherwise stays
the primary (without the Master state): failover needs to know which server failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from interlock.monitor.observations import ServerObservation, SlaveStatus
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.states import ServerState, format_states
from interlock.routing.causal import GtidPosition
from interlock.routing.topology import ServerInfo, ServerRole, Topology

SEMISYNC_STOPPED = ("Semi-synchronous replication on server {0} has stopped working. "
                    "Transactions may be lost if a failover occurs")


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """A monitored server as configured.  ``priority``: failover/switchover tie-break; a lower
    positive value is preferred, 0 (unset) comes after every positive value."""

    name: str
    address: str
    port: int = 3306
    priority: int = 0


@dataclass(frozen=True, slots=True)
class AdminMode:
    """Modes a person sets on a server (``interlock ctl``/API)."""

    maintenance: bool = False
    draining: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """One replication connection of ``replica``; ``source``: the configured server it
    replicates from (``None``: an external server at ``address``)."""

    replica: str
    source: str | None
    address: str
    status: SlaveStatus
    matched_by: str  # "address", "server_id" or "" (external)

    @property
    def connection_name(self) -> str:
        return self.status.connection_name

    @property
    def running(self) -> bool:
        return self.status.running

    @property
    def external(self) -> bool:
        return self.source is None


@dataclass(frozen=True, slots=True)
class ServerView:
    spec: ServerSpec
    states: ServerState
    observation: ServerObservation | None  # this tick (None: not probed)
    last_good: ServerObservation | None  # the latest successful observation, maybe older
    links: tuple[Link, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        return self.observation is not None and self.observation.reachable

    @property
    def state_text(self) -> str:
        return format_states(self.states)

    def link_to(self, source: str) -> Link | None:
        return next((link for link in self.links if link.source == source), None)


@dataclass(frozen=True, slots=True)
class ClusterState:
    servers: tuple[ServerView, ...]
    primary: str | None  # the monitor's primary (may be down: then it lacks Master)
    primary_reason: str
    warnings: tuple[str, ...] = ()

    def server(self, name: str) -> ServerView | None:
        return next((s for s in self.servers if s.name == name), None)

    def states(self) -> dict[str, ServerState]:
        return {s.name: s.states for s in self.servers}

    def with_primary(self, name: str, reason: str = "installed by a cluster operation") -> (
            ClusterState):
        """The same state with ``name`` as primary: what the loop feeds back as ``previous``
        after a failover or switchover so the next tick keeps the new primary."""
        return replace(self, primary=name, primary_reason=reason)

    def replica_links(self, source: str) -> tuple[Link, ...]:
        """Connections of running servers that point at ``source`` (any thread state)."""
        return tuple(link for s in self.servers if s.running for link in s.links
                     if link.source == source)

    def to_topology(self, generation: int = 0, weights: Mapping[str, float] | None = None,
                    global_gtid: GtidPosition | None = None) -> Topology:
        """The routing snapshot of this state."""
        return Topology.of((self._server_info(s, (weights or {}).get(s.name, 1.0))
                            for s in self.servers), generation, global_gtid)

    def _server_info(self, view: ServerView, weight: float) -> ServerInfo:
        obs = view.observation
        return ServerInfo(
            name=view.name,
            role=_role(view.states),
            healthy=view.running,
            maintenance=bool(view.states & ServerState.MAINTENANCE),
            draining=bool(view.states & ServerState.DRAINING),
            replication_lag=_lag(view, self.primary),
            gtid_position=obs.gtid_current_pos.to_position() if obs and obs.reachable else None,
            weight=weight,
        )


def _role(states: ServerState) -> ServerRole:
    for flag, role in _ROLE_OF:
        if states & flag:
            return role
    return ServerRole.UNKNOWN


_ROLE_OF = (
    (ServerState.DOWN, ServerRole.DOWN),
    (ServerState.MASTER, ServerRole.PRIMARY),
    (ServerState.RELAY_MASTER, ServerRole.RELAY),
    (ServerState.SLAVE, ServerRole.REPLICA),
    (ServerState.RUNNING, ServerRole.RUNNING),
)


def _lag(view: ServerView, primary: str | None) -> float | None:
    if view.name == primary:
        return 0.0
    lags = [link.status.seconds_behind_master for link in view.links
            if link.running and not link.external]
    known = [lag for lag in lags if lag is not None]
    return float(max(known)) if known and len(known) == len(lags) else None


# -- building ---------------------------------------------------------------------------------


def build_cluster(
    specs: Iterable[ServerSpec],
    observations: Mapping[str, ServerObservation],
    previous: ClusterState | None = None,
    settings: MonitorSettings | None = None,
    admin: Mapping[str, AdminMode] | None = None,
    failures: Mapping[str, int] | None = None,
) -> ClusterState:
    """The cluster at this tick.  ``specs`` in configured order; ``failures``: consecutive
    failed probes per server (from :mod:`interlock.monitor.health`), for stickiness."""
    specs = tuple(specs)
    settings = settings or MonitorSettings()
    admin = admin or {}
    graph = _Graph(specs, observations, _known_ids(previous))
    primary, reason, warnings = _select_primary(graph, previous, settings, admin, failures or {})
    views = tuple(_view(graph, spec, previous, admin.get(spec.name, AdminMode()), primary)
                  for spec in specs)
    warnings += _warnings(views, primary, graph)
    return ClusterState(views, primary, reason, tuple(warnings))


class _Graph:
    """Links and the running-replication graph of one tick (a private helper of the builder)."""

    def __init__(self, specs: tuple[ServerSpec, ...], observations: Mapping[str,
                 ServerObservation], known_ids: Mapping[int, str] | None = None) -> None:
        self.specs = specs
        self.order = {s.name: i for i, s in enumerate(specs)}
        self.obs = {s.name: observations[s.name] for s in specs if s.name in observations}
        self.running = {n for n, o in self.obs.items() if o.reachable}
        by_address = {(s.address.lower(), s.port): s.name for s in specs}
        ids: dict[int, list[str]] = {}
        for name in self.running:
            ids.setdefault(self.obs[name].server_id, []).append(name)
        for server_id, name in (known_ids or {}).items():
            if name not in self.running and server_id not in ids:
                ids[server_id] = [name]  # a down server, by the id it had when last seen
        self.links: dict[str, tuple[Link, ...]] = {
            name: tuple(_link(name, st, by_address, ids) for st in self.obs[name].slaves)
            for name in sorted(self.running, key=self.order.__getitem__)
        }
        self.children: dict[str, list[str]] = {s.name: [] for s in specs}
        for replica, links in self.links.items():
            for link in links:
                if link.running and link.source is not None and link.source != replica:
                    self.children[link.source].append(replica)

    def descendants(self, name: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.children.get(name, ()))
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(self.children.get(node, ()))
        seen.discard(name)
        return seen

    def cycle_of(self, name: str) -> set[str]:
        """Servers that replicate (transitively) from ``name`` and that it replicates from."""
        return {n for n in self.descendants(name) if name in self.descendants(n)}

    def outside_sources(self, name: str) -> list[str]:
        cycle = self.cycle_of(name)
        return [link.source for link in self.links.get(name, ())
                if link.running and link.source is not None and link.source not in cycle]

    def is_candidate(self, name: str, admin: Mapping[str, AdminMode]) -> bool:
        obs = self.obs.get(name)
        return (name in self.running and obs is not None and not obs.read_only
                and not admin.get(name, AdminMode()).maintenance
                and not self.outside_sources(name))

    def best(self, admin: Mapping[str, AdminMode]) -> str | None:
        names = [s.name for s in self.specs if self.is_candidate(s.name, admin)]
        if not names:
            return None
        return max(names, key=lambda n: (len(self.descendants(n)), -self.order[n]))


def _known_ids(previous: ClusterState | None) -> dict[int, str]:
    """server_id -> name of every server as last seen (a down server keeps its id, so the
    replicas' connections to it still resolve by ``Master_Server_Id``)."""
    if previous is None:
        return {}
    return {v.last_good.server_id: v.name for v in previous.servers
            if v.last_good is not None and v.last_good.server_id}


def _link(replica: str, status: SlaveStatus, by_address: Mapping[tuple[str, int], str],
          ids: Mapping[int, list[str]]) -> Link:
    address = f"{status.master_host}:{status.master_port}"
    source = by_address.get((status.master_host.lower(), status.master_port))
    if source is not None:
        return Link(replica, source, address, status, "address")
    same_id = ids.get(status.master_server_id or -1, [])
    if len(same_id) == 1 and same_id[0] != replica:
        return Link(replica, same_id[0], address, status, "server_id")
    return Link(replica, None, address, status, "")


def _invalid_reason(graph: _Graph, name: str, admin: Mapping[str, AdminMode],
                    settings: MonitorSettings, failures: Mapping[str, int]) -> str | None:
    """Why the previous primary can no longer be the primary (``None``: it still can)."""
    if name not in graph.order:
        return f"{name} is no longer monitored"
    if admin.get(name, AdminMode()).maintenance:
        return f"{name} is in maintenance"
    if name not in graph.running:
        pointing = any(link.source == name for links in graph.links.values() for link in links)
        if failures.get(name, 0) >= settings.failcount and not pointing:
            return f"{name} has been down for {failures.get(name, 0)} ticks with no replicas"
        return None
    if graph.obs[name].read_only:
        return f"{name} became read-only"
    outside = graph.outside_sources(name)
    if outside:
        return f"{name} started replicating from {', '.join(outside)}"
    return None


def _select_primary(graph: _Graph, previous: ClusterState | None, settings: MonitorSettings,
                    admin: Mapping[str, AdminMode], failures: Mapping[str, int]
                    ) -> tuple[str | None, str, list[str]]:
    best = graph.best(admin)
    current = previous.primary if previous is not None else None
    warnings: list[str] = []
    if current is not None:
        invalid = _invalid_reason(graph, current, admin, settings, failures)
        if invalid is None:
            if best is not None and best != current and current in graph.running:
                mine, theirs = len(graph.descendants(current)), len(graph.descendants(best))
                if theirs > mine:
                    warnings.append(f"server {best} is a better primary candidate than the "
                                    f"current primary {current} ({theirs} replicas vs {mine})")
            return current, f"{current} stays the primary", warnings
        if best is None:
            return None, f"no primary: {invalid}; no running writable server", warnings
        return best, f"{best} selected: {invalid}", warnings
    if best is None:
        return None, "no primary: no running writable server", warnings
    count = len(graph.descendants(best))
    return best, f"{best} selected: writable, {count} replica(s)", warnings


def _view(graph: _Graph, spec: ServerSpec, previous: ClusterState | None, mode: AdminMode,
          primary: str | None) -> ServerView:
    name = spec.name
    obs = graph.obs.get(name)
    prev_view = previous.server(name) if previous is not None else None
    last_good = obs if obs is not None and obs.reachable else (
        prev_view.last_good if prev_view is not None else None)
    states = ServerState.NONE
    if mode.maintenance:
        states |= ServerState.MAINTENANCE
    if mode.draining:
        states |= ServerState.DRAINING
    links = graph.links.get(name, ())
    if name not in graph.running:
        states |= ServerState.DOWN
        if obs is not None and obs.auth_error:
            states |= ServerState.AUTH_ERROR
        return ServerView(spec, states, obs, last_good, links)
    states |= ServerState.RUNNING
    if name == primary:
        states |= ServerState.MASTER
    elif primary is not None and name in graph.descendants(primary):
        states |= ServerState.SLAVE
        if any(c in graph.running and c != primary for c in graph.children[name]):
            states |= ServerState.RELAY_MASTER
    if any(link.external and link.running for link in links):
        states |= ServerState.SLAVE_OF_EXTERNAL
    return ServerView(spec, states, obs, last_good, links)


def _warnings(views: tuple[ServerView, ...], primary: str | None, graph: _Graph) -> list[str]:
    found: list[str] = []
    pview = next((v for v in views if v.name == primary), None)
    if pview is None or not pview.running:
        found.append("no running primary" if primary is None or pview is None
                     else f"the primary {primary} is down")
    elif pview.observation is not None:
        semi = pview.observation.semi_sync
        if semi.master_enabled and not semi.master_status:
            found.append(SEMISYNC_STOPPED.format(primary))
    for view in views:
        found += _server_warnings(view, primary, graph)
    return found


def _server_warnings(view: ServerView, primary: str | None, graph: _Graph) -> list[str]:
    found: list[str] = []
    obs = view.observation
    if obs is None or not obs.reachable:
        return found
    for link in view.links:
        source = link.source or f"external server {link.address}"
        label = f"server {view.name}: replication '{link.connection_name}' from {source}"
        found += [f"{label}: {error}" for error in link.status.errors]
        if link.status.using_gtid.value == "No" and not link.external:
            found.append(f"{label} does not use GTID: failover and switchover need it")
    if view.name != primary and not obs.read_only:
        if view.states & ServerState.SLAVE:
            found.append(f"server {view.name} is a replica but writable (read_only=OFF)")
        elif not view.states & ServerState.MAINTENANCE:
            found.append(f"server {view.name} is writable and does not replicate from the "
                         f"primary: writes there are not in the cluster (split brain risk)")
    return found
