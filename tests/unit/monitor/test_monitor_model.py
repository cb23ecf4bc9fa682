"""Plan model helpers, SQL text, events and their history, settings, enforcement plans."""

from __future__ import annotations

import pytest
from monitor_helpers import cluster, down, replica, up

from interlock.monitor.errors import MonitorError, MonitorSettingsError
from interlock.monitor.events import Event, EventHistory, EventKind, state_changes
from interlock.monitor.plans import plan_enforcement
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.sqltext import (
    ReplicationSource,
    change_master,
    parse_sql_file,
    quote,
    redact,
)
from interlock.monitor.states import ServerState
from interlock.monitor.steps import (
    Plan,
    PlanKind,
    Refusal,
    Step,
    StepKind,
    render_sql,
    rollback_steps,
)


def test_render_sql_quotes_context_values() -> None:
    step = Step(StepKind.WAIT_GTID, "s", "wait", 5.0,
                sql=("SELECT MASTER_GTID_WAIT(${pos}, 5), '${other}'",), inputs=("pos",))
    assert render_sql(step, {"pos": "0-1-5'; DROP"}) == (
        "SELECT MASTER_GTID_WAIT('0-1-5\\'; DROP', 5), '${other}'",)
    with pytest.raises(MonitorError, match="needs pos"):
        render_sql(step, {})


def test_quote_redact_and_sql_file() -> None:
    assert quote("a'b\\c") == "'a\\'b\\\\c'"
    settings = MonitorSettings(replication_user="r", replication_password="p'w",
                               replication_master_ssl=True)
    sql = change_master("east", ReplicationSource("h", 1), settings)
    assert sql.startswith("CHANGE MASTER 'east' TO MASTER_HOST='h', MASTER_PORT=1")
    assert "MASTER_SSL=1" in sql and "p\\'w" in sql
    assert "p\\'w" not in redact(sql) and "MASTER_PASSWORD='***'" in redact(sql)
    assert parse_sql_file("# comment\n\nSET GLOBAL a=1\n  SET GLOBAL b=2  \n") == (
        "SET GLOBAL a=1", "SET GLOBAL b=2")


def test_rollback_includes_failed_step_and_respects_point_of_no_return() -> None:
    def st(name: str, undo: bool = True) -> Step:
        return Step(StepKind.SQL, "s", name, 1.0,
                    undo=Step(StepKind.SQL, "s", f"undo {name}", 1.0) if undo else None)
    plan = Plan(PlanKind.SWITCHOVER, "b", "a", (st("1"), st("2", undo=False), st("3"), st("4")),
                point_of_no_return=2)
    assert [s.description for s in rollback_steps(plan, 0)] == ["undo 1"]
    assert [s.description for s in rollback_steps(plan, 2)] == ["undo 3", "undo 1"]
    assert rollback_steps(plan, 3) == ()
    assert plan.describe()[0] == "switchover of b (from a)"
    assert plan.describe()[1] == "1. [s] 1"


def test_refusal_describe() -> None:
    r = Refusal(PlanKind.REJOIN, "s1", "diverged", ("s1 has 0-1-5",), ("rebuild", "force"))
    assert r.describe() == ("rejoin refused for s1: diverged [s1 has 0-1-5]. "
                            "What you can do: rebuild or force")


def test_state_change_events() -> None:
    first = cluster(up("server1"), replica("server2"))
    events = state_changes(None, first, 10.0)
    assert [(e.server, e.new, e.reason) for e in events] == [
        ("server1", ServerState.MASTER | ServerState.RUNNING, "first observation"),
        ("server2", ServerState.SLAVE | ServerState.RUNNING, "first observation")]
    second = cluster(up("server1"), replica("server2", io="No"), previous=first)
    (ev,) = state_changes(first, second, 12.0)
    assert ev.server == "server2" and ev.old == ServerState.SLAVE | ServerState.RUNNING
    assert ev.new == ServerState.RUNNING
    assert "no longer replicating from the primary ('' IO No, SQL Yes)" in ev.reason
    assert str(ev).startswith("server2: [Slave, Running] -> [Running]")
    third = cluster(down("server1"), replica("server2", io="No"), previous=second)
    (ev,) = state_changes(second, third, 14.0)
    assert ev.new == ServerState.DOWN and "probe failed: down (2003)" in ev.reason
    assert state_changes(third, third, 15.0) == ()


def test_event_history_ring_buffer() -> None:
    hist = EventHistory(capacity=3)
    for i in range(5):
        hist.append(Event(float(i), f"s{i % 2}", ServerState.NONE, ServerState.RUNNING,
                          f"e{i}", EventKind.ACTION))
    assert len(hist) == 3 and hist.dropped == 2
    assert [e.reason for e in hist] == ["e2", "e3", "e4"]
    assert [e.reason for e in hist.recent(2)] == ["e3", "e4"] and hist.recent(0) == ()
    assert [e.reason for e in hist.for_server("s0")] == ["e2", "e4"]
    assert [e.reason for e in hist.since(3.0)] == ["e3", "e4"]
    assert str(hist.recent(1)[0]) == "s0: action: e4"
    with pytest.raises(ValueError):
        EventHistory(0)


def test_settings_defaults_and_params() -> None:
    d = MonitorSettings()
    assert (d.monitor_interval, d.failcount, d.auto_failover, d.auto_rejoin) == (2.0, 5, False,
                                                                                 False)
    assert (d.failover_timeout, d.switchover_timeout, d.master_failure_timeout) == (90, 90, 10)
    assert d.verify_master_failure and d.failover_block == 3600.0
    s = MonitorSettings.from_params(
        {"monitor_interval": "500ms", "failcount": "3", "auto_failover": "true",
         "servers_no_promotion": "server3, server4", "failover_block": "10m",
         "replication_password": "hunter2", "unknown_key": "1"}, replication_user="repl")
    assert s.monitor_interval == 0.5 and s.failcount == 3 and s.auto_failover
    assert s.servers_no_promotion == ("server3", "server4") and s.failover_block == 600.0
    assert s.replication_user == "repl" and "hunter2" not in repr(s)
    assert s.replication_password == "hunter2"
    with pytest.raises(MonitorSettingsError, match="failcount"):
        MonitorSettings.from_params({"failcount": "0"})
    with pytest.raises(MonitorSettingsError, match="auto_failover"):
        MonitorSettings.from_params({"auto_failover": "maybe"})


def test_enforcement_plans() -> None:
    c = cluster(up("server1", read_only=True), up("server2", read_only=False,
                                                   slaves=replica("server2").slaves))
    assert plan_enforcement(c, MonitorSettings()) == ()
    c2 = cluster(up("server1"), up("server2", slaves=replica("server2").slaves))
    (p,) = plan_enforcement(c2, MonitorSettings(enforce_read_only_slaves=True))
    assert p.target == "server2" and p.steps[0].sql == ("SET GLOBAL read_only=1",)
    first = cluster(up("server1"), replica("server2"))
    ro = cluster(up("server1", read_only=True), replica("server2"), previous=first)
    assert ro.primary is None  # a read-only primary is no longer the primary (MaxScale)
