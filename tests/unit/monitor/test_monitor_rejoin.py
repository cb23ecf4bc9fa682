"""Rejoin: prefix -> plan; diverged -> refusal naming the GTIDs; force; wrong primary."""

from __future__ import annotations

from monitor_helpers import REPL, cluster, link, replica, up

from interlock.monitor.rejoin import plan_rejoin
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.steps import Plan, Refusal, StepKind


def test_old_primary_with_prefix_rejoins() -> None:
    # server1 (old primary, standalone, writable) stopped at 0-1-100; server2 now primary
    c = cluster(up("server2", current="0-2-130"), replica("server3", "server2", pos="0-2-130"),
                up("server1", current="0-1-100"), names=("server2", "server3", "server1"))
    assert c.primary == "server2"
    p = plan_rejoin(c, "server1", REPL, demotion_sql=("SET GLOBAL event_scheduler=OFF",))
    assert isinstance(p, Plan), p
    assert [(s.kind, s.sql[:1]) for s in p.steps] == [
        (StepKind.SQL, ("SET GLOBAL event_scheduler=OFF",)),
        (StepKind.SQL, ("SET GLOBAL read_only=1",)),
        (StepKind.SQL, (p.steps[2].sql[0],)),
        (StepKind.CHECK_REPLICATING, ()),
    ]
    change = p.steps[2].sql
    assert change[0].startswith("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3302")
    assert "MASTER_DEMOTE_TO_SLAVE=1" in change[0] and change[1] == "START SLAVE"
    assert p.steps[3].param("source_name") == "server2"
    assert p.steps[3].timeout == 15.0  # REJOIN_CHECK_TIMEOUT: the loop does not tick meanwhile


def test_diverged_old_primary_is_refused_with_gtids() -> None:
    c = cluster(up("server2", current="0-2-130"), up("server1", current="0-1-133"),
                names=("server2", "server1"),
                previous=cluster(up("server2", current="0-2-130"), names=("server2",)))
    r = plan_rejoin(c, "server1", REPL)
    assert isinstance(r, Refusal)
    assert "server1 has diverged from server2" in r.reason
    assert r.details == ("server1 has 0-?-131..0-1-133 (3 transactions; the other server has "
                         "0-2-130)",)
    assert any("interlock ctl rejoin server1 --force" in m for m in r.remedies)
    assert any("rebuild" in m for m in r.remedies)
    assert "0-?-131..0-1-133" in r.describe()
    forced = plan_rejoin(c, "server1", REPL, force=True)
    assert isinstance(forced, Plan) and "forced although diverged" in forced.notes[0]


def test_conflicting_same_sequence_is_diverged() -> None:
    c = cluster(up("server2", current="0-2-130"), up("server1", current="0-1-130"),
                names=("server2", "server1"),
                previous=cluster(up("server2", current="0-2-130"), names=("server2",)))
    r = plan_rejoin(c, "server1", REPL)
    assert isinstance(r, Refusal) and "same sequence, other server id" in r.details[0]


def test_replica_of_wrong_primary_is_repointed_keeping_connection() -> None:
    # server3 still points at the dead server1; server2 is the primary
    c = cluster(up("server2", current="0-2-130"),
                replica("server3", "server1", pos="0-1-100", io="Connecting"),
                names=("server2", "server3", "server1"),
                previous=cluster(up("server2", current="0-2-130"), names=("server2",)))
    p = plan_rejoin(c, "server3", MonitorSettings())  # reuses the connection: no creds needed
    assert isinstance(p, Plan), p
    sql = p.steps[1].sql
    assert sql[0] == "STOP SLAVE" and "MASTER_PORT=3302" in sql[1]
    assert "MASTER_USE_GTID=slave_pos" in sql[1] and "MASTER_USER" not in sql[1]


def test_refusals() -> None:
    c = cluster(up("server1"), replica("server2"), up("server3", current=""))
    r = plan_rejoin(c, "server2", REPL)
    assert isinstance(r, Refusal) and "already replicates" in r.reason
    r = plan_rejoin(c, "server1", REPL)
    assert isinstance(r, Refusal) and "is the primary" in r.reason
    r = plan_rejoin(c, "server3", REPL)
    assert isinstance(r, Refusal) and "no GTID position" in r.reason
    assert isinstance(plan_rejoin(c, "server3", REPL, automatic=False), Plan)
    r = plan_rejoin(cluster(up("server1"), up("server3", current="0-1-9")), "server3",
                    MonitorSettings())
    assert isinstance(r, Refusal) and "replication_user is not set" in r.reason


def test_external_link_is_kept() -> None:
    s3 = up("server3", current="0-1-90", slaves=[link("ext", host="10.1.1.1", port=3306)])
    c = cluster(up("server1"), s3)
    p = plan_rejoin(c, "server3", REPL)
    assert isinstance(p, Plan)
    assert not any("RESET SLAVE" in q for s in p.steps for q in s.sql)
