"""Switchover: checks, the fenced step order, rollback order, the dual-master variant."""

from __future__ import annotations

import pytest
from monitor_helpers import REPL, cluster, link, replica, up

from interlock.monitor.settings import MonitorSettings
from interlock.monitor.steps import Plan, Refusal, StepKind, render_sql, rollback_steps
from interlock.monitor.switchover import (
    DRAIN_MAX_SECONDS,
    DRAIN_SHARE,
    OLD_PRIMARY_GTID,
    drain_sql,
    plan_switchover,
)


def simple() -> Plan:
    c = cluster(up("server1"), replica("server2"), replica("server3", lag=50))
    p = plan_switchover(c, REPL, monitor_user="monitor", timeout=30.0)
    assert isinstance(p, Plan), p
    return p


def test_step_order() -> None:
    p = simple()
    assert p.target == "server2" and p.source == "server1"  # server3 lags 50s > 10s
    got = [(s.kind, s.server, s.description) for s in p.steps]
    assert [(k, srv) for k, srv, _ in got] == [
        (StepKind.CHECK_REPLICATING, "server2"),
        (StepKind.HOLD_WRITES, "server1"),
        (StepKind.DRAIN, "server1"),  # open transactions finish before the kill
        (StepKind.KILL_CLIENTS, "server1"),
        (StepKind.SQL, "server1"),  # read_only=1
        (StepKind.KILL_CLIENTS, "server1"),
        (StepKind.SQL, "server1"),  # flush
        (StepKind.READ_GTID, "server1"),
        (StepKind.WAIT_GTID, "server2"),
        (StepKind.SQL, "server2"),  # stop slave
        (StepKind.SQL, "server2"),  # reset slave all
        (StepKind.SQL, "server2"),  # read_only=0
        (StepKind.SQL, "server1"),  # old primary -> server2
        (StepKind.SQL, "server3"),  # other replica -> server2
        (StepKind.PUBLISH, "server2"),
        (StepKind.RELEASE_WRITES, "server2"),
        (StepKind.CHECK_REPLICATING, "server1"),
        (StepKind.CHECK_REPLICATING, "server3"),
    ]
    s = p.steps
    drain = s[2]
    assert drain.undo is None and drain.timeout == DRAIN_MAX_SECONDS  # min(2 s, 30 s / 4)
    assert drain.sql == (drain_sql(("monitor", "repl")),)
    assert "information_schema.INNODB_TRX" in drain.sql[0]
    assert "p.USER NOT IN ('monitor', 'repl', 'system user', 'event_scheduler')" in \
        drain.sql[0] and "p.ID <> CONNECTION_ID()" in drain.sql[0]
    assert s[4].sql == ("SET GLOBAL read_only=1",)
    assert s[3] == s[5]  # kill, read-only (it waits for running writes), kill again
    assert s[3].param("keep_users") == "monitor,repl" and s[3].timeout == 30.0
    assert s[6].sql == ("FLUSH NO_WRITE_TO_BINLOG TABLES", "FLUSH BINARY LOGS")
    assert s[7].output == OLD_PRIMARY_GTID
    assert render_sql(s[8], {OLD_PRIMARY_GTID: "0-1-123"}) == (
        "SELECT MASTER_GTID_WAIT('0-1-123', 30) AS result",)
    assert s[11].sql == ("SET GLOBAL read_only=0",)
    assert "MASTER_DEMOTE_TO_SLAVE=1" in s[12].sql[0]  # 10.11: the old primary keeps its GTIDs
    assert "MASTER_PORT=3302" in s[13].sql[1] and "MASTER_USE_GTID=slave_pos" in s[13].sql[1]
    assert p.point_of_no_return == 15


def test_drain_is_bounded_by_a_quarter_of_the_timeout() -> None:
    c = cluster(up("server1"), replica("server2"))
    for timeout, bound in ((30.0, DRAIN_MAX_SECONDS), (4.0, 1.0), (0.4, 0.1)):
        p = plan_switchover(c, REPL, monitor_user="monitor", timeout=timeout)
        assert isinstance(p, Plan), p
        drain = next(st for st in p.steps if st.kind is StepKind.DRAIN)
        assert drain.timeout == pytest.approx(bound)
        assert f"at most {bound:g}s" in drain.description
    assert DRAIN_SHARE == 0.25 and DRAIN_MAX_SECONDS == 2.0


def test_drain_sql_quotes_user_names() -> None:
    sql = drain_sql(("mon'itor",))
    assert "NOT IN ('mon\\'itor', 'system user', 'event_scheduler')" in sql


