"""Automatic failover with three real ``interlock start`` processes sharing a real 3-member
etcd (issue 9, ``cluster=etcd``): "three instances, primary killed: exactly one failover
happens (the promotion runs once), all three route writes to the new primary, the events show
which instance acted".

Each instance is a child process started from its own configuration file, as a user runs it
(its own ``instance_name``, admin port, ``datadir`` and listener port), in front of a private
sandbox that the test breaks (``fresh_sandbox``).  Everything the test knows about an instance
it reads through that instance's admin API (``/v1/monitors``, ``/v1/events``, ``/metrics``,
``/v1/health``, the mariadbmon commands) or its listener; what the servers did it reads on the
servers themselves.

1. One leader: the three agree on it, the election key in etcd names it, ``interlock_monitor_
   leader`` is 1 on it alone; a follower refuses a switchover (409) naming the leader.  Every
   instance writes to server1.
2. server1's mariadbd SIGKILLed: all three route to the same new primary; after ten more
   ticks of every monitor, exactly one failover happened across the three instances (its
   decision event, which names the acting instance, and its "done" event are on the leader's
   event list and nowhere else; ``interlock_monitor_operations_total`` counts 1 on the leader,
   0 on the others); on the servers exactly one survivor is writable and the other replicates
   from it; a row written through each instance's listener is read back on the new primary.
3. The leader's process SIGKILLed: a survivor leads once the lease expired, publishes its own
   decision with the same primary, and both survivors still write there.
4. The new primary's mariadbd SIGKILLed too: the successor refuses a second failover
   (``failover_block``, learned from the published decision) and nobody fails over.
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi
from tests.integration.etcd_support import (
    EtcdCluster,
    etcd_cluster,  # noqa: F401  (the fixture)
    unique_prefix,
)
from tests.integration.test_cluster_leadership import (
    MONITOR_PARAMS,
    TTL,
    election_holder,
    published,
    server_ids,
)
from tests.integration.test_metrics import Metrics, scrape_raw

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

WAIT = 30.0  # seconds: bound of every wait (each takes a few seconds at most)
NAMES = ("ilA", "ilB", "ilC")
SETTLE_TICKS = 10  # monitor ticks every instance runs after the failover before counting
#: the decision event of a failover: "failover of NEW (from OLD) by instance 'NAME': N step(s)"
FAILOVER_DECISION = re.compile(
    r"failover of (?P<new>\S+) \(from (?P<old>\S+)\) by instance '(?P<instance>[^']+)': "
    r"\d+ step\(s\)")
FAILOVER_DONE = re.compile(r"failover of (?P<new>\S+) done in ")


@dataclass
class Node:
    """One ``interlock start`` process and how the test reaches it."""

    name: str
    handle: ProxyHandle
    api: AdminApi
    client: dict[str, Any]  # pymysql.connect() arguments: the app account via its listener
    killed: bool = False

    def get(self, path: str) -> dict[str, Any]:
        reply = self.api.get(path)
        assert reply.status == 200, (self.name, path, reply.status, reply.body)
        return dict(reply.body)

    def monitor(self) -> dict[str, Any]:
        return dict(self.get(f"/v1/monitors/{MONITOR}")["data"]["attributes"])

    def leads(self) -> bool:
        return bool(self.monitor()["cluster"]["is_leader"])

    def primary(self) -> str | None:
        """The primary this instance routes writes to (its monitor's)."""
        return self.monitor()["monitor_diagnostics"]["primary"]  # type: ignore[no-any-return]

    def events(self) -> list[str]:
        return [e["attributes"]["text"]
                for e in self.get(f"/v1/events?monitor={MONITOR}")["data"]]

    def metrics(self) -> Metrics:
        code, _, text = scrape_raw(self.api, self.api.admin)
        assert code == 200, (self.name, text)
        return Metrics(text)

    def failovers(self, result: str = "ok") -> float:
        return self.metrics().value("interlock_monitor_operations_total", monitor=MONITOR,
                                    operation="failover", result=result)

    def write(self, phase: str) -> str:
        """Insert a row through this instance's listener; the server_id that took it."""
        conn = pymysql.connect(**self.client, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO app.failover_probe (instance, phase, server_id) "
                            "VALUES (%s, %s, @@server_id)", (self.name, phase))
                cur.execute("SELECT @@server_id, @@read_only")
                server_id, read_only = cur.fetchone()
        finally:
            conn.close()
        assert str(read_only) == "0", (self.name, server_id)
        return str(server_id)


def config_text(sb: Sandbox, etcd: EtcdCluster, prefix: bytes, name: str,
                directory: Path) -> str:
    """An instance's own file: cluster=etcd, its name, admin port, datadir, listener port."""
    directory.mkdir(parents=True, exist_ok=True)
    return sb.render_config(listener_port=find_free_port(), tls=False,
                            admin_port=find_free_port(), overrides={
        "maxscale": {"cluster": "etcd", "etcd_endpoints": ",".join(etcd.endpoints),
                     "etcd_prefix": prefix.decode(), "etcd_lease_ttl": f"{TTL}s",
                     "instance_name": name, "datadir": str(directory / "data"),
                     "persistdir": str(directory / "persist")},
        MONITOR: MONITOR_PARAMS,
        SERVICE: {"router": "readconnroute", "router_options": "master"},
    })


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT,
             detail: Callable[[], object] = lambda: "") -> float:
    """Wait for ``check``; the seconds it took (AssertionError with ``detail()`` if not)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:g}s; {detail()}")
        time.sleep(0.1)
    return time.monotonic() - start


def start_nodes(sb: Sandbox, etcd: EtcdCluster, start_proxy: ProxyFactory, directory: Path,
                prefix: bytes) -> list[Node]:
    """The three processes, one after the other (the first bootstraps the store); the
    ``start_proxy`` fixture stops whatever is left of them after the test."""
    nodes = []
    for name in NAMES:
        handle = start_proxy(config_text(sb, etcd, prefix, name, directory / name))
        client = sb.proxy_params(port=handle.port).pymysql_kwargs()
        nodes.append(Node(name, handle, AdminApi.of_config(handle.config_path), client))
    return nodes


def test_three_processes_one_failover_one_primary(
        fresh_sandbox: Callable[..., Sandbox], etcd_cluster: EtcdCluster,
        start_proxy: ProxyFactory, tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2)
    sb.sql("server1", "CREATE TABLE app.failover_probe (id INT AUTO_INCREMENT PRIMARY KEY, "
                      "instance VARCHAR(16), phase VARCHAR(16), server_id INT)")
    ids = server_ids(sb)
    prefix = unique_prefix("failover-processes")
    nodes = start_nodes(sb, etcd_cluster, start_proxy, tmp_path, prefix)

    def alive() -> list[Node]:
        return [n for n in nodes if not n.killed]

    def leaders() -> list[str]:
        return [n.name for n in alive() if n.leads()]

    def primaries() -> dict[str, str | None]:
        return {n.name: n.primary() for n in alive()}

    # -- 1. one leader, seen the same way from everywhere --------------------------------------
    def named_leaders() -> dict[str, str | None]:
        """Who each instance says leads the monitor."""
        return {n.name: (n.monitor()["cluster"]["leader"] or {}).get("instance")
                for n in alive()}

    def one_leader() -> bool:
        found = leaders()
        return len(found) == 1 and set(named_leaders().values()) == set(found)

    wait_for("exactly one leader, named by all three", one_leader,
             detail=lambda: (leaders(), named_leaders()))
    (leader_name,) = leaders()
    leader = next(n for n in nodes if n.name == leader_name)
    assert election_holder(etcd_cluster, prefix.decode()) == leader_name
    for node in nodes:
        cluster = node.monitor()["cluster"]
        assert cluster["instance"] == node.name
        assert cluster["is_leader"] is (node is leader)
        assert cluster["leader"]["instance"] == leader_name
        assert cluster["leader"]["admin_url"] == leader.api.base
        assert node.metrics().value("interlock_monitor_leader", monitor=MONITOR) == (
            1 if node is leader else 0)
        assert node.api.get("/v1/health").status == 200, node.name
    follower = next(n for n in nodes if n is not leader)
    refused = follower.api.request(
        "POST", f"/v1/maxscale/modules/mariadbmon/switchover?{MONITOR}&server2")
    assert refused.status == 409, refused.body
    text = json.dumps(refused.body)
    assert f"the leader is '{leader_name}'" in text and "does not lead" in text, text
    wait_for("every instance routes to server1",
             lambda: set(primaries().values()) == {"server1"}, detail=primaries)
    for node in nodes:
        assert node.write("before") == ids["server1"], node.name
    assert sum(n.failovers() for n in nodes) == 0

    # -- 2. the primary's mariadbd dies: one failover, by the leader; all three follow ---------
    sb.kill("server1", signal.SIGKILL)
    assert not sb.is_running("server1")
    took = wait_for("all three route to the same new primary",
                    lambda: len(set(p := primaries().values())) == 1
                    and next(iter(p)) not in (None, "server1"), detail=primaries)
    new_primary = leader.primary()
    assert new_primary in ("server2", "server3")
    print(f"all three instances routed to {new_primary} {took:.1f}s after server1 was killed")
    ticks = {n.name: n.monitor()["ticks"] for n in nodes}
    wait_for(f"{SETTLE_TICKS} more ticks on every instance",
             lambda: all(n.monitor()["ticks"] >= ticks[n.name] + SETTLE_TICKS for n in nodes))

    counted = {n.name: n.failovers() for n in nodes}
    assert counted == {n.name: float(n is leader) for n in nodes}, counted
    assert sum(n.failovers("failed") for n in nodes) == 0
    decisions = {n.name: [m for e in n.events() if (m := FAILOVER_DECISION.search(e))]
                 for n in nodes}
    assert [(who, m["new"], m["old"], m["instance"]) for who, found in decisions.items()
            for m in found] == [(leader_name, new_primary, "server1", leader_name)], decisions
    done = {n.name: [m["new"] for e in n.events() if (m := FAILOVER_DONE.search(e))]
            for n in nodes}
    assert done == {n.name: [new_primary] if n is leader else [] for n in nodes}, done
    for node in nodes:
        assert node.primary() == new_primary, node.name
        assert node.metrics().value("interlock_monitor_primary", monitor=MONITOR,
                                    server=new_primary) == 1

    # on the servers: one writable survivor, the other replicates from it
    survivors = [s.name for s in sb.servers if s.name != "server1"]
    writable = [s for s in survivors if sb.sql(s, "SELECT @@read_only AS r")[0]["r"] == "0"]
    assert writable == [new_primary], writable
    (other,) = set(survivors) - {new_primary}

    def replicates() -> bool:
        rows = sb.sql(other, "SHOW SLAVE STATUS")
        return (len(rows) == 1 and rows[0]["Master_Port"] == str(sb.server(new_primary).port)
                and rows[0]["Slave_IO_Running"] == "Yes"
                and rows[0]["Slave_SQL_Running"] == "Yes")
    wait_for(f"{other} replicates from {new_primary}", replicates,
             detail=lambda: sb.sql(other, "SHOW SLAVE STATUS"))

    # a row through each instance's listener, read back on the new primary directly
    for node in nodes:
        assert node.write("after") == ids[new_primary], node.name
    rows = sb.sql(new_primary, "SELECT instance, server_id FROM app.failover_probe "
                               "WHERE phase = 'after' ORDER BY instance")
    assert [(r["instance"], r["server_id"]) for r in rows] == [
        (n, ids[new_primary]) for n in sorted(NAMES)], rows

    # -- 3. the leader's process dies: a survivor takes over once the lease expired ------------
    leader.handle.process.send_signal(signal.SIGKILL)
    leader.handle.process.wait(10)
    leader.killed = True
    wait_for("a new leader among the survivors, named by both", one_leader,
             timeout=TTL + 10, detail=lambda: (leaders(), named_leaders()))
    (successor_name,) = leaders()
    assert successor_name != leader_name
    successor = next(n for n in nodes if n.name == successor_name)
    wait_for("the election key names the successor",
             lambda: election_holder(etcd_cluster, prefix.decode()) == successor_name, timeout=10)
    wait_for("the successor's topology decision",
             lambda: published(etcd_cluster, prefix.decode()).get("instance") == successor_name,
             timeout=10)
    assert published(etcd_cluster, prefix.decode())["primary"] == new_primary
    for node in alive():
        assert node.write("takeover") == ids[new_primary], node.name

    # -- 4. the new primary dies too: failover_block holds for the successor ------------------
    sb.kill(new_primary, signal.SIGKILL)
    wait_for("the successor refuses a second failover",
             lambda: any("a failover already happened" in e for e in successor.events()),
             detail=successor.events)
    assert {n.name: n.failovers() for n in alive()} == {n.name: 0.0 for n in alive()}
    assert all(not FAILOVER_DECISION.search(e) for n in alive() for e in n.events())
