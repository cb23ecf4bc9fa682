"""The dual-master incident (issue 5): a statement already running on the old primary must not
commit after a switchover.

A client runs ``INSERT INTO t (v) VALUES (SLEEP(n))`` through the proxy on an AUTO_INCREMENT
table; while it sleeps the monitor switches over and new rows go to the new primary.  With
Interlock's fencing (``KILL CONNECTION`` on the old primary, ``read_only=1``, kill again) the
sleeping statement dies and rolls back: no replication error, unique ids, equal checksums.
With the fencing switched off (the test knob ``monitor.fence = False``: what a proxy-only
switchover does) the statement commits on the old primary after the switch with the same id
the new primary handed out, and replication breaks: the second test shows the check catches
it.  Each test has its own sandbox (they break or re-shape the cluster).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest
from tests.integration.monitor_support import LiveProxy, checksum, replication_errors

from interlock.monitor.executor import PlanOutcome
from interlock.sandbox import Sandbox

TABLE = "app.t"
MONITOR = {"monitor_interval": "200ms", "failcount": "2"}


def prepare(sb: Sandbox) -> None:
    sb.sql("server1", f"CREATE TABLE {TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    sb.sql("server1", f"INSERT INTO {TABLE} (v) VALUES (100), (101)")


def sleeping_insert(lp: LiveProxy, seconds: int, outcome: dict[str, object]) -> threading.Thread:
    def run() -> None:
        conn = lp.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {TABLE} (v) VALUES (SLEEP({seconds}))")
                outcome["id"] = cur.lastrowid
        except pymysql.MySQLError as exc:
            outcome["error"] = exc.args
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_running(sb: Sandbox, server: str) -> None:
    deadline = time.monotonic() + 10
    sql = ("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST "
           "WHERE INFO LIKE 'INSERT INTO app.t (v) VALUES (SLEEP%'")
    while sb.sql(server, sql)[0]["n"] != "1":
        assert time.monotonic() < deadline, "the sleeping INSERT did not start"
        time.sleep(0.05)


def problems(sb: Sandbox) -> list[str]:
    """What the incident leaves behind (empty: the cluster is consistent)."""
    found = [f"{n}: {e}" for n, e in replication_errors(sb).items()]
    sums = {s.name: checksum(sb, s.name, TABLE) for s in sb.servers}
    if len(set(sums.values())) != 1:
        found.append(f"checksums differ: {sums}")
    rows = {s.name: sb.sql(s.name, f"SELECT id, v FROM {TABLE} ORDER BY id") for s in sb.servers}
    if len({tuple((r["id"], r["v"]) for r in rs) for rs in rows.values()}) != 1:
        found.append(f"rows differ: {rows}")
    return found


def run_incident(sb: Sandbox, tmp_path: Path, fence: bool, sleep: int) -> tuple[
        PlanOutcome, dict[str, object], list[str]]:
    prepare(sb)
    with LiveProxy(sb, tmp_path, MONITOR) as lp:
        lp.monitor.fence = fence
        assert lp.primary() == "server1"
        outcome: dict[str, object] = {}
        thread = sleeping_insert(lp, sleep, outcome)
        wait_running(sb, "server1")
        result = lp.call(lp.monitor.switchover())
        assert isinstance(result, PlanOutcome) and result.ok, result
        assert lp.primary() == "server2"
        conn = lp.connect()
        with conn.cursor() as cur:
            for value in (1, 2, 3):
                cur.execute(f"INSERT INTO {TABLE} (v) VALUES ({value})")
        conn.close()
        thread.join(sleep + 30)
        assert not thread.is_alive()
        # let replication settle (or break): the new primary's rows reach the old one
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = problems(sb)
            if not found or replication_errors(sb):
                break
            time.sleep(0.2)
        return result, outcome, problems(sb)


def test_fencing_kills_the_running_statement(fresh_sandbox: Callable[..., Sandbox],
                                             tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=1)
    result, outcome, found = run_incident(sb, tmp_path, fence=True, sleep=30)
    assert "error" in outcome, f"the sleeping INSERT was not stopped: {outcome}"
    assert found == []
    ids = [int(r["id"]) for r in sb.sql("server2", f"SELECT id FROM {TABLE}")]
    assert len(ids) == len(set(ids)) == 5  # 2 before + 3 after; the killed row never committed
    kills = [r for r in result.results if r.step.kind.value == "kill_clients"]
    assert kills and all(r.ok for r in kills)


def test_without_fencing_the_incident_breaks_replication(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    """The same switchover with the fencing left out (as a proxy-only switchover does): the
    statement commits on the old primary after the switch and the check above fails."""
    sb = fresh_sandbox(replicas=1)
    _, outcome, found = run_incident(sb, tmp_path, fence=False, sleep=6)
    assert "id" in outcome, f"the sleeping INSERT should have committed: {outcome}"
    assert found, "the check did not catch the dual-master break"
    text = "\n".join(found)
    assert "Duplicate entry" in text or "checksums differ" in text, text


pytestmark = pytest.mark.integration
