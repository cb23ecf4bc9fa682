"""Failure counting and the holistic primary-failure verdict."""

from __future__ import annotations

from monitor_helpers import cluster, down, replica, up

from interlock.monitor.cluster import ClusterState
from interlock.monitor.health import HealthState, Verdict, judge_primary, update_health
from interlock.monitor.observations import ServerObservation
from interlock.monitor.settings import MonitorSettings

S = MonitorSettings(failcount=3, master_failure_timeout=10.0)


def run_ticks(ticks: list[tuple[float, list[ServerObservation]]],
              settings: MonitorSettings = S) -> tuple[ClusterState, HealthState]:
    """Feed ticks (time, observations) through health + cluster as the loop will."""
    health: HealthState | None = None
    state: ClusterState | None = None
    for now, observations in ticks:
        health = update_health(health, {o.name: o for o in observations}, now)
        state = cluster(*observations, previous=state, settings=settings,
                        failures=health.failures)
    assert state is not None and health is not None
    return state, health


def test_failure_counting_resets_on_success() -> None:
    h = update_health(None, {"a": down("a")}, 0.0)
    h = update_health(h, {"a": down("a")}, 1.0)
    assert h.failure_count("a") == 2 and "down (2003)" in h.last_error["a"]
    h = update_health(h, {"b": up("server2")}, 2.0)  # a not probed: keeps its count
    assert h.failure_count("a") == 2
    h = update_health(h, {"a": up("server1")}, 3.0)
    assert h.failure_count("a") == 0 and "a" not in h.last_error


def healthy_tick(now: float) -> tuple[float, list[ServerObservation]]:
    return (now, [up("server1"), replica("server2"), replica("server3")])


def test_healthy_and_suspect() -> None:
    state, health = run_ticks([healthy_tick(0.0)])
    assert judge_primary(state, health, S, 0.0).verdict is Verdict.HEALTHY
    state, health = run_ticks([healthy_tick(0.0),
                               (2.0, [down("server1"), replica("server2", io="Connecting"),
                                      replica("server3", io="Connecting")])])
    j = judge_primary(state, health, S, 2.0)
    assert j.verdict is Verdict.SUSPECT and "1 of 3 probes failed" in j.reason


def test_failed_when_replicas_lost_it_too() -> None:
    lost = [down("server1"), replica("server2", io="Connecting"),
            replica("server3", io="Connecting")]
    state, health = run_ticks([healthy_tick(0.0), (2.0, lost), (4.0, lost), (6.0, lost)])
    j = judge_primary(state, health, S, 6.0)
    assert j.verdict is Verdict.FAILED and j.failed
    assert "server2: IO Connecting" in j.reason and "server3: IO Connecting" in j.reason


def test_unreachable_from_proxy_only_while_replicas_receive() -> None:
    ticks = [healthy_tick(0.0)]
    for i, now in enumerate((2.0, 4.0, 6.0), start=1):
        pos = f"0-1-{100 + i}"
        ticks.append((now, [down("server1"), replica("server2", pos=pos),
                            replica("server3", pos=pos)]))
    state, health = run_ticks(ticks)
    j = judge_primary(state, health, S, 6.0)
    assert j.verdict is Verdict.UNREACHABLE_FROM_PROXY and not j.failed
    assert j.still_replicating == ("server2", "server3")
    assert "unreachable from the proxy" in j.reason and "no failover" in j.reason


def test_heartbeats_count_as_receiving() -> None:
    ticks = [healthy_tick(0.0)]
    for hb, now in enumerate((2.0, 4.0, 6.0), start=1):
        ticks.append((now, [down("server1"), replica("server2", heartbeats=hb),
                            replica("server3", heartbeats=hb)]))
    state, health = run_ticks(ticks)
    assert judge_primary(state, health, S, 6.0).verdict is Verdict.UNREACHABLE_FROM_PROXY


def test_connected_but_silent_verifies_then_fails() -> None:
    """IO Yes without any movement: not conclusive until master_failure_timeout has passed
    since the connection was first seen; then it counts as lost (half-open)."""
    silent = [down("server1"), replica("server2"), replica("server3")]
    state, health = run_ticks([(0.0, silent), (2.0, silent), (4.0, silent)])
    j = judge_primary(state.with_primary("server1"), health, S, 4.0)
    assert j.verdict is Verdict.VERIFYING and "10s" in j.reason
    ticks = [(t, silent) for t in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0)]
    state, health = run_ticks(ticks)
    assert judge_primary(state.with_primary("server1"), health, S, 12.0).verdict is \
        Verdict.FAILED


def test_one_replica_receiving_is_enough_to_block_failover() -> None:
    ticks = [healthy_tick(0.0)]
    for i, now in enumerate((2.0, 4.0, 6.0), start=1):
        ticks.append((now, [down("server1"), replica("server2", pos=f"0-1-{100 + i}"),
                            replica("server3", io="Connecting")]))
    state, health = run_ticks(ticks)
    j = judge_primary(state, health, S, 6.0)
    assert j.verdict is Verdict.UNREACHABLE_FROM_PROXY and j.still_replicating == ("server2",)


def test_verify_master_failure_off_fails_on_count_alone() -> None:
    off = MonitorSettings(failcount=3, verify_master_failure=False)
    ticks = [healthy_tick(0.0)]
    for i, now in enumerate((2.0, 4.0, 6.0), start=1):
        ticks.append((now, [down("server1"), replica("server2", pos=f"0-1-{100 + i}")]))
    state, health = run_ticks(ticks, off)
    j = judge_primary(state, health, off, 6.0)
    assert j.verdict is Verdict.FAILED and "verify_master_failure=off" in j.reason


def test_no_primary() -> None:
    state, health = run_ticks([(0.0, [down("server1"), down("server2")])])
    assert judge_primary(state, health, S, 0.0).verdict is Verdict.NO_PRIMARY
