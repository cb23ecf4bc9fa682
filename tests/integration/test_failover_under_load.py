"""Failover under load (issue 5), semi-sync on: no acknowledged commit is lost.

A writer inserts numbered rows through the proxy and records every commit the proxy
acknowledged; the primary is killed with SIGKILL; the monitor (failcount 3, holistic check)
promotes a replica and the writer continues through the proxy.  Afterwards every acknowledged
row is on the new primary, no server holds a GTID the new primary lacks (nothing errant), all
servers hold identical tables, and the killed server rejoins as a replica once restarted
(``auto_rejoin``).  The time from the kill to the first acknowledged write after it is
reported (``-s`` shows it).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest
from tests.integration.monitor_support import LiveProxy, checksum, replication_errors, wait_gtid

from interlock.monitor.gtid import GtidList, prefix_check
from interlock.sandbox import Sandbox

TABLE = "app.ledger"


@dataclass
class Writer:
    lp: LiveProxy
    acked: list[tuple[int, float]] = field(default_factory=list)  # (n, when acknowledged)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        conn = None
        while not self.stop.is_set():
            n += 1
            try:
                if conn is None:
                    conn = self.lp.connect(connect_timeout=2, read_timeout=5, write_timeout=5)
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {TABLE} (n) VALUES ({n})")
                self.acked.append((n, time.monotonic()))
            except pymysql.MySQLError as exc:
                self.errors.append(f"{n}: {exc.args}")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def acked_after(self, moment: float) -> list[int]:
        return [n for n, at in self.acked if at > moment]


def sql_files(tmp_path: Path) -> dict[str, str]:
    promote = tmp_path / "promote.sql"
    promote.write_text("# semi-sync follows the primary role\n"
                       "SET GLOBAL rpl_semi_sync_master_wait_point=AFTER_SYNC\n"
                       "SET GLOBAL rpl_semi_sync_master_enabled=1\n")
    demote = tmp_path / "demote.sql"
    demote.write_text("SET GLOBAL rpl_semi_sync_master_enabled=0\n")
    return {"promotion_sql_file": str(promote), "demotion_sql_file": str(demote)}


def test_failover_under_load_loses_no_acknowledged_commit(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2, semi_sync=True)
    sb.sql("server1", f"CREATE TABLE {TABLE} (n INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT "
                      "CURRENT_TIMESTAMP(6))")
    monitor = {"monitor_interval": "300ms", "failcount": "3", "auto_failover": "true",
               "auto_rejoin": "true", "master_failure_timeout": "2s",
               "backend_connect_timeout": "1s", "backend_read_timeout": "1s",
               **sql_files(tmp_path)}
    with LiveProxy(sb, tmp_path, monitor) as lp:
        assert lp.primary() == "server1"
        writer = Writer(lp)
        thread = threading.Thread(target=writer.run, daemon=True)
        thread.start()
        lp.wait_for("writes before the kill", lambda: len(writer.acked) >= 200)
        killed_at = time.monotonic()
        sb.kill("server1", signal.SIGKILL)
        lp.wait_for("a promoted primary", lambda: lp.primary() not in (None, "server1"))
        lp.wait_for("writes after the failover", lambda: len(writer.acked_after(killed_at)) >= 100)
        writer.stop.set()
        thread.join(30)
        first_after = min(at for _, at in writer.acked if at > killed_at)
        print(f"\nfailover: kill -9 to the first acknowledged write {first_after - killed_at:.2f}s"
              f" (monitor_interval=300ms, failcount=3); {len(writer.errors)} failed writes")
        new = lp.primary()
        assert new in ("server2", "server3")

        acked = {n for n, _ in writer.acked}
        on_new = {int(r["n"]) for r in sb.sql(new, f"SELECT n FROM {TABLE}")}
        assert acked <= on_new, f"acknowledged but lost: {sorted(acked - on_new)[:20]}"

        sb.start("server1")
        lp.wait_for("server1 rejoined", lambda: lp.states().get("server1") == "Slave, Running",
                    timeout=60)
        others = [s.name for s in sb.servers if s.name != new]
        pos = GtidList.parse(wait_gtid(sb, new, others))
        for name in others:
            mine = GtidList.parse(sb.sql(name, "SELECT @@gtid_current_pos AS p")[0]["p"])
            check = prefix_check(mine, pos)
            assert check.ok, f"{name} has errant GTIDs: {check.describe()}"
        assert replication_errors(sb) == {}
        sums = {s.name: checksum(sb, s.name, TABLE) for s in sb.servers}
        assert len(set(sums.values())) == 1, sums
        kinds = [str(e) for e in lp.monitor.events]
        assert any("failover of" in e and "done in" in e for e in kinds), kinds
        assert any("rejoin of server1" in e and "done in" in e for e in kinds), kinds


pytestmark = pytest.mark.integration
