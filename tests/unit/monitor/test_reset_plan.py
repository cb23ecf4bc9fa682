"""reset-replication planning: refusals, the step order, the point of no return, rollback and
what a failure past it leaves behind."""

from __future__ import annotations

from monitor_helpers import REPL, cluster, down, link, replica, up

from interlock.monitor.cluster import AdminMode, ClusterState
from interlock.monitor.executor import PlanOutcome, StepResult
from interlock.monitor.reset import (
    EVENTS_KEY,
    RESET_FROM_GTID,
    busy_refusal,
    plan_reset_replication,
    reset_gtid,
)
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.steps import Plan, PlanKind, Refusal, StepKind, render_sql, rollback_steps


def three() -> ClusterState:
    return cluster(up("server1"), replica("server2"), replica("server3"))


def plan(c: ClusterState, primary: str | None = None,
         settings: MonitorSettings = REPL) -> Plan:
    p = plan_reset_replication(c, settings, primary=primary, monitor_user="monitor",
                               timeout=30.0)
    assert isinstance(p, Plan), p
    return p


def refusal(c: ClusterState, primary: str | None = None,
            settings: MonitorSettings = REPL) -> Refusal:
    r = plan_reset_replication(c, settings, primary=primary, monitor_user="monitor")
    assert isinstance(r, Refusal), r
    assert r.operation is PlanKind.RESET_REPLICATION
    return r


def test_step_order_with_a_replica_as_new_primary() -> None:
    p = plan(three(), "server2")
    assert (p.kind, p.target, p.source) == (PlanKind.RESET_REPLICATION, "server2", "server1")
    assert [(s.kind, s.server) for s in p.steps] == [
        (StepKind.HOLD_WRITES, "server1"),
        # fencing of the writable primary, as in a switchover
        (StepKind.DRAIN, "server1"),
        (StepKind.KILL_CLIENTS, "server1"),
        (StepKind.SQL, "server1"),  # read_only=1
        (StepKind.KILL_CLIENTS, "server1"),
        # the replicas apply everything the primary committed
        (StepKind.READ_GTID, "server1"),
        (StepKind.WAIT_GTID, "server2"),
        (StepKind.WAIT_GTID, "server3"),
        # every server: replication removed, read-only, events off
        (StepKind.DISABLE_EVENTS, "server1"),
        (StepKind.SQL, "server2"),  # STOP SLAVE; RESET SLAVE ALL
        (StepKind.SQL, "server2"),  # read_only=1
        (StepKind.DISABLE_EVENTS, "server2"),
        (StepKind.SQL, "server3"),
        (StepKind.SQL, "server3"),
        (StepKind.DISABLE_EVENTS, "server3"),
        # the destructive part
        (StepKind.SQL, "server1"),  # RESET MASTER
        (StepKind.SQL, "server1"),  # gtid_slave_pos
        (StepKind.SQL, "server2"),
        (StepKind.SQL, "server2"),
        (StepKind.SQL, "server3"),
        (StepKind.SQL, "server3"),
        # the new primary and its replicas
        (StepKind.SQL, "server2"),  # read_only=0
        (StepKind.ENABLE_EVENTS, "server2"),
        (StepKind.SQL, "server1"),  # CHANGE MASTER + START SLAVE
        (StepKind.SQL, "server3"),
        (StepKind.PUBLISH, "server2"),
        (StepKind.RELEASE_WRITES, "server2"),
        (StepKind.CHECK_REPLICATING, "server1"),
        (StepKind.CHECK_REPLICATING, "server3"),
    ]
    s = p.steps
    assert s[2] == s[4] and s[2].param("keep_users") == "monitor,repl"
    assert s[3].sql == ("SET GLOBAL read_only=1",)
    assert s[5].output == RESET_FROM_GTID
    assert render_sql(s[6], {RESET_FROM_GTID: "0-1-77"}) == (
        "SELECT MASTER_GTID_WAIT('0-1-77', 30) AS result",)
    assert s[9].sql == ("STOP SLAVE", "RESET SLAVE ALL")
    assert s[10].sql == ("SET GLOBAL read_only=1",) and s[10].undo is None
    assert s[15].sql == ("RESET MASTER",)
    assert p.point_of_no_return == 15  # the first RESET MASTER
    # MaxScale's "sequence 0": the new primary's domain and server id
    assert s[16].sql == ("SET GLOBAL gtid_slave_pos='0-2-0'",)
    assert s[18].sql == ("SET GLOBAL gtid_slave_pos='0-2-0'",)
    assert s[21].sql == ("SET GLOBAL read_only=0",)
    assert s[22].inputs == tuple(EVENTS_KEY.format(server=n)
                                 for n in ("server1", "server2", "server3"))
    assert [st.output for st in s if st.kind is StepKind.DISABLE_EVENTS] == list(s[22].inputs)
    change = s[23].sql
    assert change[0].startswith("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3302")
    assert "MASTER_USER='repl'" in change[0] and "MASTER_USE_GTID=slave_pos" in change[0]
    assert change[1] == "START SLAVE"
    assert s[25].param("demoted") == "server1"
    assert s[27].param("source") == "127.0.0.1:3302" and s[27].param("connection") == ""
    assert any(n.startswith("destructive: deletes the binary logs and GTID history of server1, "
                            "server2, server3; cannot be undone after step 16") for n in p.notes)


