"""The probe SQL of ``monitor.observations`` against real MariaDB servers, parsed by the
monitor's parsers and built into a cluster (the shared sandbox: primary + 2 replicas).

The probe runs as the sandbox's monitor account, so this also shows its grants suffice.  The
IO-thread test restarts the thread and waits for replication before it ends: the shared
sandbox is left replicating as it was found.
"""

from __future__ import annotations

import time
from typing import Any

import pymysql
import pymysql.cursors
import pytest

from interlock.monitor.cluster import ClusterState, ServerSpec, build_cluster
from interlock.monitor.events import state_changes
from interlock.monitor.gtid import GtidList, prefix_check
from interlock.monitor.observations import (
    PROBE_QUERIES,
    SQL_PROCESSLIST,
    SQL_SEMISYNC_VARIABLES,
    IoState,
    ProbeFailure,
    ServerObservation,
    UsingGtid,
    build_observation,
    classify_error,
    client_connections,
    failed_observation,
    parse_processlist,
)
from interlock.monitor.states import ServerState
from interlock.routing.topology import ServerRole
from interlock.sandbox import Sandbox
from interlock.sandbox.model import Role

WAIT = 30.0  # seconds to wait for replication to settle (a bound, not an assertion)


def specs(sb: Sandbox) -> tuple[ServerSpec, ...]:
    return tuple(ServerSpec(s.name, s.host, s.port) for s in sb.servers)


