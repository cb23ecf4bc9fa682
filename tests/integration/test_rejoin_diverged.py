"""A diverged old primary is refused rejoin, with the GTIDs named (issue 5).

server1 commits a transaction its replica never receives (the replica's IO thread is stopped),
then is killed; the monitor fails over to server2, which commits its own transactions.  When
server1 comes back, ``auto_rejoin`` refuses it: its state note names the GTID only server1
has and what a person can do; a manual rejoin without ``force`` is refused the same way.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.monitor_support import LiveProxy

from interlock.monitor.plans import Refusal
from interlock.sandbox import Sandbox


def test_diverged_old_primary_is_refused_with_the_gtids(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=1)
    sb.sql("server1", "CREATE TABLE app.d (id INT PRIMARY KEY, who VARCHAR(10))")
    # auto_rejoin is switched on after the failover: before it, it would (rightly) restart
    # server2's stopped IO thread and the divergence would not happen
    monitor = {"monitor_interval": "200ms", "failcount": "2", "auto_failover": "true",
               "master_failure_timeout": "1s"}
    with LiveProxy(sb, tmp_path, monitor) as lp:
        lp.wait_for("server1 is the Master", lambda: lp.primary() == "server1")
        sb.sql("server2", "STOP SLAVE IO_THREAD")
        sb.sql("server1", "INSERT INTO app.d VALUES (1, 'only-s1')")
        extra = sb.sql("server1", "SELECT @@gtid_binlog_pos AS p")[0]["p"]
        sb.kill("server1", signal.SIGKILL)
        lp.wait_for("failover to server2", lambda: lp.primary() == "server2")
        conn = lp.connect()
        with conn.cursor() as cur:
            cur.execute("INSERT INTO app.d VALUES (1, 'cluster')")
        conn.close()
        lp.run(lambda: setattr(lp.monitor, "settings",
                               dataclasses.replace(lp.monitor.settings, auto_rejoin=True)))
        sb.start("server1")
        lp.wait_for("server1 refused", lambda: "diverged" in lp.monitor.notes.get("server1", ""))
        note = lp.monitor.notes["server1"]
        assert extra in note, (extra, note)  # the exact GTID only server1 has
        assert "rejoin server1 --force" in note and "rebuild" in note
        time.sleep(1.0)  # more ticks: still refused, not rejoined
        assert lp.states()["server1"] == "Running"
        assert sb.sql("server1", "SHOW ALL SLAVES STATUS") == []
        refusal = lp.call(lp.monitor.rejoin("server1"))
        assert isinstance(refusal, Refusal) and extra in refusal.describe()
        status = {s.name: s for s in lp.run(lp.monitor.status)}
        assert extra in status["server1"].note


pytestmark = pytest.mark.integration
