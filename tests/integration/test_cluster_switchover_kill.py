"""The leader instance dies in the middle of a switchover (issue 9, ``cluster=etcd``).

Three Interlock instances (each a :class:`Proxy` on its own event loop in a thread, as in
test_cluster_leadership.py) share a real 3-member etcd in front of one private sandbox.  The
leader starts a switchover to server2; a test-only pause (``MonitorRuntime.step_pause``, an
awaitable the executor awaits before each step) holds the plan at a chosen step, and the test
then stops the leader's event loop dead (as a killed process: no keepalive, no resignation, no
rollback).  Two points:

- ``before_promote``: the old primary is fenced (``read_only=1``, clients killed) and server2
  has applied all of it, but server2 is not promoted yet: the new leader must roll back
  (server1 writable again, everybody replicating from it);
- ``after_promote``: server2 is already writable and server1 read-only, but server1 and
  server3 are not pointed at server2 yet: the new leader must complete (both replicate from
  server2).

Throughout, a thread polls every server's ``@@read_only`` every ~50 ms (as the monitor user,
whose sessions the fencing keeps): never two writable servers at one sample.  At the end:
exactly one writable server, the others replicating from it, every instance routing writes to
it, the rows written before the switchover on every server, and the operation intent in etcd
cleared.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pymysql
import pytest
from tests.integration.etcd_support import EtcdCluster, etcd_cluster  # noqa: F401
from tests.integration.test_cluster_leadership import (
    Instance,
    election_holder,
    started_instances,
    wait_for,
)

from interlock.monitor.plans import Plan, PlanKind
from interlock.monitor.steps import StepKind
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR
from interlock.sandbox.model import Role

pytestmark = pytest.mark.integration

ROWS = 50
TTL = 3  # the lease TTL test_cluster_leadership.Instance configures


class ReadOnlySampler(threading.Thread):
    """Polls @@read_only on every server every ~50 ms; remembers every sample."""

    def __init__(self, sb: Sandbox) -> None:
        super().__init__(daemon=True)
        self.sb = sb
        self.samples: list[tuple[float, dict[str, str | None]]] = []
        self.stop_event = threading.Event()
        self._conns: dict[str, pymysql.connections.Connection | None] = {}

    def _read(self, name: str) -> str | None:
        conn = self._conns.get(name)
        try:
            if conn is None:
                conn = self.sb.connect(name, role=Role.MONITOR, autocommit=True,
                                       connect_timeout=2, read_timeout=2)
                self._conns[name] = conn
            with conn.cursor() as cur:
                cur.execute("SELECT @@global.read_only")
                (value,) = cur.fetchone()
            return str(value)
        except pymysql.MySQLError:
            self._conns[name] = None
            return None

    def run(self) -> None:
        names = [s.name for s in self.sb.servers]
        while not self.stop_event.is_set():
            sample = {name: self._read(name) for name in names}
            self.samples.append((time.monotonic(), sample))
            time.sleep(0.05)
        for conn in self._conns.values():
            if conn is not None:
                conn.close()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)

    def violations(self) -> list[dict[str, str | None]]:
        return [s for _, s in self.samples if sum(v == "0" for v in s.values()) > 1]


def pause_index(plan: Plan, point: str) -> int:
    """The step the plan is held before: the first step after the catch-up wait (nothing
    promoted yet), or the step after the one that made the new primary writable."""
    steps = plan.steps
    if point == "before_promote":
        wait = next(i for i, s in enumerate(steps) if s.kind is StepKind.WAIT_GTID)
        return wait + 1
    writable = next(i for i, s in enumerate(steps)
                    if s.server == plan.target and s.kind is StepKind.SQL
                    and any("read_only" in q.lower() and "0" in q for q in s.sql))
    return writable + 1


def replicates_from(sb: Sandbox, server: str, source: str) -> bool:
    rows = sb.sql(server, "SHOW ALL SLAVES STATUS")
    port = str(sb.server(source).port)
    return len(rows) == 1 and rows[0]["Master_Port"] == port and \
        rows[0]["Slave_IO_Running"] == "Yes" and rows[0]["Slave_SQL_Running"] == "Yes"


def writable(sb: Sandbox) -> list[str]:
    return [s.name for s in sb.servers
            if sb.sql(s.name, "SELECT @@global.read_only AS r")[0]["r"] == "0"]


def operation_record(cluster: EtcdCluster, prefix: str) -> str:
    return cluster.etcdctl("get", f"{prefix}monitors/{MONITOR}/operation",
                           "--print-value-only").strip()


@pytest.fixture
def three(fresh_sandbox: Callable[..., Sandbox], etcd_cluster: EtcdCluster,  # noqa: F811
          tmp_path: Path) -> Iterator[tuple[Sandbox, list[Instance], str]]:
    sb = fresh_sandbox(replicas=2)
    sb.sql("server1", "CREATE TABLE app.lead_probe (id INT AUTO_INCREMENT PRIMARY KEY, who INT)")
    sb.sql("server1", "CREATE TABLE app.before_switch (id INT PRIMARY KEY)")
    sb.sql("server1", "INSERT INTO app.before_switch VALUES "
           + ",".join(f"({i})" for i in range(ROWS)))
    prefix = f"/test/switchover-kill/{time.time_ns()}/"
    with started_instances(sb, etcd_cluster, tmp_path, prefix) as instances:
        yield sb, instances, prefix


@pytest.mark.parametrize(("point", "expected"), [("before_promote", "server1"),
                                                 ("after_promote", "server2")])
def test_leader_killed_during_switchover(
        three: tuple[Sandbox, list[Instance], str], etcd_cluster: EtcdCluster,  # noqa: F811
        point: str, expected: str) -> None:
    sb, instances, prefix = three

    def leaders() -> list[str]:
        return [i.name for i in instances if not i.killed and i.is_leader()]

    wait_for("one leader", lambda: len(leaders()) == 1, detail=leaders)
    leader = next(i for i in instances if i.name == leaders()[0])
    for instance in instances:
        wait_for(f"{instance.name} routes to server1", lambda i=instance: i.primary() == "server1")

    reached = threading.Event()
    held_at: list[str] = []

    async def pause(plan: Plan, index: int) -> None:
        if plan.kind is PlanKind.SWITCHOVER and index == pause_index(plan, point):
            held_at.append(plan.steps[index].describe())
            reached.set()
            await asyncio.Event().wait()  # held until the loop dies

    leader.run(lambda: setattr(leader.monitor, "step_pause", pause))
    sampler = ReadOnlySampler(sb)
    sampler.start()
    switchover: Future[object] | None = None
    try:
        switchover = asyncio.run_coroutine_threadsafe(
            leader.monitor.switchover(to="server2", timeout=30), leader.loop)
        assert reached.wait(60), "the switchover never reached the pause point"
        # the servers are where the dead leader left them
        assert sb.sql("server1", "SELECT @@global.read_only AS r")[0]["r"] == "1"
        new_ro = sb.sql("server2", "SELECT @@global.read_only AS r")[0]["r"]
        assert new_ro == ("1" if point == "before_promote" else "0"), held_at
        leader.kill()

        wait_for("a new leader", lambda: len(leaders()) == 1, timeout=TTL + 15, detail=leaders)
        (successor_name,) = leaders()
        assert successor_name != leader.name
        wait_for("the election key names the successor",
                 lambda: election_holder(etcd_cluster, prefix) == successor_name, timeout=10)
        successor = next(i for i in instances if i.name == successor_name)
        others = [s.name for s in sb.servers if s.name != expected]

        def settled() -> bool:
            return (writable(sb) == [expected]
                    and all(replicates_from(sb, o, expected) for o in others)
                    and all(i.primary() == expected for i in instances if not i.killed))

        def state() -> object:
            events = successor.run(lambda: [str(e) for e in successor.monitor.events][-15:])
            return {"writable": writable(sb), "routes": [i.primary() for i in instances
                                                         if not i.killed],
                    "intent": operation_record(etcd_cluster, prefix), "events": events}

        wait_for(f"the successor settles the cluster on {expected}", settled, timeout=40,
                 detail=state)
    finally:
        sampler.finish()
        if switchover is not None:
            switchover.cancel()  # runs (cancelled) when the fixture restarts the dead loop

    # the sampler watched the window itself: the state the dead leader left behind
    left = {"server1": "1", "server2": "1" if point == "before_promote" else "0",
            "server3": "1"}
    assert any(s == left for _, s in sampler.samples), "no sample of the dead leader's state"
    assert not sampler.violations(), sampler.violations()[:5]
    # writes through every live instance land on the one writable primary
    ids = {s.name: sb.sql(s.name, "SELECT @@server_id AS i")[0]["i"] for s in sb.servers}
    for instance in instances:
        if not instance.killed:
            assert instance.write_server() == ids[expected]
    # no row lost: the rows written before the switchover are on every server
    marker = sb.sql(expected, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    for server in sb.servers:
        if server.name != expected:
            sb.sql(server.name, f"SELECT MASTER_GTID_WAIT('{marker}', 20)")
        count = sb.sql(server.name, "SELECT COUNT(*) AS n FROM app.before_switch")[0]["n"]
        assert count == str(ROWS), (server.name, count)
    # the successor said what it decided, and the intent is gone
    events = successor.run(lambda: [str(e) for e in successor.monitor.events])
    word = "rolled back" if expected == "server1" else "completed"
    assert any("left by" in e and word in e for e in events), events[-20:]
    assert operation_record(etcd_cluster, prefix) == ""
