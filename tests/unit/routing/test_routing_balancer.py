"""Replica choice: slave_selection_criteria, weights, filters, deterministic tie-breaking."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from routing_helpers import primary, replica, topology

from interlock.routing.balancer import candidates, choose, choose_replica, within_lag
from interlock.routing.causal import GtidPosition
from interlock.routing.errors import SettingsError
from interlock.routing.settings import SelectionCriteria
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole

LCO = SelectionCriteria.LEAST_CURRENT_OPERATIONS
LBM = SelectionCriteria.LEAST_BEHIND_MASTER
ADAPTIVE = SelectionCriteria.ADAPTIVE_ROUTING


def pick_counts(servers: list[ServerInfo], criteria: SelectionCriteria, n: int = 2000,
                seed: int = 3) -> Counter[str]:
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for _ in range(n):
        chosen = choose(servers, criteria, rng)
        assert chosen is not None
        counts[chosen.name] += 1
    return counts


def test_least_current_operations_picks_the_idlest() -> None:
    servers = [replica("a", ops=4), replica("b", ops=1), replica("c", ops=2)]
    assert pick_counts(servers, LCO, 50) == {"b": 50}


def test_weights_scale_the_operations() -> None:
    servers = [replica("a", ops=3, weight=4.0), replica("b", ops=1)]  # 4/4=1.0 < 2/1
    assert pick_counts(servers, LCO, 20) == {"a": 20}


def test_ties_are_shared_and_reproducible() -> None:
    servers = [replica("a"), replica("b"), replica("c")]
    counts = pick_counts(servers, LCO)
    assert set(counts) == {"a", "b", "c"} and min(counts.values()) > 500
    assert pick_counts(servers, LCO, seed=11) == pick_counts(servers, LCO, seed=11)
    first = [choose(servers, LCO, random.Random(5)) for _ in range(3)]
    assert len({s.name for s in first if s}) == 1  # same seed, same choice


def test_least_behind_master_then_operations() -> None:
    servers = [replica("a", lag=5), replica("b", lag=1, ops=3), replica("c", lag=1, ops=1),
               replica("d", lag=None)]
    assert pick_counts(servers, LBM, 20) == {"c": 20}


def test_adaptive_routing_measures_unmeasured_servers_first() -> None:
    a = replica("a")
    a.load.response_time_ema = 0.001
    b = replica("b")
    assert pick_counts([a, b], ADAPTIVE, 20) == {"b": 20}


def test_adaptive_routing_prefers_fast_servers_without_starving_slow_ones() -> None:
    fast, slow = replica("fast"), replica("slow")
    fast.load.response_time_ema, slow.load.response_time_ema = 0.001, 0.004  # 16x the weight
    counts = pick_counts([fast, slow], ADAPTIVE, 3400)
    assert 2900 < counts["fast"] < 3300 and counts["slow"] > 100
    slow.load.current_operations = 0
    fast.load.current_operations = 7  # estimate 8 ms vs 4 ms: now the slow one wins more
    counts = pick_counts([fast, slow], ADAPTIVE, 1000)
    assert counts["slow"] > counts["fast"]


def test_least_connections_criteria() -> None:
    a, b = replica("a"), replica("b")
    a.load.connections, b.load.connections = 10, 2
    for criteria in (SelectionCriteria.LEAST_GLOBAL_CONNECTIONS,
                     SelectionCriteria.LEAST_ROUTER_CONNECTIONS):
        assert pick_counts([a, b], criteria, 10) == {"b": 10}


def test_choose_edge_cases() -> None:
    assert choose([], LCO) is None
    only = replica("only", ops=99)
    assert choose([only], ADAPTIVE) is only


def test_candidate_filters() -> None:
    topo = topology(primary(), replica("ok"), replica("down", healthy=False),
                    replica("maint", maintenance=True), replica("drain", draining=True),
                    replica("zero", weight=0), replica("lagging", lag=100),
                    replica("unknown", lag=None),
                    ServerInfo("running", ServerRole.RUNNING))
    names = [s.name for s in candidates(topo)]
    assert names == ["ok", "lagging", "unknown"]
    assert [s.name for s in candidates(topo, max_lag=10)] == ["ok"]
    assert [s.name for s in candidates(topo, max_lag=10, include_primary=True)] == ["ok", "p1"]


def test_draining_primary_takes_no_extra_reads() -> None:
    topo = topology(primary(draining=True), replica("r1"))
    assert [s.name for s in candidates(topo, include_primary=True)] == ["r1"]


def test_primary_with_weight_zero_takes_no_reads() -> None:
    # master_accept_reads with the primary weighted 0: it is not a candidate (choosing among
    # candidates divides by the weight, so it used to raise ZeroDivisionError)
    topo = topology(primary(weight=0.0), replica("r1"))
    assert [s.name for s in candidates(topo, include_primary=True)] == ["r1"]
    only_primary = topology(primary(weight=0.0))
    assert list(candidates(only_primary, include_primary=True)) == []


def test_gtid_filter_with_synced_servers() -> None:
    topo = topology(primary(), replica("a", gtid="0-1-5"), replica("b", gtid="0-1-9"),
                    replica("c"))
    wanted = GtidPosition.parse("0-1-8")
    assert [s.name for s in candidates(topo, wanted=wanted)] == ["b"]
    assert [s.name for s in candidates(topo, wanted=wanted, synced={"c"})] == ["b", "c"]
    chosen = choose_replica(topo, LCO, wanted=GtidPosition.parse("0-1-99"))
    assert chosen is None


def test_within_lag() -> None:
    assert within_lag(replica("a", lag=None), 0)
    assert not within_lag(replica("a", lag=None), 1)
    assert within_lag(replica("a", lag=0.5), 1) and not within_lag(replica("a", lag=1), 1)


@pytest.mark.parametrize(("text", "value"), [
    ("least_current_operations", LCO), ("LEAST_CURRENT_OPERATIONS", LCO),
    (" Adaptive_Routing ", ADAPTIVE), ("least_behind_master", LBM),
])
def test_criteria_spellings(text: str, value: SelectionCriteria) -> None:
    assert SelectionCriteria.parse(text) is value


def test_unknown_criteria() -> None:
    with pytest.raises(SettingsError, match="least_current_operations"):
        SelectionCriteria.parse("round_robin")


def test_server_load_counters() -> None:
    load = ServerLoad()
    load.started()
    load.started()
    load.finished(0.010)
    assert load.current_operations == 1 and load.response_time_ema == 0.010
    load.finished(0.020, alpha=0.5)
    assert load.current_operations == 0 and load.response_time_ema == pytest.approx(0.015)
    load.finished()
    assert load.current_operations == 0
