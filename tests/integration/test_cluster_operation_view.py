"""An operator sees a standing cluster operation (issue 9, ``cluster=etcd``):
``attributes.operation`` of ``GET /v1/monitors/{name}`` and the list, ``interlock ctl show
monitor`` / ``list monitors`` and ``interlock_monitor_operation_pending``, on the leader and on
a follower.

A leader died in the middle of a switchover from server1 to server2 and left its intent record
(written here with the real :class:`OperationIntent` encoder under the key the leader writes,
``<prefix>monitors/<monitor>/operation``), and both servers are writable.  Three instances then
start on that etcd (as after a restart of them all): the one elected reads the record at the
first tick of its term and, two servers being writable, leaves it to a person.  Every instance
shows it, with the leader's reason.  A person makes server2 read-only: the leader rolls back
(server1 stays the primary), deletes the record, and every instance shows none.  Then the
leader's own switchover, held at a step by the test-only ``step_pause``, shows as running on a
follower with the step it reached, and disappears when it completes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from tests.integration.etcd_support import EtcdCluster, etcd_cluster  # noqa: F401
from tests.integration.test_cluster_leadership import Instance, started_instances, wait_for
from tests.integration.test_ctl import box_rows, ctl

from interlock.admin.openapi import OPERATION
from interlock.cluster.operation import OperationIntent
from interlock.monitor.plans import Plan, PlanKind
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR

pytestmark = pytest.mark.integration

GONE = "ilGone"  # the leader that died (never started here)


def operation(instance: Instance) -> Any:
    status, doc = instance.admin(f"/v1/monitors/{MONITOR}")
    assert status == 200, doc
    listed = instance.admin("/v1/monitors")[1]["data"]
    (entry,) = [m for m in listed if m["id"] == MONITOR]
    assert entry["attributes"]["operation"] == doc["data"]["attributes"]["operation"]
    found = doc["data"]["attributes"]["operation"]
    jsonschema_rs.validate(OPERATION, found)  # the API's own OpenAPI schema says so too
    return found


def pending_metric(instance: Instance) -> str:
    url = f"http://{instance.sb.spec.host}:{instance.admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    wanted = f'interlock_monitor_operation_pending{{monitor="{MONITOR}"}} '
    return next((line.removeprefix(wanted) for line in text.splitlines()
                 if line.startswith(wanted)), "absent")


def ctl_operation(config: Path) -> tuple[str, str]:
    """The Operation line of ``show monitor`` and the Operation cell of ``list monitors``."""
    show = ctl("show", "monitor", MONITOR, config=config, timeout=30)
    assert show.returncode == 0, show.stderr
    # the value may wrap over several lines of its cell: join them
    rows = box_rows(show.stdout)
    start = next(i for i, r in enumerate(rows) if r[0] == "Operation")
    text = rows[start][1]
    for row in rows[start + 1:]:
        if row[0]:
            break
        text += row[1]
    listed = ctl("list", "monitors", "--tsv", config=config, timeout=30)
    assert listed.returncode == 0, listed.stderr
    (line,) = [r.split("\t") for r in listed.stdout.splitlines() if r.startswith(MONITOR)]
    return text, line[3]


def read_only(sb: Sandbox, server: str) -> str:
    return str(sb.sql(server, "SELECT @@global.read_only AS r")[0]["r"])


@pytest.fixture
def left_behind(fresh_sandbox: Callable[..., Sandbox], etcd_cluster: EtcdCluster,  # noqa: F811
                tmp_path: Path) -> Iterator[tuple[Sandbox, list[Instance], str, Path]]:
    sb = fresh_sandbox(replicas=2)
    sb.sql("server1", "CREATE TABLE app.lead_probe (id INT AUTO_INCREMENT PRIMARY KEY, who INT)")
    prefix = f"/test/operation-view/{time.time_ns()}/"
    # what the dead leader left: the plan had made server2 writable (step 9 of 16) ...
    intent = OperationIntent("switchover", "server1", "server2", f"{GONE}#41.1", GONE, 16, 7, 9,
                             last_done=8, started=time.time() - 60)
    etcd_cluster.etcdctl("put", f"{prefix}monitors/{MONITOR}/operation",
                         intent.to_json().decode())
    # ... while server1 is still writable (the fencing was undone by hand, say)
    sb.sql("server2", "SET GLOBAL read_only=0")
    with started_instances(sb, etcd_cluster, tmp_path, prefix) as instances:
        yield sb, instances, prefix, tmp_path


def test_a_standing_operation_is_shown_everywhere_until_resolved(
        left_behind: tuple[Sandbox, list[Instance], str, Path],
        etcd_cluster: EtcdCluster) -> None:  # noqa: F811
    sb, instances, prefix, directory = left_behind

    def leaders() -> list[Instance]:
        return [i for i in instances if i.is_leader()]

    wait_for("one leader", lambda: len(leaders()) == 1,
             detail=lambda: [i.name for i in leaders()])
    (leader,) = leaders()
    follower = next(i for i in instances if i is not leader)

    def config(instance: Instance) -> Path:
        return directory / instance.name / f"{instance.name}.cnf"

    # the leader itself found the record at the start of its term and left it to a person
    wait_for("the leader leaves the operation to a person",
             lambda: leader.run(lambda: leader.monitor.standing_operation) is not None
             and any("left for a person" in str(e)
                     for e in leader.run(lambda: list(leader.monitor.events))))
    for instance in (leader, follower):
        op = operation(instance)
        assert op is not None, instance.name
        assert (op["kind"], op["from"], op["to"], op["instance"], op["plan_id"]) == (
            "switchover", "server1", "server2", GONE, f"{GONE}#41.1")
        assert (op["steps_done"], op["steps"], op["state"], op["source"]) == (9, 16, "left",
                                                                                "etcd")
        assert op["started"] is not None and op["new_primary_touched"] is True
        decision = op["decision"]
        assert decision["verdict"] == "manual" and decision["text"] == "left for a person"
        assert decision["reason"] == "server1 and server2 are all writable"
        assert "read_only=1" in decision["todo"]
        assert decision["judged_by"] == instance.name
        assert decision["by_leader"] is (instance is leader)
        assert pending_metric(instance) == "1"
        line, column = ctl_operation(config(instance))
        assert line.startswith(f"switchover server1 -> server2 left by {GONE}, 9/16 step(s) "
                               f"done (plan {GONE}#41.1, started "), line
        who = (f"the leader {leader.name} decides" if instance is leader
               else f"as {instance.name} sees the servers")
        assert f"{who}: left for a person: server1 and server2 are all writable" in line, line
        assert column == "switchover 9/16 left for a person"

    # a person fixes the servers: the leader rolls back to server1 and deletes the record
    sb.sql("server2", "SET GLOBAL read_only=1")
    wait_for("the record is gone", lambda: etcd_cluster.etcdctl(
        "get", f"{prefix}monitors/{MONITOR}/operation", "--print-value-only").strip() == "",
        timeout=20)
    for instance in (leader, follower):
        assert operation(instance) is None
        assert pending_metric(instance) == "0"
        assert ctl_operation(config(instance)) == ("-", "-")
    assert (read_only(sb, "server1"), read_only(sb, "server2")) == ("0", "1")
    events = leader.run(lambda: [str(e) for e in leader.monitor.events])
    assert any(f"left by instance '{GONE}': rolled back" in e for e in events), events[-10:]

    # the leader's own switchover, held at a step: running, with the step it reached
    reached = threading.Event()
    go = asyncio.Event()
    held: list[int] = []

    async def pause(plan: Plan, index: int) -> None:
        if plan.kind is PlanKind.SWITCHOVER and index == 2:
            held.append(index)
            reached.set()
            await go.wait()

    leader.run(lambda: setattr(leader.monitor, "step_pause", pause))
    switchover: Future[object] = asyncio.run_coroutine_threadsafe(
        leader.monitor.switchover(to="server2", timeout=20), leader.loop)
    try:
        assert reached.wait(30), "the switchover never reached step 3"
        for instance in (follower, leader):
            op = operation(instance)
            assert op is not None, instance.name
            assert (op["kind"], op["from"], op["to"], op["instance"], op["state"]) == (
                "switchover", "server1", "server2", leader.name, "running")
            assert op["steps_done"] == 2 and op["decision"] is None
            assert pending_metric(instance) == "1"
        line, column = ctl_operation(config(follower))
        assert line.startswith(f"switchover server1 -> server2 under way by {leader.name}, "
                               "2/"), line
        assert column.startswith("switchover 2/") and column.endswith(" running"), column
    finally:
        leader.loop.call_soon_threadsafe(go.set)
    outcome = switchover.result(60)
    assert getattr(outcome, "ok", False), outcome
    for instance in (leader, follower):
        assert operation(instance) is None
        assert pending_metric(instance) == "0"
