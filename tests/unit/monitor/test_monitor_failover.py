"""Failover: candidate rules and tie-breaks, the plan, semi-sync, anti-flapping."""

from __future__ import annotations

import pytest
from monitor_helpers import cluster, down, link, replica, up

from interlock.monitor.candidates import rank_candidates
from interlock.monitor.cluster import AdminMode, ClusterState
from interlock.monitor.failover import FailoverHistory, failover_block, plan_failover
from interlock.monitor.health import PrimaryJudgement, Verdict
from interlock.monitor.observations import SemiSync, ServerObservation
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.steps import Plan, Refusal, StepKind, rollback_steps

AUTO = MonitorSettings(auto_failover=True, replication_user="repl",
                       replication_password="pw", servers_no_promotion=("server5",))
FAILED = PrimaryJudgement(Verdict.FAILED, "server1", "test: failed")


def failed_cluster(*replicas: ServerObservation, priorities: dict[str, int] | None = None,
                   admin: dict[str, AdminMode] | None = None,
                   primary: ServerObservation | None = None) -> ClusterState:
    names = ("server1", *(r.name for r in replicas))
    first = cluster(primary or up("server1"), *[replica(r.name) for r in replicas], names=names)
    return cluster(down("server1"), *replicas, names=names, previous=first,
                   failures={"server1": 5}, priorities=priorities, admin=admin)


def lost(name: str, pos: str, applied: str | None = None, *, log_bin: bool = True,
         log_slave_updates: bool = True, **kw: object) -> ServerObservation:
    """A replica whose IO thread lost the primary: received up to ``pos``, applied ``applied``;
    ``kw`` goes to the connection (sql=, using=)."""
    st = link("server1", io="Connecting", io_pos=pos, **kw)  # type: ignore[arg-type]
    return up(name, read_only=True, current=applied or pos, slaves=[st], log_bin=log_bin,
              log_slave_updates=log_slave_updates)


def plan(c: ClusterState, **kw: object) -> Plan:
    result = plan_failover(c, AUTO, now=100.0, judgement=FAILED, **kw)  # type: ignore[arg-type]
    assert isinstance(result, Plan), result.describe() if isinstance(result, Refusal) else result
    return result


def test_most_advanced_after_relay_log_wins() -> None:
    # server2 applied more, but server3 *received* more: after its relay log it is ahead
    c = failed_cluster(lost("server2", "0-1-105"), lost("server3", "0-1-108", "0-1-101"))
    p = plan(c)
    assert p.target == "server3" and p.source == "server1"
    first = p.steps[0]
    assert first.kind is StepKind.WAIT_RELAY_APPLIED and first.server == "server3"
    assert first.timeout == AUTO.failover_timeout and first.param("domain") == "0"
    assert any("7 relay-log transaction(s)" in n for n in p.notes)


def test_tie_broken_by_priority_then_name() -> None:
    tied = (lost("server2", "0-1-105"), lost("server3", "0-1-105"), lost("server4", "0-1-105"))
    assert plan(failed_cluster(*tied)).target == "server2"  # name
    assert plan(failed_cluster(*tied, priorities={"server4": 1, "server3": 2})).target == \
        "server4"
    assert plan(failed_cluster(*tied, priorities={"server3": 5})).target == "server3"


@pytest.mark.parametrize(("bad", "reason"), [
    (lost("server2", "0-1-110", log_bin=False), "binary logging is off"),
    (lost("server2", "0-1-110", log_slave_updates=False), "log_slave_updates is off"),
    (lost("server5", "0-1-110"), "servers_no_promotion"),
    (lost("server2", "0-1-110", sql=False), "SQL thread not running"),
    (lost("server2", "0-1-110", using="No"), "replicates without GTID"),
])
def test_candidate_rules(bad: ServerObservation, reason: str) -> None:
    other = "server3" if bad.name != "server3" else "server2"
    c = failed_cluster(bad, lost(other, "0-1-101"))
    p = plan(c)
    assert p.target == other  # the more advanced one is excluded
    ranking = rank_candidates(c, "server1", AUTO)
    rejected = next(r for r in ranking if r.name == bad.name)
    assert not rejected.eligible and any(reason in r for r in rejected.rejected)


def test_log_bin_helper_kw() -> None:
    """The helper really builds observations with the flags (guards the parametrized test)."""
    obs = lost("server2", "0-1-1", log_bin=False)
    assert not obs.log_bin and obs.log_slave_updates


def test_maintenance_is_not_a_candidate_and_no_candidate_is_a_refusal() -> None:
    c = failed_cluster(lost("server2", "0-1-105"), admin={"server2": AdminMode(maintenance=True)})
    r = plan_failover(c, AUTO, now=100.0, judgement=FAILED)
    assert isinstance(r, Refusal) and r.reason == "no server can be promoted"
    assert r.details == ("server2: in maintenance",)


