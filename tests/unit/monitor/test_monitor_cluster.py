"""Topology shapes, primary selection and stickiness, states, warnings, routing conversion."""

from __future__ import annotations

from monitor_helpers import cluster, down, link, replica, up, words

from interlock.monitor.cluster import AdminMode
from interlock.monitor.observations import SemiSync
from interlock.monitor.states import ServerState, format_states, state_words
from interlock.routing.topology import ServerRole


def test_simple_primary_and_two_replicas() -> None:
    c = cluster(up("server1"), replica("server2"), replica("server3"))
    assert c.primary == "server1"
    assert words(c, "server1") == "Master, Running"
    assert words(c, "server2") == words(c, "server3") == "Slave, Running"
    assert c.warnings == ()
    view = c.server("server2")
    assert view is not None and view.links[0].source == "server1"
    assert view.links[0].matched_by == "address"
    assert [lk.replica for lk in c.replica_links("server1")] == ["server2", "server3"]


def test_chain_relay_master() -> None:
    c = cluster(up("server1"), replica("server2"), replica("server3", "server2"))
    assert c.primary == "server1"
    assert words(c, "server2") == "Relay Master, Slave, Running"
    assert words(c, "server3") == "Slave, Running"


def test_multi_source_and_external_master() -> None:
    s3 = up("server3", read_only=True, current="0-1-100,5-9-7",
            slaves=[link("server1", conn="main"),
                    link("ext", conn="ext", host="10.9.9.9", port=3306, io_pos="5-9-7")])
    c = cluster(up("server1"), replica("server2"), s3)
    assert words(c, "server3") == "Slave, Slave of External Server, Running"
    view = c.server("server3")
    assert view is not None
    assert [(lk.connection_name, lk.source) for lk in view.links] == [("main", "server1"),
                                                                      ("ext", None)]
    assert view.links[1].external and view.links[1].address == "10.9.9.9:3306"


def test_primary_replicating_from_external_stays_primary() -> None:
    s1 = up("server1", slaves=[link("ext", host="10.0.0.5", port=3306)])
    c = cluster(s1, replica("server2"))
    assert c.primary == "server1"
    assert words(c, "server1") == "Master, Slave of External Server, Running"


def test_dual_master_one_writable() -> None:
    s1 = up("server1", slaves=[link("server2")])
    s2 = up("server2", read_only=True, slaves=[link("server1")])
    c = cluster(s1, s2, replica("server3"))
    assert c.primary == "server1"
    assert words(c, "server1") == "Master, Running"
    assert words(c, "server2") == "Slave, Running"
    # reversed roles: the writable one is the primary
    s1r = up("server1", read_only=True, slaves=[link("server2")])
    s2w = up("server2", slaves=[link("server1")])
    assert cluster(s1r, s2w, replica("server3")).primary == "server2"


def test_dual_master_both_writable_warns() -> None:
    s1 = up("server1", slaves=[link("server2")])
    s2 = up("server2", slaves=[link("server1")])
    c = cluster(s1, s2)
    assert c.primary == "server1"  # tie: listed first
    assert any("server2 is a replica but writable" in w for w in c.warnings)


def test_all_down() -> None:
    c = cluster(down("server1"), down("server2"), down("server3", auth=True))
    assert c.primary is None
    assert words(c, "server1") == "Down"
    assert words(c, "server3") == "Auth Error, Down"
    assert "no running primary" in c.warnings
    assert c.to_topology().primary is None


def test_split_two_writable_groups() -> None:
    """server1 -> server2 and server3 -> server4, both heads writable: the bigger group wins;
    the other head is reported as writable outside the cluster."""
    c = cluster(up("server1"), replica("server2"),
                up("server3", current="0-3-50"), replica("server4", "server3", pos="0-3-50"),
                replica("server5", "server3", pos="0-3-50"),
                names=("server1", "server2", "server3", "server4", "server5"))
    assert c.primary == "server3"
    assert words(c, "server1") == "Running" and words(c, "server2") == "Running"
    assert any("server1 is writable and does not replicate from the primary" in w
               for w in c.warnings)


def test_server_id_fallback_when_address_differs() -> None:
    s2 = up("server2", read_only=True,
            slaves=[link("server1", host="db1.internal", port=3306, master_id=1)])
    c = cluster(up("server1"), s2)
    view = c.server("server2")
    assert view is not None and view.links[0].source == "server1"
    assert view.links[0].matched_by == "server_id"
    assert words(c, "server2") == "Slave, Running"


def test_replica_io_stopped_is_not_a_slave() -> None:
    c = cluster(up("server1"), replica("server2", io="No"), replica("server3"))
    assert words(c, "server2") == "Running"
    c2 = cluster(up("server1"), replica("server2", io="Connecting"), replica("server3"))
    assert words(c2, "server2") == "Slave, Running"  # Connecting still counts (MaxScale)
    c3 = cluster(up("server1"), replica("server2", sql=False, sql_error="Duplicate entry"))
    assert words(c3, "server2") == "Running"
    assert any("SQL error 1062: Duplicate entry" in w for w in c3.warnings)


def test_primary_with_most_transitive_replicas_wins() -> None:
    # server2 has one direct replica with two of its own: 3 transitive vs server1's 1
    c = cluster(up("server1"), replica("server6"),
                up("server2", current="0-2-9"), replica("server3", "server2", pos="0-2-9"),
                replica("server4", "server3", pos="0-2-9"),
                replica("server5", "server3", pos="0-2-9"),
                names=("server1", "server2", "server3", "server4", "server5", "server6"))
    assert c.primary == "server2"