def test_default_new_primary_is_the_current_primary() -> None:
    p = plan(three())
    assert p.target == "server1" and p.source == "server1"
    writable = [s for s in p.steps if s.sql == ("SET GLOBAL read_only=0",)]
    assert [s.server for s in writable] == ["server1"]
    assert [s.server for s in p.steps if s.kind is StepKind.ENABLE_EVENTS] == ["server1"]
    assert [s.server for s in p.steps if s.sql and s.sql[0].startswith("CHANGE MASTER")] == [
        "server2", "server3"]
    publish = next(s for s in p.steps if s.kind is StepKind.PUBLISH)
    assert publish.server == "server1" and publish.param("demoted") == ""
    assert "SET GLOBAL gtid_slave_pos='0-1-0'" in [q for s in p.steps for q in s.sql]


def test_gtid_position_uses_the_new_primary_domain_and_server_id() -> None:
    c = cluster(up("server1", domain=3, server_id=11),
                replica("server2"))
    p = plan(c)
    assert reset_gtid(3, 11) == "3-11-0"
    assert [q for s in p.steps for q in s.sql if "gtid_slave_pos" in q] == [
        "SET GLOBAL gtid_slave_pos='3-11-0'"] * 2


def test_refusals() -> None:
    r = refusal(three(), "server9")
    assert r.reason == "server9 is not a monitored server"
    assert r.details == ("monitored: server1, server2, server3",)
    r = refusal(cluster(up("server1"), replica("server2"), down("server3")))
    assert "every server must be running" in r.reason
    assert r.details == ("server3 is Down",)
    r = refusal(cluster(up("server1"), down("server2", auth=True), down("server3")), "server1")
    assert r.details == ("server2 is Auth Error, Down", "server3 is Down")
    r = refusal(cluster(up("server1"), replica("server2"), replica("server3"),
                        admin={"server3": AdminMode(maintenance=True)}))
    assert r.reason.startswith("server3 in maintenance")
    nobody = cluster(up("server1", read_only=True), replica("server2"))
    assert nobody.primary is None
    r = refusal(nobody)
    assert r.reason == "there is no primary to keep" and "reset-replication" in r.remedies[0]
    r = refusal(cluster(up("server1"), up("server2", read_only=True, log_bin=False,
                                          slaves=[link("server1")])), "server2")
    assert "server2 has no binary log" in r.reason
    r = refusal(three(), settings=MonitorSettings())
    assert "replication_user is not set" in r.reason
    busy = busy_refusal("server2")
    assert busy.describe() == ("reset-replication refused for server2: another cluster "
                               "operation is running (switchover, failover, rejoin or an "
                               "automatic action). What you can do: try again when it has "
                               "finished")


def test_rollback_before_the_point_of_no_return() -> None:
    p = plan(three(), "server2")
    ponr = p.point_of_no_return
    assert ponr == 15
    # a replica did not catch up in time (step 8): the primary is writable again and gets
    # the held writes; nothing else was changed
    assert [(s.kind, s.server, s.sql) for s in rollback_steps(p, 7)] == [
        (StepKind.SQL, "server1", ("SET GLOBAL read_only=0",)),
        (StepKind.RELEASE_WRITES, "server1", ()),
    ]
    # the first RESET MASTER failed (an error: it deleted nothing): everything is undone
    back = rollback_steps(p, ponr)
    assert [s.description for s in back] == [
        "enable server3's events again",
        "re-create server3's replication connection (default) to server1",
        "enable server2's events again",
        "re-create server2's replication connection (default) to server1",
        "enable server1's events again",
        "make server1 writable again",
        "release the held writes to server1",
    ]
    assert back[0].inputs == (EVENTS_KEY.format(server="server3"),)
    assert back[1].sql[0].startswith("CHANGE MASTER TO MASTER_HOST='127.0.0.1', "
                                     "MASTER_PORT=3301")
    assert "MASTER_USE_GTID=slave_pos" in back[1].sql[0] and back[1].sql[1] == "START SLAVE"
    # past it: nothing is undone
    assert rollback_steps(p, ponr + 1) == ()


