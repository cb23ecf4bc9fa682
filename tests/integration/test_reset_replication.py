"""reset-replication on a private cluster (issues 5 and 7): MaxScale's destructive command.

After rows are written, the monitor resets replication with the replica server2 as the new
primary: every server's binary logs and GTIDs start over (what MariaDB shows is checked),
server1 and server3 replicate from server2, the rows written before are on every server, a
write through the proxy afterwards reaches every server, and the monitor shows server2 as the
primary.  Two more clusters: the refusals (an unknown server, another operation running, a
server down) change nothing, and a cluster left half reset (what a failure past the first
RESET MASTER leaves) is finished by running the command again; a replica that cannot catch up
makes the plan fail *before* anything destructive, rolled back: the old primary writable,
binlogs and GTIDs untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.monitor_support import (
    LiveProxy,
    checksum,
    replication_errors,
    wait_gtid,
)

from interlock.monitor.executor import PlanOutcome
from interlock.monitor.plans import Refusal
from interlock.monitor.steps import StepKind
from interlock.sandbox import Sandbox

TABLE = "app.rr"
NAMES = ("server1", "server2", "server3")
MONITOR = {"monitor_interval": "200ms", "failcount": "2", "backend_connect_timeout": "1s",
           "backend_read_timeout": "1s"}


def var(sb: Sandbox, server: str, name: str) -> str:
    return sb.sql(server, f"SELECT @@{name} AS v")[0]["v"]


def slaves(sb: Sandbox, server: str) -> list[dict[str, str]]:
    return sb.sql(server, "SHOW ALL SLAVES STATUS")


def event_status(sb: Sandbox, server: str) -> str:
    rows = sb.sql(server, "SELECT STATUS FROM information_schema.EVENTS "
                          "WHERE EVENT_SCHEMA='app' AND EVENT_NAME='rr_tick'")
    return rows[0]["STATUS"]


def test_reset_replication_with_a_replica_as_new_primary(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2)
    port = {s.name: str(s.port) for s in sb.servers}
    sb.sql("server1", f"CREATE TABLE {TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    sb.sql("server1", f"INSERT INTO {TABLE} (v) VALUES (1), (2), (3)")
    sb.sql("server1", "CREATE EVENT app.rr_tick ON SCHEDULE EVERY 1 HOUR DO DO 0")
    old_pos = var(sb, "server1", "gtid_binlog_pos")
    assert old_pos.startswith("0-1-")
    with LiveProxy(sb, tmp_path, MONITOR) as lp:
        lp.wait_for("server1 is the Master", lambda: lp.primary() == "server1")
        outcome = lp.call(lp.monitor.reset_replication("server2"))
        assert isinstance(outcome, PlanOutcome), outcome
        assert outcome.ok, outcome.describe()
        done = [(r.step.kind, r.step.server, r.step.sql) for r in outcome.results]
        assert [s for k, s, sql in done if sql == ("RESET MASTER",)] == list(NAMES)
        assert [s for k, s, _ in done if k is StepKind.WAIT_GTID] == ["server2", "server3"]

        # what MariaDB shows right after: empty binlog position, one fresh binlog file,
        # gtid_slave_pos (and so gtid_current_pos) at sequence 0 of server2's domain and id
        for name in NAMES:
            assert var(sb, name, "gtid_binlog_pos") == "", name
            assert var(sb, name, "gtid_slave_pos") == "0-2-0", name
            assert var(sb, name, "gtid_current_pos") == "0-2-0", name
            logs = sb.sql(name, "SHOW BINARY LOGS")
            assert [r["Log_name"] for r in logs] == ["mariadb-bin.000001"], (name, logs)
        assert var(sb, "server2", "read_only") == "0" and slaves(sb, "server2") == []
        for name in ("server1", "server3"):
            assert var(sb, name, "read_only") == "1"
            (row,) = slaves(sb, name)
            assert (row["Master_Port"], row["Slave_IO_Running"], row["Slave_SQL_Running"],
                    row["Using_Gtid"]) == (port["server2"], "Yes", "Yes", "Slave_Pos"), row
        # events: enabled again only on the new primary
        assert [event_status(sb, n) for n in NAMES] == [
            "SLAVESIDE_DISABLED", "ENABLED", "SLAVESIDE_DISABLED"]
        # the rows written before are on every server
        assert {checksum(sb, n, TABLE) for n in NAMES} == {checksum(sb, "server2", TABLE)}
        for name in NAMES:
            assert sb.sql(name, f"SELECT COUNT(*) AS n FROM {TABLE}")[0]["n"] == "3"
        # the monitor shows the new primary and routes writes there
        lp.wait_for("server2 is the Master", lambda: lp.primary() == "server2")
        lp.wait_for("the others are its replicas", lambda: lp.states() == {
            "server1": "Slave, Running", "server2": "Master, Running",
            "server3": "Slave, Running"})
        conn = lp.connect()
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} (v) VALUES (4)")
        conn.close()
        pos = wait_gtid(sb, "server2", ["server1", "server3"])
        assert pos == "0-2-1"  # the new history's first transaction
        for name in NAMES:
            assert var(sb, name, "gtid_binlog_pos") == "0-2-1", name  # log_slave_updates
            assert sb.sql(name, f"SELECT COUNT(*) AS n FROM {TABLE}")[0]["n"] == "4"
        assert len({checksum(sb, n, TABLE) for n in NAMES}) == 1
        assert replication_errors(sb) == {}


def test_refusals_change_nothing_and_a_half_done_reset_can_be_finished(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2)
    sb.sql("server1", f"CREATE TABLE {TABLE} (id INT PRIMARY KEY)")
    with LiveProxy(sb, tmp_path, MONITOR) as lp:
        lp.wait_for("server1 is the Master", lambda: lp.primary() == "server1")
        before = {n: var(sb, n, "gtid_binlog_pos") for n in NAMES}

        refusal = lp.call(lp.monitor.reset_replication("server9"))
        assert isinstance(refusal, Refusal), refusal
        assert "server9 is not a monitored server" in refusal.describe()

        # another operation holds the monitor's operation lock (every cluster operation and
        # every tick takes it); the reset waits only as long as a tick could, then refuses
        async def take() -> None:
            await lp.monitor._ops.acquire()

        lp.call(take())
        try:
            refusal = lp.call(lp.monitor.reset_replication("server2"))
        finally:
            lp.run(lp.monitor._ops.release)
        assert isinstance(refusal, Refusal), refusal
        assert "another cluster operation is running" in refusal.describe()

        sb.stop("server3")
        lp.wait_for("server3 is Down", lambda: lp.states()["server3"] == "Down")
        refusal = lp.call(lp.monitor.reset_replication())
        assert isinstance(refusal, Refusal), refusal
        assert "every server must be running" in refusal.reason
        assert refusal.details == ("server3 is Down",)
        assert {n: var(sb, n, "gtid_binlog_pos") for n in ("server1", "server2")} == {
            n: before[n] for n in ("server1", "server2")}
        assert var(sb, "server1", "read_only") == "0"
        assert slaves(sb, "server2")[0]["Slave_SQL_Running"] == "Yes"
        events = [e.reason for e in lp.monitor.events.recent(50)]
        assert any("reset-replication refused" in e and "server3 is Down" in e for e in events)

        # the state a failure at server2's RESET MASTER leaves (what the outcome describes):
        # server1 fenced and reset, no replication anywhere, server2 and server3 not reset yet
        sb.start("server3")
        lp.wait_for("server3 is back", lambda: lp.states()["server3"] == "Slave, Running")
        sb.sql("server1", f"INSERT INTO {TABLE} VALUES (1)")
        wait_gtid(sb, "server1", ["server2", "server3"])
        for name in ("server2", "server3"):
            sb.sql(name, "STOP SLAVE; RESET SLAVE ALL")
        sb.sql("server1", "SET GLOBAL read_only=1")
        sb.sql("server1", "RESET MASTER")
        lp.wait_for("no primary left", lambda: lp.primary() is None)
        # running it again, naming the primary, finishes the job
        outcome = lp.call(lp.monitor.reset_replication("server2"))
        assert isinstance(outcome, PlanOutcome) and outcome.ok, outcome
        assert any("there is no primary" in n for n in outcome.plan.notes)
        lp.wait_for("server2 is the Master", lambda: lp.primary() == "server2")
        conn = lp.connect()
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} VALUES (2)")
        conn.close()
        assert wait_gtid(sb, "server2", ["server1", "server3"]) == "0-2-1"
        for name in NAMES:
            assert sb.sql(name, f"SELECT COUNT(*) AS n FROM {TABLE}")[0]["n"] == "2"
        assert replication_errors(sb) == {}


def test_a_replica_that_cannot_catch_up_is_rolled_back_before_any_reset(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2)
    sb.sql("server1", f"CREATE TABLE {TABLE} (id INT PRIMARY KEY)")
    wait_gtid(sb, "server1", ["server2", "server3"])
    # server3 replicates (threads running) but applies nothing for a minute
    sb.sql("server3", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=60; START SLAVE")
    sb.sql("server1", f"INSERT INTO {TABLE} VALUES (1)")
    before = {n: var(sb, n, "gtid_binlog_pos") for n in NAMES}
    files = {n: len(sb.sql(n, "SHOW BINARY LOGS")) for n in NAMES}
    monitor = {**MONITOR, "switchover_timeout": "2s"}  # the catch-up limit
    with LiveProxy(sb, tmp_path, monitor) as lp:
        lp.wait_for("server3 is a replica", lambda: lp.states()["server3"] == "Slave, Running")
        outcome = lp.call(lp.monitor.reset_replication())
        assert isinstance(outcome, PlanOutcome) and not outcome.ok, outcome
        failed = outcome.failed
        assert failed is not None
        assert (failed.step.kind, failed.step.server) == (StepKind.WAIT_GTID, "server3")
        assert "MASTER_GTID_WAIT returned -1" in (failed.error or "")
        assert [r.step.description for r in outcome.rollback] == [
            "make server1 writable again", "release the held writes to server1"]
        assert all(r.ok for r in outcome.rollback)
        text = outcome.describe()
        assert "wait until server3 has applied all of server1's transactions" in text
        assert "rolled back" in text and "cannot be rolled back" not in text
        # nothing destructive happened
        assert {n: var(sb, n, "gtid_binlog_pos") for n in NAMES} == before
        assert {n: len(sb.sql(n, "SHOW BINARY LOGS")) for n in NAMES} == files
        assert var(sb, "server1", "read_only") == "0"
        for name in ("server2", "server3"):
            (row,) = slaves(sb, name)
            assert (row["Slave_IO_Running"], row["Slave_SQL_Running"]) == ("Yes", "Yes")
        assert lp.primary() == "server1"
        conn = lp.connect()
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} VALUES (2)")
        conn.close()
        wait_gtid(sb, "server1", ["server2"])
        assert sb.sql("server2", f"SELECT COUNT(*) AS n FROM {TABLE}")[0]["n"] == "2"


pytestmark = pytest.mark.integration