def test_stickiness_keeps_primary_and_warns_about_better_candidate() -> None:
    first = cluster(up("server1"), replica("server2"), replica("server3"))
    # replicas move to server3 (made writable), server1 keeps none: sticky, with a warning
    s3 = up("server3")
    nxt = cluster(up("server1"), replica("server2", "server3"), s3, previous=first)
    assert nxt.primary == "server1"
    assert any("server server3 is a better primary candidate than the current primary "
               "server1" in w for w in nxt.warnings)


def test_sticky_primary_down_stays_primary_without_master() -> None:
    first = cluster(up("server1"), replica("server2"), replica("server3"))
    nxt = cluster(down("server1"), replica("server2", io="Connecting"),
                  replica("server3", io="Connecting"), previous=first, failures={"server1": 9})
    assert nxt.primary == "server1"
    assert words(nxt, "server1") == "Down"
    assert words(nxt, "server2") == "Slave, Running"
    assert "the primary server1 is down" in nxt.warnings


def test_primary_invalid_when_read_only_or_replicating_or_gone_without_replicas() -> None:
    first = cluster(up("server1"), replica("server2"), up("server3"))
    ro = cluster(up("server1", read_only=True), replica("server2"), up("server3"),
                 previous=first)
    assert ro.primary == "server3" and "server1 became read-only" in ro.primary_reason
    repl = cluster(up("server1", slaves=[link("server3")]), replica("server2"), up("server3"),
                   previous=first)
    assert repl.primary == "server3" and "started replicating" in repl.primary_reason
    gone = cluster(down("server1"), replica("server2", "server3"), up("server3"),
                   previous=first, failures={"server1": 5})
    assert gone.primary == "server3" and "down for 5 ticks" in gone.primary_reason
    not_yet = cluster(down("server1"), replica("server2", "server3"), up("server3"),
                      previous=first, failures={"server1": 4})
    assert not_yet.primary == "server1"


def test_with_primary_installs_the_new_primary() -> None:
    first = cluster(down("server1"), replica("server2"), replica("server3"))
    after = cluster(down("server1"), up("server2"), replica("server3", "server2"),
                    previous=first.with_primary("server2"), failures={"server1": 5})
    assert after.primary == "server2" and words(after, "server2") == "Master, Running"


def test_maintenance_and_draining() -> None:
    admin = {"server2": AdminMode(maintenance=True, draining=True),
             "server3": AdminMode(draining=True)}
    c = cluster(up("server1"), replica("server2"), replica("server3"), admin=admin)
    assert words(c, "server2") == "Maintenance, Slave, Running"
    assert words(c, "server3") == "Draining, Slave, Running"
    topo = c.to_topology()
    info2, info3 = topo.server("server2"), topo.server("server3")
    assert info2 is not None and info2.maintenance and not info2.available
    assert info3 is not None and info3.draining and not info3.is_replica
    # a primary in maintenance is not kept
    m = cluster(up("server1"), replica("server2"), up("server3"), previous=c,
                admin={"server1": AdminMode(maintenance=True)})
    assert m.primary == "server3"


def test_semisync_stopped_warning() -> None:
    s1 = up("server1", semi=SemiSync(master_enabled=True, master_status=False))
    c = cluster(s1, replica("server2"))
    assert ("Semi-synchronous replication on server server1 has stopped working. "
            "Transactions may be lost if a failover occurs") in c.warnings
    ok = cluster(up("server1", semi=SemiSync(master_enabled=True, master_status=True)),
                 replica("server2"))
    assert not any("Semi-synchronous" in w for w in ok.warnings)


def test_to_topology() -> None:
    c = cluster(up("server1"), replica("server2", "server1", lag=4),
                replica("server3", "server2"), down("server4"),
                names=("server1", "server2", "server3", "server4"))
    topo = c.to_topology(generation=7, weights={"server3": 2.0})
    assert topo.generation == 7
    roles = {s.name: s.role for s in topo.servers}
    assert roles == {"server1": ServerRole.PRIMARY, "server2": ServerRole.RELAY,
                     "server3": ServerRole.REPLICA, "server4": ServerRole.DOWN}
    assert topo.primary is not None and topo.primary.name == "server1"
    assert [s.name for s in topo.replicas] == ["server2", "server3"]
    s2 = topo.server("server2")
    assert s2 is not None and s2.replication_lag == 4.0
    assert s2.gtid_position is not None and str(s2.gtid_position) == "0-1-100"
    s3 = topo.server("server3")
    assert s3 is not None and s3.weight == 2.0
    s4 = topo.server("server4")
    assert s4 is not None and not s4.healthy and s4.gtid_position is None


def test_state_words_order_and_hiding() -> None:
    every = ServerState.MAINTENANCE | ServerState.DRAINING | ServerState.SLAVE | \
        ServerState.SLAVE_OF_EXTERNAL | ServerState.RUNNING
    assert state_words(every) == ("Maintenance", "Slave", "Slave of External Server", "Running")
    assert format_states(ServerState.MASTER | ServerState.SLAVE | ServerState.RUNNING) == \
        "Master, Running"
    assert format_states(ServerState.NONE) == "Down"

