"""The monitor loop against the shared sandbox (primary + 2 replicas), read-mostly: states,
publishing into the TopologySource, maintenance/drain modes, enforce_read_only_slaves, Auth
Error.  Nothing here changes the replication topology (the cluster operations have their own
sandboxes in test_switchover_*/test_failover_*/test_rejoin_*)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.monitor_support import LiveProxy

from interlock.routing.topology import ServerRole, Topology
from interlock.sandbox import Sandbox

FAST = {"monitor_interval": "200ms"}


def test_states_published_and_only_on_change(sandbox: Sandbox, tmp_path: Path) -> None:
    with LiveProxy(sandbox, tmp_path, FAST) as lp:
        assert lp.states() == {"server1": "Master, Running", "server2": "Slave, Running",
                               "server3": "Slave, Running"}
        topo = lp.monitor.source.current
        assert topo.primary is not None and topo.primary.name == "server1"
        assert [s.name for s in topo.replicas] == ["server2", "server3"]
        assert {s.role for s in topo.replicas} == {ServerRole.REPLICA}
        seen: list[Topology] = []
        lp.run(lambda: lp.monitor.source.subscribe(seen.append))
        ticks = lp.monitor.ticks
        lp.wait_for("three more ticks", lambda: lp.monitor.ticks >= ticks + 3)
        assert seen == []  # nothing changed: nothing published
        sandbox.sql("server1", "CREATE DATABASE IF NOT EXISTS monitor_loop_test")
        lp.wait_for("a publish after a write", lambda: bool(seen))
        assert seen[-1].generation > topo.generation
        # the service routes by this source: new sessions log in to the monitor's primary
        conn = lp.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT @@server_id")
            assert cur.fetchone() == (1,)
        conn.close()


def test_maintenance_and_drain_modes(sandbox: Sandbox, tmp_path: Path) -> None:
    with LiveProxy(sandbox, tmp_path, FAST) as lp:
        lp.run(lambda: lp.monitor.set_maintenance("server3"))
        lp.wait_for("maintenance", lambda: lp.states()["server3"] == "Maintenance, Slave, Running")
        info = lp.monitor.source.current.server("server3")
        assert info is not None and info.maintenance and not info.available
        lp.run(lambda: lp.monitor.set_draining("server2"))
        lp.wait_for("draining", lambda: lp.states()["server2"] == "Draining, Slave, Running")
        topo = lp.monitor.source.current
        assert [s.name for s in topo.replicas] == []  # neither takes new reads
        lp.run(lambda: lp.monitor.set_maintenance("server3", False))
        lp.run(lambda: lp.monitor.set_draining("server2", False))
        lp.wait_for("back", lambda: len(lp.monitor.source.current.replicas) == 2)
        with pytest.raises(KeyError):
            lp.run(lambda: lp.monitor.set_maintenance("nope"))
        events = [str(e) for e in lp.monitor.events]
        assert any("server3: decision: set maintenance=on" in e for e in events), events


def test_enforce_read_only_slaves(sandbox: Sandbox, tmp_path: Path) -> None:
    with LiveProxy(sandbox, tmp_path, {**FAST, "enforce_read_only_slaves": "true"}) as lp:
        sandbox.sql("server2", "SET GLOBAL read_only=0")
        try:
            lp.wait_for("read_only restored", lambda: sandbox.sql(
                "server2", "SELECT @@read_only AS r")[0]["r"] == "1")
        finally:
            sandbox.sql("server2", "SET GLOBAL read_only=1")
        assert any("enforce of server2" in str(e) for e in lp.monitor.events)


def test_wrong_monitor_password_is_auth_error(sandbox: Sandbox, tmp_path: Path) -> None:
    with LiveProxy(sandbox, tmp_path, {**FAST, "password": "wrong"}) as lp:
        assert set(lp.states().values()) == {"Auth Error, Down"}
        note = {s.name: s.note for s in lp.run(lp.monitor.status)}["server1"]
        assert "auth (1045)" in note
        assert lp.monitor.source.current.primary is None


pytestmark = pytest.mark.integration