def query_all(sb: Sandbox, name: str, queries: tuple[str, ...], role: Role = Role.MONITOR
              ) -> list[list[dict[str, Any]]]:
    conn = sb.connect(name, role=role, cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            results = []
            for sql in queries:
                cur.execute(sql)
                results.append(list(cur.fetchall()))
            return results
    finally:
        conn.close()


def probe(sb: Sandbox, name: str) -> ServerObservation:
    variables, slaves, semi_status, semi_vars = query_all(sb, name, PROBE_QUERIES)
    assert len(variables) == 1
    return build_observation(name, time.monotonic(), variables[0], slaves, semi_status,
                             semi_vars)


def tick(sb: Sandbox, previous: ClusterState | None = None) -> ClusterState:
    observations = {s.name: probe(sb, s.name) for s in sb.servers}
    return build_cluster(specs(sb), observations, previous)


def write_and_wait(sb: Sandbox) -> str:
    """One write on the primary; wait until every replica applied it; its gtid_binlog_pos."""
    primary = sb.primary.name
    sb.sql(primary, "CREATE DATABASE IF NOT EXISTS monitor_probe_test")
    sb.sql(primary, "CREATE TABLE IF NOT EXISTS monitor_probe_test.t (id INT PRIMARY KEY "
                    "AUTO_INCREMENT, at DOUBLE)")
    sb.sql(primary, f"INSERT INTO monitor_probe_test.t (at) VALUES ({time.time()})")
    pos = sb.sql(primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    for replica in sb.replicas:
        rows = sb.sql(replica.name, f"SELECT MASTER_GTID_WAIT('{pos}', {WAIT:g}) AS r")
        assert rows[0]["r"] == "0", f"{replica.name} did not reach {pos}"
    return pos


def test_probe_builds_primary_and_replicas(sandbox: Sandbox) -> None:
    pos = GtidList.parse(write_and_wait(sandbox))
    state = tick(sandbox)
    names = [s.name for s in sandbox.servers]
    assert state.primary == "server1", state.primary_reason
    assert {n: state.server(n).state_text for n in names} == {  # type: ignore[union-attr]
        "server1": "Master, Running", "server2": "Slave, Running", "server3": "Slave, Running"}
    assert state.warnings == ()
    primary = state.server("server1")
    assert primary is not None and primary.observation is not None
    pobs = primary.observation
    assert pobs.is_mariadb and pobs.server_id == 1 and not pobs.read_only
    assert pobs.log_bin and pobs.log_slave_updates and pobs.gtid_strict_mode
    assert pobs.gtid_binlog_pos.covers(pos) and pobs.slaves == ()
    for name in ("server2", "server3"):
        view = state.server(name)
        assert view is not None and view.observation is not None
        obs = view.observation
        assert obs.read_only and obs.server_id == int(name[-1])
        (lk,) = view.links
        assert lk.source == "server1" and lk.matched_by == "address"
        assert lk.status.io_state is IoState.YES and lk.status.sql_running
        assert lk.status.using_gtid is UsingGtid.SLAVE_POS
        assert lk.status.master_server_id == 1
        assert lk.status.gtid_io_pos.covers(pos) and obs.gtid_current_pos.covers(pos)
        assert prefix_check(obs.gtid_current_pos, pobs.gtid_binlog_pos).ok
    (semi_vars,) = query_all(sandbox, "server1", (SQL_SEMISYNC_VARIABLES,))
    assert {"rpl_semi_sync_master_enabled", "rpl_semi_sync_slave_enabled"} <= {
        r["Variable_name"] for r in semi_vars}
    assert not pobs.semi_sync.master_enabled  # the shared sandbox runs without semi-sync
    topo = state.to_topology()
    assert topo.primary is not None and topo.primary.name == "server1"
    assert {s.name for s in topo.replicas} == {"server2", "server3"}
    assert {s.role for s in topo.replicas} == {ServerRole.REPLICA}


def wait_io(sb: Sandbox, name: str, want: IoState) -> ServerObservation:
    deadline = time.monotonic() + WAIT
    while True:
        obs = probe(sb, name)
        if obs.slaves and obs.slaves[0].io_state is want:
            return obs
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: IO thread did not become {want.value}: {obs.slaves}")
        time.sleep(0.2)


def test_stopped_io_thread_changes_state_and_back(sandbox: Sandbox) -> None:
    before = tick(sandbox)
    assert before.server("server2").states == ServerState.SLAVE | ServerState.RUNNING  # type: ignore[union-attr]
    sandbox.sql("server2", "STOP SLAVE IO_THREAD")
    try:
        wait_io(sandbox, "server2", IoState.NO)
        stopped = tick(sandbox, before)
        view = stopped.server("server2")
        assert view is not None and view.state_text == "Running"
        assert view.links[0].status.io_state is IoState.NO and view.links[0].status.sql_running
        assert stopped.primary == "server1"
        (event,) = state_changes(before, stopped, time.time())
        assert event.server == "server2" and event.new == ServerState.RUNNING
        assert "IO No, SQL Yes" in event.reason
    finally:
        sandbox.sql("server2", "START SLAVE IO_THREAD")
    wait_io(sandbox, "server2", IoState.YES)
    write_and_wait(sandbox)
    after = tick(sandbox, stopped)
    assert after.server("server2").state_text == "Slave, Running"  # type: ignore[union-attr]
    (event,) = state_changes(stopped, after, time.time())
    assert event.new == ServerState.SLAVE | ServerState.RUNNING


def test_auth_error_is_not_down(sandbox: Sandbox) -> None:
    server = sandbox.server("server3")
    with pytest.raises(pymysql.err.OperationalError) as info:
        pymysql.connect(host=server.host, port=server.port, user=sandbox.monitor_user,
                        password="wrong-password", connect_timeout=5)
    code, message = info.value.args[0], info.value.args[1]
    error = classify_error(code, message)
    assert error.kind is ProbeFailure.AUTH and error.code == 1045
    observations = {s.name: probe(sandbox, s.name) for s in sandbox.servers if s.name != "server3"}
    observations["server3"] = failed_observation("server3", time.monotonic(), error)
    state = build_cluster(specs(sandbox), observations)
    assert state.server("server3").state_text == "Auth Error, Down"  # type: ignore[union-attr]


def test_processlist_fencing_view(sandbox: Sandbox) -> None:
    """The processlist as the executor's fencing step will read it: an application session is
    a client connection; replication (Binlog Dump) and the monitor's own are not."""
    app = sandbox.connect("server1", role=Role.APP)
    try:
        with app.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            app_id = cur.fetchone()[0]
        (rows,) = query_all(sandbox, "server1", (SQL_PROCESSLIST,))
        entries = parse_processlist(rows)
        clients = client_connections(entries, [sandbox.monitor_user])
        assert app_id in {e.id for e in clients}
        dumps = [e for e in entries if e.command.startswith("Binlog Dump")]
        assert len(dumps) == 2 and not set(dumps) & set(clients)
        assert all(e.user != sandbox.monitor_user for e in clients)
    finally:
        app.close()
