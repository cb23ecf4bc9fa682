"""The loop's pure decisions (monitor.rules) and the cluster fixes they rely on: a down
primary's replicas still resolve by server_id, a stopped IO thread still names its source,
settings from the config section, what auto_rejoin looks at, the post-promotion snapshot."""

from __future__ import annotations

from tests.unit.monitor.monitor_helpers import cluster, down, replica, up, words

from interlock.config.model import MonitorConfig, MonitorParams
from interlock.monitor.health import Verdict, judge_primary, update_health
from interlock.monitor.rules import (
    promoted,
    rejoin_candidates,
    same_topology,
    settings_for,
    warnings_added,
)
from interlock.monitor.settings import MonitorSettings
from interlock.routing.topology import ServerRole


def test_down_primary_behind_another_address_resolves_by_its_last_server_id() -> None:
    # the replica reaches server1 on port 9999, the monitor on 3301: only the id matches
    first = cluster(up("server1"), replica("server2", port=9999, master_id=1))
    assert words(first, "server2") == "Slave, Running"
    s = MonitorSettings(failcount=2, master_failure_timeout=1.0)
    later = cluster(down("server1"), replica("server2", port=9999, master_id=1),
                    previous=first, settings=s, failures={"server1": 5})
    assert later.primary == "server1"  # still the failed primary: a replica points at it
    (lk,) = later.server("server2").links  # type: ignore[union-attr]
    assert lk.source == "server1" and lk.matched_by == "server_id"


def test_stopped_io_thread_keeps_the_down_primary_for_failover() -> None:
    s = MonitorSettings(failcount=2, master_failure_timeout=1.0, auto_failover=True)
    first = cluster(up("server1"), replica("server2"))
    later = cluster(down("server1"), replica("server2", io="No"), previous=first, settings=s,
                    failures={"server1": 3})
    assert later.primary == "server1"
    health = update_health(None, {"server1": down("server1"),
                                  "server2": replica("server2", io="No")}, 0.0)
    health = update_health(health, {"server1": down("server1")}, 1.0)
    health = update_health(health, {"server1": down("server1")}, 2.0)
    assert judge_primary(later, health, s, 2.0).verdict is Verdict.FAILED


def test_settings_from_the_config_section() -> None:
    cfg = MonitorConfig("M", "mariadbmon", ("server1",), "mon", "pw", monitor_interval=0.25,
                        mariadbmon=MonitorParams(auto_failover="safe", failcount=3,
                                      servers_no_promotion=("server3",), failover_block=0.0))
    s = settings_for(cfg)
    assert (s.monitor_interval, s.auto_failover, s.failcount, s.failover_block) == (
        0.25, True, 3, 0.0)
    assert s.servers_no_promotion == ("server3",)
    assert (s.replication_user, s.replication_password) == ("mon", "pw")  # as MaxScale
    own = settings_for(MonitorConfig("M", "mariadbmon", (), "mon", "pw",
                                     mariadbmon=MonitorParams(replication_user="repl",
                                                              replication_password="r")))
    assert (own.replication_user, own.replication_password, own.auto_failover) == (
        "repl", "r", False)


def test_rejoin_candidates_are_running_non_replicas() -> None:
    c = cluster(up("server1"), replica("server2"), up("server3", current="0-1-90"),
                down("server4", at=0.0), names=("server1", "server2", "server3", "server4"))
    assert rejoin_candidates(c) == ("server3",)
    no_primary = cluster(down("server1"), replica("server2"))
    assert rejoin_candidates(no_primary) == ()


def test_promoted_snapshot_and_topology_comparison() -> None:
    before = cluster(up("server1"), replica("server2"), replica("server3"))
    after = promoted(before, "server2", "server1")
    assert after.primary == "server2"
    assert words(after, "server2") == "Master, Running"
    assert words(after, "server1") == "Slave, Running"
    topo = after.to_topology(7)
    assert topo.primary is not None and topo.primary.name == "server2"
    assert topo.server("server1").role is ServerRole.REPLICA  # type: ignore[union-attr]
    assert same_topology(before.to_topology(1), before.to_topology(2))
    assert not same_topology(before.to_topology(1), topo)
    assert not same_topology(None, topo)


def test_warnings_are_new_once() -> None:
    assert warnings_added(("a", "b"), ("b", "c")) == ("c",)
    assert warnings_added((), ()) == ()


def test_write_gate_holds_and_releases() -> None:
    import asyncio

    from interlock.monitor.executor import WriteGate

    async def scenario() -> tuple[str | None, str | None, bool]:
        gate = WriteGate()
        assert await gate.wait() is None and not gate.held  # open: no wait
        gate.hold(5.0)
        waiter = asyncio.ensure_future(gate.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        gate.release("server2")
        released = await waiter
        gate.hold(0.0)  # a hold whose deadline passed does not block
        expired = await gate.wait()
        return released, expired, len(gate.holds) == 1

    assert asyncio.run(scenario()) == ("server2", None, True)
