"""Which replica takes a read: ``slave_selection_criteria`` over the usable candidates.

Candidates are the topology's usable replicas (healthy, not in maintenance, not draining,
weight > 0), minus those over ``max_replication_lag`` (lag unknown counts as over when a limit
is set) and, for ``causal_reads=fast``, those not known to have the wanted GTID position; with
``master_accept_reads`` the primary is a candidate too.

- ``least_current_operations`` (default): the fewest operations in flight relative to the
  weight, score ``(operations + 1) / weight``.
- ``least_behind_master``: the smallest lag, then the operations score.
- ``adaptive_routing``: random, with probability proportional to ``weight / estimate**2`` where
  ``estimate = response_time_ema * (operations + 1)``; servers without a measurement yet are
  tried first, so every server gets measured.
- ``least_global_connections`` / ``least_router_connections`` (legacy): fewest connections.

Ties are broken with the injected ``random.Random`` (seeded in tests), so equal replicas share
the load and a given seed always gives the same choice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

from interlock.routing.causal import GtidPosition, caught_up
from interlock.routing.settings import SelectionCriteria
from interlock.routing.topology import ServerInfo, Topology

_DEFAULT_RNG = random.Random()


def _operations(server: ServerInfo) -> float:  # (operations + 1) / weight
    return (server.load.current_operations + 1) / server.weight


def _connections(server: ServerInfo) -> float:
    return (server.load.connections + 1) / server.weight


def _lag(server: ServerInfo) -> float:
    return server.replication_lag if server.replication_lag is not None else float("inf")


def _pick(tied: Sequence[ServerInfo], rng: random.Random) -> ServerInfo:
    # rng.random() is one C call; rng.choice() several Python-level ones.
    return tied[0] if len(tied) == 1 else tied[int(rng.random() * len(tied))]


def _lowest(candidates: Sequence[ServerInfo], key: Callable[[ServerInfo], object],
            rng: random.Random) -> ServerInfo:
    scores = [key(s) for s in candidates]
    best = min(scores)  # type: ignore[type-var]
    return _pick([s for s, score in zip(candidates, scores, strict=True) if score == best], rng)


def _least_operations(candidates: Sequence[ServerInfo], rng: random.Random) -> ServerInfo:
    # The default criterion, on every read: one pass, no key function.
    best = float("inf")
    tied: list[ServerInfo] = []
    for server in candidates:
        score = (server.load.current_operations + 1) / server.weight
        if score < best:
            best, tied = score, [server]
        elif score == best:
            tied.append(server)
    return tied[0] if len(tied) == 1 else tied[int(rng.random() * len(tied))]  # (_pick)


def _least_behind(candidates: Sequence[ServerInfo], rng: random.Random) -> ServerInfo:
    return _lowest(candidates, lambda s: (_lag(s), _operations(s)), rng)


def _least_connections(candidates: Sequence[ServerInfo], rng: random.Random) -> ServerInfo:
    return _lowest(candidates, _connections, rng)


def _adaptive(candidates: Sequence[ServerInfo], rng: random.Random) -> ServerInfo:
    unmeasured = [s for s in candidates if s.load.response_time_ema is None]
    if unmeasured:
        return _least_operations(unmeasured, rng)
    estimates = [max(s.load.response_time_ema or 0.0, 1e-9) * (s.load.current_operations + 1)
                 for s in candidates]
    weights = [s.weight / (e * e) for s, e in zip(candidates, estimates, strict=True)]
    return rng.choices(list(candidates), weights=weights)[0]


_CHOOSERS: dict[SelectionCriteria, Callable[[Sequence[ServerInfo], random.Random], ServerInfo]] = {
    SelectionCriteria.LEAST_CURRENT_OPERATIONS: _least_operations,
    SelectionCriteria.LEAST_BEHIND_MASTER: _least_behind,
    SelectionCriteria.ADAPTIVE_ROUTING: _adaptive,
    SelectionCriteria.LEAST_GLOBAL_CONNECTIONS: _least_connections,
    SelectionCriteria.LEAST_ROUTER_CONNECTIONS: _least_connections,
}


_DEFAULT_CRITERIA = SelectionCriteria.LEAST_CURRENT_OPERATIONS


def within_lag(server: ServerInfo, max_lag: float) -> bool:
    """``max_replication_lag`` test: 0 means no limit; otherwise the lag must be below it."""
    if max_lag <= 0:
        return True
    return server.replication_lag is not None and server.replication_lag < max_lag


def candidates(topology: Topology, *, max_lag: float = 0.0,
               wanted: GtidPosition | None = None,
               synced: AbstractSet[str] = frozenset(),
               include_primary: bool = False) -> Sequence[ServerInfo]:
    """The servers a read may go to, before the selection criterion picks one."""
    if wanted is None:
        if max_lag <= 0 and not include_primary:
            return topology.replicas  # the common case: nothing to filter
        # without a GTID filter the answer depends on the (immutable) snapshot only
        memo = topology._candidates
        key = (max_lag, include_primary)
        found = memo.get(key)
        if found is None:
            found = memo[key] = tuple(_filtered(topology, max_lag, None, synced,
                                                include_primary))
        return found
    return _filtered(topology, max_lag, wanted, synced, include_primary)


def _filtered(topology: Topology, max_lag: float, wanted: GtidPosition | None,
              synced: AbstractSet[str], include_primary: bool) -> list[ServerInfo]:
    out = [s for s in topology.replicas if within_lag(s, max_lag)
           and (wanted is None or s.name in synced or caught_up(s.gtid_position, wanted))]
    primary = topology.primary
    if include_primary and primary is not None and not primary.draining and primary.weight > 0:
        out.append(primary)
    return out


def choose(servers: Sequence[ServerInfo], criteria: SelectionCriteria,
           rng: random.Random | None = None) -> ServerInfo | None:
    """Pick one of ``servers`` by ``criteria`` (``None`` when there are none)."""
    if not servers:
        return None
    if len(servers) == 1:
        return servers[0]
    if criteria is _DEFAULT_CRITERIA:  # (an Enum's hash is a Python-level call: skip it)
        return _least_operations(servers, rng or _DEFAULT_RNG)
    return _CHOOSERS[criteria](servers, rng or _DEFAULT_RNG)


def choose_replica(topology: Topology, criteria: SelectionCriteria, *, max_lag: float = 0.0,
                   wanted: GtidPosition | None = None, synced: AbstractSet[str] = frozenset(),
                   include_primary: bool = False,
                   rng: random.Random | None = None) -> ServerInfo | None:
    """The server a read goes to, or ``None`` when no candidate is usable."""
    found = candidates(topology, max_lag=max_lag, wanted=wanted, synced=synced,
                       include_primary=include_primary)
    return choose(found, criteria, rng)
