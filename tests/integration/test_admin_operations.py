"""Cluster operations through the admin API (MaxScale's ``POST /v1/maxscale/modules/mariadbmon/
{command}?MONITOR&ARGS``) on a private cluster: switchover and back, failover of a killed
primary, rejoin, reset-replication, and the refusals (409, nothing done) and argument errors.

The cluster and its proxy are this module's (a sandbox of its own; the session sandbox is never
switched over).  Each test leaves server1 the primary with server2 and server3 replicating.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest
from tests.conftest import PRIMARY_ONLY, launch_proxy, make_sandbox
from tests.integration.admin_support import AdminApi, Reply
from tests.integration.monitor_support import wait_gtid

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

COMMAND = "/v1/maxscale/modules/mariadbmon"
WAIT = 60.0


@dataclass(frozen=True)
class Cluster:
    sb: Sandbox
    proxy: ProxyHandle
    api: AdminApi

    def command(self, name: str, *args: str) -> Reply:
        query = "&".join((MONITOR, *args))
        return self.api.request("POST", f"{COMMAND}/{name}?{query}", timeout=120)

    def states(self) -> dict[str, str]:
        reply = self.api.get("/v1/servers")
        assert reply.status == 200, reply.body
        return {s["id"]: s["attributes"]["state"] for s in reply.body["data"]}

    def primary(self) -> str | None:
        reply = self.api.get(f"/v1/monitors/{MONITOR}")
        return reply.body["data"]["attributes"]["monitor_diagnostics"]["primary"]

    def wait(self, what: str, check: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        deadline = time.monotonic() + WAIT
        while True:
            states = self.states()
            if check(states):
                return states
            assert time.monotonic() < deadline, f"{what}: states {states}"
            time.sleep(0.1)

    def events_since(self, last: int) -> list[dict[str, Any]]:
        reply = self.api.get(f"/v1/events?since={last}")
        return [e["attributes"] for e in reply.body["data"]]

    def last_event(self) -> int:
        data = self.api.get("/v1/events").body["data"]
        return int(data[-1]["id"]) if data else 0

    def write(self, value: int) -> None:
        conn = pymysql.connect(**self.sb.proxy_params(port=self.proxy.port).pymysql_kwargs(),
                               autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO app.ops (v) VALUES (%s)", (value,))
        finally:
            conn.close()


def healthy(states: dict[str, str]) -> bool:
    return states == {"server1": "Master, Running", "server2": "Slave, Running",
                      "server3": "Slave, Running"}


def replicates_from(sb: Sandbox, replica: str, source: str) -> bool:
    rows = sb.sql(replica, "SHOW ALL SLAVES STATUS")
    port = str(sb.server(source).port)
    return any(r["Master_Port"] == port and r["Slave_IO_Running"] == "Yes"
               and r["Slave_SQL_Running"] == "Yes" for r in rows)


def ok(reply: Reply) -> None:
    assert reply.status == 204, (reply.status, reply.body)


def refused(reply: Reply, status: int, words: str) -> str:
    assert reply.status == status, (reply.status, reply.body)
    text = str(reply.body["errors"][0]["detail"])
    assert words in text, text
    return text


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    sb = make_sandbox(tmp_path_factory.mktemp("admin_ops"))
    try:
        overrides = {**PRIMARY_ONLY, MONITOR: {"monitor_interval": "200ms", "failcount": "2"}}
        text = sb.render_config(listener_port=find_free_port(), tls=False, overrides=overrides)
        handle = launch_proxy(sb.dir / "proxy", text)
        try:
            sb.sql("server1", "CREATE TABLE app.ops (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
            yield Cluster(sb, handle, AdminApi.of_config(handle.config_path))
        finally:
            handle.stop()
    finally:
        sb.destroy()


@pytest.fixture
def c(cluster: Cluster) -> Cluster:
    """The private cluster, healthy with server1 the primary (checked before each test)."""
    cluster.wait("the cluster is healthy", healthy)
    return cluster


def test_switchover_to_a_replica_and_back(c: Cluster) -> None:
    last = c.last_event()
    ok(c.command("switchover", "server2"))  # new primary by position
    # the request returned after the operation: the API shows the new primary at once
    assert c.primary() == "server2"
    assert c.states()["server2"] == "Master, Running"
    c.wait("server1 and server3 replicate from server2",
           lambda s: s["server1"] == s["server3"] == "Slave, Running")
    assert replicates_from(c.sb, "server1", "server2")
    c.write(1)  # the proxy writes to the new primary
    assert c.sb.sql("server2", "SELECT COUNT(*) AS n FROM app.ops WHERE v = 1")[0]["n"] == "1"
    events = c.events_since(last)
    assert any(e["kind"] == "action" and e["reason"].startswith("switchover of server2 done")
               for e in events), events
    ok(c.command("switchover", "new_primary=server1", "old_primary=server2"))  # 24.08's form
    assert c.primary() == "server1"
    c.wait("back to server1", healthy)
    assert replicates_from(c.sb, "server2", "server1")


def test_refusals_and_bad_arguments_change_nothing(c: Cluster) -> None:
    refused(c.command("switchover", "server3", "server2"), 409,
            "'server2' is not the primary; the primary is 'server1'")
    refused(c.command("failover"), 409, "failover refused")
    refused(c.command("rejoin", "server2"), 409, "rejoin refused for server2")
    refused(c.command("switchover", "server9"), 404, "has no server 'server9'")
    refused(c.command("rejoin"), 400, "the server is missing")
    refused(c.command("switchover", "server2", "server1", "server3"), 400, "too many")
    refused(c.command("switchover", "server2", "new_primary=server2"), 400, "given twice")
    refused(c.command("switchover", "bogus=1"), 400, "unknown argument(s) bogus")
    refused(c.command("switchover", "timeout=-1"), 400, "positive number of seconds")
    refused(c.api.request("POST", f"{COMMAND}/switchover"), 400, "the monitor is missing")
    refused(c.api.request("POST", f"{COMMAND}/switchover?nope"), 404, "no monitor 'nope'")
    refused(c.api.request("POST", f"{COMMAND}/release-locks?{MONITOR}"), 404,
            "mariadbmon has no command 'release-locks'")
    assert healthy(c.states()) and c.primary() == "server1"


def test_failover_of_a_killed_primary_then_rejoin_and_switchover_back(c: Cluster) -> None:
    c.write(2)
    wait_gtid(c.sb, "server1", ["server2", "server3"])  # nothing is lost: rejoin is possible
    c.sb.kill("server1")
    try:
        c.wait("server1 is down", lambda s: s["server1"] == "Down")
        deadline = time.monotonic() + WAIT
        while True:  # the monitor needs failcount failed probes before it judges it failed
            reply = c.command("failover")
            if reply.status != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        ok(reply)
        new = c.primary()
        assert new in ("server2", "server3")
        assert c.states()[new] == "Master, Running"
        c.write(3)
    finally:
        c.sb.start("server1")
    c.wait("server1 is back, standalone", lambda s: s["server1"] == "Running")
    ok(c.command("rejoin", "server1"))
    c.wait("server1 replicates", lambda s: s["server1"] == "Slave, Running")
    assert replicates_from(c.sb, "server1", new)
    ok(c.command("switchover", "server1", new))
    c.wait("back to server1", healthy)
    rows = c.sb.sql("server1", "SELECT v FROM app.ops WHERE v IN (2, 3) ORDER BY v")
    assert [r["v"] for r in rows] == ["2", "3"]


def test_rejoin_of_a_server_that_stopped_replicating(c: Cluster) -> None:
    c.sb.sql("server3", "STOP SLAVE; RESET SLAVE ALL")
    c.wait("server3 standalone", lambda s: s["server3"] == "Running")
    ok(c.command("rejoin", "server3"))
    c.wait("server3 replicates again", lambda s: s["server3"] == "Slave, Running")
    assert replicates_from(c.sb, "server3", "server1")


def test_reset_replication(c: Cluster) -> None:
    before = c.sb.sql("server1", "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    assert before not in ("", "0-1-0")
    reply = c.command("reset-replication", "server1")
    if reply.status == 501:
        pytest.fail(f"reset-replication is not routed: {reply.body}")
    ok(reply)
    c.wait("the cluster replicates again", healthy)
    after = c.sb.sql("server1", "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    assert after in ("", "0-1-0") or int(after.split("-")[2]) < int(before.split("-")[2])
    c.write(4)  # (the data stays: only the binary logs and GTID history are reset)
    wait_gtid(c.sb, "server1", ["server2", "server3"])
    for name in ("server2", "server3"):
        assert c.sb.sql(name, "SELECT COUNT(*) AS n FROM app.ops WHERE v = 4")[0]["n"] == "1"