def test_plan_steps_promote_publish_redirect_verify() -> None:
    c = failed_cluster(lost("server2", "0-1-105"), lost("server3", "0-1-104"))
    p = plan(c, promotion_sql=("SET GLOBAL event_scheduler=ON",))
    kinds = [(s.kind, s.server) for s in p.steps]
    assert kinds == [
        (StepKind.WAIT_RELAY_APPLIED, "server2"),
        (StepKind.SQL, "server2"), (StepKind.SQL, "server2"), (StepKind.SQL, "server2"),
        (StepKind.SQL, "server2"),
        (StepKind.PUBLISH, "server2"),
        (StepKind.SQL, "server3"),
        (StepKind.CHECK_REPLICATING, "server3"),
    ]
    assert p.steps[1].sql == ("STOP SLAVE",) and p.steps[2].sql == ("RESET SLAVE ALL",)
    assert p.steps[3].sql == ("SET GLOBAL read_only=0",)
    assert p.steps[4].sql == ("SET GLOBAL event_scheduler=ON",)
    redirect = p.steps[6].sql
    assert redirect[0] == "STOP SLAVE" and redirect[2] == "START SLAVE"
    assert redirect[1] == (
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3302, MASTER_USER='repl', "
        "MASTER_PASSWORD='pw', MASTER_USE_GTID=slave_pos, MASTER_HEARTBEAT_PERIOD=2.5")
    assert "MASTER_PASSWORD='***'" in p.steps[6].describe()
    assert p.steps[7].param("source") == "127.0.0.1:3302"
    assert p.point_of_no_return == 5
    assert all(s.undo is None for s in p.steps)
    assert rollback_steps(p, 2) == ()


def test_refusals_before_candidates() -> None:
    c = failed_cluster(lost("server2", "0-1-105"))
    off = MonitorSettings()
    r = plan_failover(c, off, now=0.0, judgement=FAILED)
    assert isinstance(r, Refusal) and r.reason == "auto_failover is off"
    unverified = PrimaryJudgement(Verdict.UNREACHABLE_FROM_PROXY, "server1", "replicas see it")
    r = plan_failover(c, AUTO, now=0.0, judgement=unverified)
    assert isinstance(r, Refusal) and "not declared failed: replicas see it" in r.reason
    running = cluster(up("server1"), replica("server2"))
    r = plan_failover(running, AUTO, now=0.0, judgement=FAILED, automatic=False)
    assert isinstance(r, Refusal) and "is running" in r.reason
    # manual failover skips auto_failover / verdict checks
    assert isinstance(plan_failover(c, off, now=0.0, automatic=False), Plan)


def test_anti_flapping_block_and_acknowledgement() -> None:
    c = failed_cluster(lost("server2", "0-1-105"))
    hist = FailoverHistory().record(1000.0)
    r = plan_failover(c, AUTO, now=1000.0 + 600, judgement=FAILED, history=hist)
    assert isinstance(r, Refusal) and "blocked for another 3000s" in r.reason
    assert any("interlock ctl failover-ack" in m for m in r.remedies)
    assert isinstance(plan_failover(c, AUTO, now=1000.0 + 3600, judgement=FAILED,
                                    history=hist), Plan)
    acked = hist.acknowledge(1200.0)
    assert failover_block(acked, 1300.0, AUTO) is None
    # an acknowledgement older than the last failover does not count
    assert failover_block(acked.record(1250.0), 1300.0, AUTO) is not None
    # manual failover is not blocked
    assert isinstance(plan_failover(c, AUTO, now=1100.0, automatic=False, history=hist), Plan)


def test_semisync_unreachable_semisync_replica_refuses() -> None:
    semi_primary = up("server1", semi=SemiSync(master_enabled=True, master_status=True))
    semi_replica = SemiSync(slave_enabled=True, slave_status=True)
    names = ("server1", "server2", "server3")
    first = cluster(semi_primary, replica("server2"),
                    up("server3", read_only=True, semi=semi_replica, slaves=[link("server1")]),
                    names=names)
    c = cluster(down("server1"), lost("server2", "0-1-105"), down("server3"), names=names,
                previous=first, failures={"server1": 5})
    r = plan_failover(c, AUTO, now=0.0, judgement=FAILED)
    assert isinstance(r, Refusal) and "semi-sync replica(s) server3 unreachable" in r.reason
    # all semi-sync replicas reachable: planned, with the guarantee stated
    ok = cluster(down("server1"), lost("server2", "0-1-105"), lost("server3", "0-1-106"),
                 names=names, previous=first, failures={"server1": 5})
    p = plan(ok)
    assert p.target == "server3"
    assert any("holds every acknowledged commit" in n for n in p.notes)


def test_semisync_stopped_is_noted() -> None:
    stopped = up("server1", semi=SemiSync(master_enabled=True, master_status=False))
    p = plan(failed_cluster(lost("server2", "0-1-105"), primary=stopped))
    assert any("had stopped" in n for n in p.notes)


def test_domain_of_failed_primary() -> None:
    """Candidates are compared in the failed primary's own domain, not in others."""
    c = failed_cluster(lost("server2", "0-1-105,1-7-900"), lost("server3", "0-1-106"))
    assert plan(c).target == "server3"
    prim = up("server1", domain=1, current="1-1-50")
    c1 = failed_cluster(lost("server2", "1-1-60"), lost("server3", "0-9-999,1-1-55"),
                        primary=prim)
    assert plan(c1).target == "server2"