def test_rollback_order_after_each_step() -> None:
    p = simple()
    undo_of = {i: st.undo for i, st in enumerate(p.steps)}
    assert undo_of[0] is None and undo_of[2] is None and undo_of[3] is None
    assert undo_of[7] is None
    # the drain (2) failed (e.g. the old primary stopped answering): the held writes are
    # released to the old primary, nothing else was changed
    assert [(s.kind, s.server) for s in rollback_steps(p, 2)] == [
        (StepKind.RELEASE_WRITES, "server1")]
    # WAIT_GTID (8) times out: old primary writable again, then writes released there
    back = rollback_steps(p, 8)
    assert [(s.kind, s.server, s.sql) for s in back] == [
        (StepKind.SQL, "server1", ("SET GLOBAL read_only=0",)),
        (StepKind.RELEASE_WRITES, "server1", ()),
    ]
    # redirecting server3 (13) failed: everything since the hold is reversed, newest first
    back = rollback_steps(p, 13)
    assert [s.description for s in back] == [
        "point server3 back at server1",
        "remove server1's connection to server2",
        "make server2 read-only again",
        "re-create server2's connection to server1",
        "restart server2's replication",
        "make server1 writable again",
        "release the held writes to server1",
    ]
    assert "MASTER_PORT=3301" in back[0].sql[1] and back[3].sql[0].startswith("CHANGE MASTER")
    assert back[2].sql == ("SET GLOBAL read_only=1",)
    # publish failed: routing goes back to the old primary first
    assert rollback_steps(p, 14)[0].kind is StepKind.PUBLISH
    assert rollback_steps(p, 14)[0].server == "server1"
    # after the point of no return: nothing is undone
    assert rollback_steps(p, 16) == ()
    assert rollback_steps(p, -1) == ()


def test_explicit_target_and_refusals() -> None:
    c = cluster(up("server1"), replica("server2"), replica("server3", lag=50))
    r = plan_switchover(c, REPL, to="server3")
    assert isinstance(r, Refusal) and "lag 50s exceeds 10s" in r.details[0]
    r = plan_switchover(c, REPL, to="server1")
    assert isinstance(r, Refusal) and "already the primary" in r.reason
    r = plan_switchover(c, REPL, to="nope")
    assert isinstance(r, Refusal) and "not a monitored server" in r.reason
    r = plan_switchover(c, MonitorSettings(), to="server2")
    assert isinstance(r, Refusal) and "replication_user is not set" in r.reason
    laggy = MonitorSettings(replication_user="r", switchover_max_lag=60)
    p = plan_switchover(c, laggy, to="server3")
    assert isinstance(p, Plan) and p.target == "server3"
    stopped = cluster(up("server1"), replica("server2", io="Connecting"))
    r = plan_switchover(stopped, REPL)
    assert isinstance(r, Refusal) and "not connected to the primary (IO Connecting)" in \
        r.details[0]


def test_no_fencing_switch_only_for_tests() -> None:
    c = cluster(up("server1"), replica("server2"))
    p = plan_switchover(c, REPL, fence=False)
    assert isinstance(p, Plan)
    assert StepKind.KILL_CLIENTS not in [s.kind for s in p.steps]
    assert StepKind.DRAIN not in [s.kind for s in p.steps]  # the drain belongs to the fencing
    assert ("SET GLOBAL read_only=1",) not in [s.sql for s in p.steps if s.server == "server1"]


def test_old_mariadb_uses_current_pos() -> None:
    c = cluster(up("server1", version="10.6.12-MariaDB-log"), replica("server2"))
    p = plan_switchover(c, REPL)
    assert isinstance(p, Plan)
    redirect = next(s for s in p.steps if s.server == "server1" and s.sql
                    and s.sql[0].startswith("CHANGE MASTER"))
    assert "MASTER_USE_GTID=current_pos" in redirect.sql[0]


def test_dual_master_swaps_writable_role_without_change_master() -> None:
    s1 = up("server1", slaves=[link("server2", conn="peer")])
    s2 = up("server2", read_only=True, slaves=[link("server1", conn="peer")])
    c = cluster(s1, s2)
    p = plan_switchover(c, MonitorSettings(), monitor_user="monitor")  # no repl user needed
    assert isinstance(p, Plan), p
    assert not any("CHANGE MASTER" in q or "RESET SLAVE" in q for s in p.steps for q in s.sql)
    assert [(s.kind, s.server) for s in p.steps] == [
        (StepKind.CHECK_REPLICATING, "server2"),
        (StepKind.HOLD_WRITES, "server1"),
        (StepKind.DRAIN, "server1"),
        (StepKind.KILL_CLIENTS, "server1"),
        (StepKind.SQL, "server1"),
        (StepKind.KILL_CLIENTS, "server1"),
        (StepKind.SQL, "server1"),
        (StepKind.READ_GTID, "server1"),
        (StepKind.WAIT_GTID, "server2"),
        (StepKind.SQL, "server2"),
        (StepKind.PUBLISH, "server2"),
        (StepKind.RELEASE_WRITES, "server2"),
        (StepKind.CHECK_REPLICATING, "server1"),
    ]
    assert p.steps[-1].param("connection") == "peer"
    assert [s.description for s in rollback_steps(p, 10)] == [
        "route to server1 again", "make server2 read-only again",
        "make server1 writable again", "release the held writes to server1"]
    assert any("only the writable role moves" in n for n in p.notes)


def test_no_running_primary() -> None:
    from monitor_helpers import down
    c = cluster(down("server1"), replica("server2"))
    r = plan_switchover(c, REPL)
    assert isinstance(r, Refusal) and "no running primary" in r.reason
