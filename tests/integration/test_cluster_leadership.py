"""Monitor leadership through etcd (issue 9, ``cluster=etcd``): Interlock instances in front
of a private sandbox cluster, sharing a real 3-member etcd cluster.

Each instance is a :class:`~interlock.server.app.Proxy` on its own event loop in a thread of
the test process (its own etcd client, listener and admin API), so the test can read its
monitor's state directly.  "Killing" an instance stops its event loop dead: nothing runs any
more (no keepalive, no resignation), as when the process is killed, and etcd expires its lease
after the TTL.  ``Instance`` and ``started_instances`` are also used by
test_cluster_switchover_kill.py and test_cluster_operation_view.py.

Three instances with the primary killed (exactly one failover, all route to the new primary,
the leader killed next, failover_block kept by its successor) run as three real ``interlock
start`` processes in test_cluster_failover_processes.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pymysql
import pytest
from tests.integration.etcd_support import EtcdCluster, TcpRelay, etcd_cluster  # noqa: F401
from tests.integration.monitor_support import LiveProxy, ProxyLoop

from interlock.cluster import NotLeader
from interlock.monitor.executor import PlanOutcome
from interlock.monitor.plans import PlanKind, Refusal
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port

T = TypeVar("T")
WAIT = 60.0
TTL = 3

pytestmark = pytest.mark.integration

MONITOR_PARAMS = {"monitor_interval": "300ms", "failcount": "2", "auto_failover": "true",
                  "master_failure_timeout": "2s", "backend_connect_timeout": "500ms",
                  "backend_read_timeout": "500ms", "auto_rejoin": "false"}


class Instance(ProxyLoop):
    """One Interlock instance with cluster=etcd, on its own loop in a thread."""

    def __init__(self, sb: Sandbox, directory: Path, name: str, endpoints: str,
                 prefix: str) -> None:
        self.name = name
        self.port = find_free_port()
        self.admin_port = find_free_port()
        overrides: dict[str, Any] = {
            "maxscale": {"cluster": "etcd", "etcd_endpoints": endpoints, "etcd_prefix": prefix,
                         "etcd_lease_ttl": f"{TTL}s", "instance_name": name,
                         "admin_auth": "false"},
            MONITOR: MONITOR_PARAMS,
            SERVICE: {"router": "readconnroute", "router_options": "master"},
        }
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.cnf"
        path.write_text(sb.render_config(listener_port=self.port, tls=False, overrides=overrides,
                                         admin_port=self.admin_port))
        self.sb = sb
        super().__init__(path)
        self.killed = False

    def start(self) -> Instance:
        self.thread.start()
        self.call(self.proxy.start(), 60)
        return self

    def is_leader(self) -> bool:
        return self.run(self.monitor.leads)

    def primary(self) -> str | None:
        info = self.monitor.source.current.primary
        return info.name if info is not None else None

    def failovers(self) -> int:
        return self.run(lambda: self.monitor.outcomes[(PlanKind.FAILOVER, True)])

    def admin(self, path: str) -> tuple[int, dict[str, Any]]:
        url = f"http://{self.sb.spec.host}:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def write_server(self) -> str:
        """Through this instance's listener (routes to its primary): which server writes."""
        params = self.sb.proxy_params(port=self.port)
        conn = pymysql.connect(**params.pymysql_kwargs(), autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO app.lead_probe (who) VALUES (@@server_id)")
                cur.execute("SELECT @@server_id, @@read_only")
                server_id, read_only = cur.fetchone()
        finally:
            conn.close()
        assert str(read_only) == "0"
        return str(server_id)

    def kill(self) -> None:
        """Stop the loop dead: no keepalive, no resignation (as a killed process)."""
        self.killed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def close(self) -> None:
        if self.killed:  # run the loop again just to release its sockets and connections
            self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
            self.thread.start()
        try:
            self.call(self.proxy.stop(), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT,
             detail: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s; {detail()}")
        time.sleep(0.05)


def server_ids(sb: Sandbox) -> dict[str, str]:
    return {s.name: sb.sql(s.name, "SELECT @@server_id AS i")[0]["i"] for s in sb.servers}


def published(cluster: EtcdCluster, prefix: str) -> dict[str, Any]:
    out = cluster.etcdctl("get", f"{prefix}monitors/{MONITOR}/topology", "--print-value-only")
    return dict(json.loads(out.strip())) if out.strip() else {}


def election_holder(cluster: EtcdCluster, prefix: str) -> str:
    out = cluster.etcdctl("get", f"{prefix}monitors/{MONITOR}/leader", "--print-value-only")
    return json.loads(out.strip())["instance"] if out.strip() else ""


@contextlib.contextmanager
def started_instances(sb: Sandbox, etcd: EtcdCluster, directory: Path, prefix: str,
                      names: tuple[str, ...] = ("ilA", "ilB", "ilC")) -> Iterator[list[Instance]]:
    """In-process instances on ``etcd`` under ``prefix``, closed on the way out."""
    endpoints = ",".join(etcd.endpoints)
    instances: list[Instance] = []
    try:
        for name in names:
            instances.append(Instance(sb, directory / name, name, endpoints, prefix).start())
        yield instances
    finally:
        for instance in instances:
            instance.close()


def test_cut_off_instance_keeps_serving_and_does_not_lead(
        fresh_sandbox: Callable[..., Sandbox], etcd_cluster: EtcdCluster,  # noqa: F811
        tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=1)
    sb.sql("server1", "CREATE TABLE app.lead_probe (id INT AUTO_INCREMENT PRIMARY KEY, who INT)")
    ids = server_ids(sb)
    prefix = f"/test/cutoff/{time.time_ns()}/"
    first_port = int(etcd_cluster.endpoints[0].rsplit(":", 1)[1])
    with TcpRelay(first_port) as relay:
        cut_off = Instance(sb, tmp_path / "cut", "ilCut", relay.url(), prefix).start()
        try:
            wait_for("the lone instance leads", cut_off.is_leader)
            relay.cut("blackhole")
            wait_for("not leading", lambda: not cut_off.is_leader(), timeout=TTL + 5)
            wait_for("health 503", lambda: cut_off.admin("/v1/health")[0] == 503,
                     timeout=TTL + 5)
            status, doc = cut_off.admin("/v1/health")
            assert status == 503
            failed = [c for c in doc["meta"]["checks"] if not c["ok"]]
            assert [c["name"] for c in failed] == ["cluster"], failed
            assert "cut off from etcd" in failed[0]["detail"]
            # it keeps routing with the last topology it knew
            assert cut_off.primary() == "server1"
            assert cut_off.write_server() == ids["server1"]
            refusal = cut_off.call(cut_off.monitor.failover())
            assert isinstance(refusal, Refusal) and "does not lead" in refusal.describe()
            relay.restore()
            wait_for("leads again", cut_off.is_leader, timeout=TTL + 15)
            wait_for("health 200", lambda: cut_off.admin("/v1/health")[0] == 200, timeout=10)
        finally:
            cut_off.close()


class LosesLeadership:
    """Stands in for the etcd side of a leader (the fence's etcd behaviour is tested in
    test_etcd_election.py): it leads until the ``lose_at``-th confirm(), which raises
    NotLeader, as Election.confirm does once the term ended."""

    instance = "the-test"

    def __init__(self, lose_at: int) -> None:
        self.lose_at = lose_at
        self.confirms = 0
        self.lost = False

    def is_leader(self) -> bool:
        return not self.lost

    async def confirm(self) -> None:
        self.confirms += 1
        if self.confirms >= self.lose_at:
            self.lost = True
            raise NotLeader("deposed: the election key is no longer ours")

    def announce(self, primary: str | None, states: dict[str, str]) -> None:
        pass

    def term_unannounced(self) -> bool:
        return False

    def not_leader_reason(self) -> str:
        return "this instance does not lead the monitor"

    def as_json(self) -> dict[str, object]:
        return {"is_leader": self.is_leader()}


def test_deposed_leader_stops_a_switchover_and_rolls_back(
        fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    """The executor asks the leadership before every step: deposed before step 6 (the old
    primary is already read-only, nothing is promoted yet), the switchover stops there and
    undoes what it started, on the real servers."""
    sb = fresh_sandbox(replicas=1)
    monitor = {"monitor_interval": "300ms", "auto_failover": "false"}
    with LiveProxy(sb, tmp_path, monitor) as lp:
        lp.wait_for("server1 is the Master", lambda: lp.primary() == "server1")
        fence = LosesLeadership(lose_at=6)
        lp.run(lambda: setattr(lp.monitor, "leadership", fence))
        outcome = lp.call(lp.monitor.switchover(to="server2"))
        assert isinstance(outcome, PlanOutcome) and not outcome.ok, outcome
        failed = outcome.failed
        assert failed is not None and failed.error is not None
        assert failed.error.startswith("lost leadership before step 6"), failed.error
        assert len(outcome.results) == 6 and fence.confirms == 6
        assert outcome.rollback and all(r.ok for r in outcome.rollback), outcome.rollback
        assert sb.sql("server1", "SELECT @@read_only AS r")[0]["r"] == "0"
        assert sb.sql("server2", "SELECT @@read_only AS r")[0]["r"] == "1"
        (row,) = sb.sql("server2", "SHOW SLAVE STATUS")
        assert row["Slave_SQL_Running"] == "Yes" and row["Master_Port"] == str(sb.primary.port)
        assert lp.primary() == "server1"
        # deposed: it refuses the next operation instead of acting
        refusal = lp.call(lp.monitor.switchover(to="server2"))
        assert isinstance(refusal, Refusal), refusal
        assert "does not lead" in refusal.describe()