def test_a_failure_past_the_point_of_no_return_says_what_is_left() -> None:
    p = plan(three(), "server2")
    ponr = p.point_of_no_return
    assert ponr is not None
    assert all(not s.if_failed for s in p.steps[: ponr + 1])
    after = p.steps[ponr + 1:]
    assert all("cannot be rolled back (RESET MASTER deletes for good)" in s.if_failed
               and "run reset-replication again naming server2" in s.if_failed for s in after)
    reset2 = p.steps[ponr + 2]  # RESET MASTER on server2
    assert reset2.sql == ("RESET MASTER",) and reset2.server == "server2"
    assert ("binary logs and GTID history already deleted on server1, not yet on server2, "
            "server3") in reset2.if_failed
    assert "every server is read-only" in reset2.if_failed
    point3 = next(s for s in after if s.description == "point server3 at server2")
    assert "already deleted on server1, server2, server3;" in point3.if_failed
    assert "not yet pointed at server2: server3" in point3.if_failed
    assert "pointed at server2: server1" in point3.if_failed
    assert "server2 is writable, the others read-only" in point3.if_failed
    last = p.steps[-1]
    assert "the proxy routes writes to server2" in last.if_failed
    # the outcome names the step, the error and the state left behind
    index = p.steps.index(reset2)
    failed = StepResult(reset2, 0.2, "error 1227: Access denied")
    results = (*(StepResult(s, 0.01) for s in p.steps[:index]), failed)
    text = PlanOutcome(p, results).describe()
    assert text.startswith(f"reset-replication of server2 failed at step {index + 1} (delete "
                           "server2's binary logs and GTID history): error 1227: Access denied. "
                           "cannot be rolled back")
    assert "rolled back;" not in text


def test_catch_up_only_where_replication_runs_from_the_primary() -> None:
    c = cluster(up("server1"), replica("server2"), replica("server3", sql=False,
                                                          sql_error="dup key"))
    p = plan(c, "server3")
    waits = [s.server for s in p.steps if s.kind is StepKind.WAIT_GTID]
    assert waits == ["server2"]
    assert any(n.startswith("server3 not replicating from server1: reset-replication does "
                            "not copy data") for n in p.notes)
    assert any(n.startswith("server3 does not replicate from server1: writes server1 has and "
                            "server3 lacks stay only on server1") for n in p.notes)
    # its broken connection is removed like the others
    assert ("STOP SLAVE", "RESET SLAVE ALL") in [s.sql for s in p.steps if s.server == "server3"]


def test_named_primary_without_a_current_primary_fences_nothing() -> None:
    c = cluster(up("server1", read_only=True), replica("server2"), replica("server3"))
    assert c.primary is None
    p = plan(c, "server2")
    kinds = {s.kind for s in p.steps}
    assert not kinds & {StepKind.HOLD_WRITES, StepKind.KILL_CLIENTS, StepKind.DRAIN,
                        StepKind.READ_GTID, StepKind.WAIT_GTID}
    assert p.source is None
    assert (p.steps[0].server, p.steps[0].sql) == ("server1", ("SET GLOBAL read_only=1",))
    assert any(n.startswith("there is no primary: no server is brought up to date") for n in
               p.notes)
    publish = next(s for s in p.steps if s.kind is StepKind.PUBLISH)
    assert publish.param("demoted") == ""


def test_every_writable_server_is_fenced_and_every_connection_removed() -> None:
    s2 = up("server2", read_only=False, current="0-1-100", slaves=[
        link("server1"),
        link("server1", conn="ext", port=4400, host="10.0.0.9", io_pos="7-9-5")])
    c = cluster(up("server1"), s2, replica("server3"))
    p = plan(c, "server1")
    fenced = [s.server for s in p.steps if s.kind is StepKind.KILL_CLIENTS]
    assert fenced == ["server1", "server1", "server2", "server2"]
    removals = [s for s in p.steps if s.server == "server2" and s.sql
                and s.sql[0].startswith("STOP SLAVE")]
    assert [s.sql for s in removals] == [("STOP SLAVE", "RESET SLAVE ALL"),
                                         ("STOP SLAVE 'ext'", "RESET SLAVE 'ext' ALL")]
    assert removals[1].description == ("stop and remove server2's replication connection "
                                       "'ext' to 10.0.0.9:4400")
    undo = removals[1].undo
    assert undo is not None and undo.sql[0].startswith(
        "CHANGE MASTER 'ext' TO MASTER_HOST='10.0.0.9', MASTER_PORT=4400")
    assert undo.sql[1] == "START SLAVE 'ext'"
    # server2 was fenced (writable): its read-only step is the fencing's, with an undo
    ro2 = [s for s in p.steps if s.server == "server2" and s.sql == ("SET GLOBAL read_only=1",)]
    assert len(ro2) == 1 and ro2[0].undo is not None
    assert ro2[0].undo.sql == ("SET GLOBAL read_only=0",)


def test_server_without_binlog_gets_no_reset_master() -> None:
    s3 = up("server3", read_only=True, log_bin=False, slaves=[link("server1")])
    p = plan(cluster(up("server1"), replica("server2"), s3))
    on3 = [q for s in p.steps if s.server == "server3" for q in s.sql]
    assert "RESET MASTER" not in on3 and "SET GLOBAL gtid_slave_pos='0-1-0'" in on3
