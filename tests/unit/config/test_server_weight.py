"""The Interlock-specific server parameter ``weight`` (a server's share of the reads) and the
static topology the service builds from it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from config_helpers import BASE

from interlock.config.model import Config
from interlock.routing.balancer import choose_replica
from interlock.routing.settings import SelectionCriteria
from interlock.routing.topology import ServerRole
from interlock.server.topology_source import static_topology

WITH_REPLICAS = BASE.replace(
    "servers=server1\n", "servers=server1,server2,server3\n"
) + "[server2]\ntype=server\naddress=127.0.0.1\nport=3307\n" \
    "[server3]\ntype=server\naddress=127.0.0.1\nport=3308\n"


def _server_weight(text: str, value: str) -> str:
    return text.replace("port=3307\n", f"port=3307\nweight={value}\n")


def test_default_weight_is_one(cnf: Callable[[str], Config]) -> None:
    config = cnf(WITH_REPLICAS)
    assert [config.servers[n].weight for n in ("server1", "server2", "server3")] == [1, 1, 1]


@pytest.mark.parametrize(("raw", "value"), [("0", 0.0), ("2.5", 2.5), (" 3 ", 3.0),
                                            ("1e1", 10.0)])
def test_weight_values(cnf: Callable[[str], Config], raw: str, value: float) -> None:
    assert cnf(_server_weight(WITH_REPLICAS, raw)).servers["server2"].weight == value


@pytest.mark.parametrize(("raw", "problem"), [
    ("-1", "'-1' is negative or not finite"),
    ("inf", "'inf' is negative or not finite"),
    ("nan", "'nan' is negative or not finite"),
    ("heavy", "'heavy' is not a number"),
])
def test_bad_weights_are_errors(errors: Callable[[str], list[str]], raw: str,
                                problem: str) -> None:
    found = errors(_server_weight(WITH_REPLICAS, raw))
    assert found == ["interlock.cnf:21: [server2] invalid value for 'weight': "
                     f"{problem}; expected a number >= 0"
                     " (e.g. 1, 0.5, 3)"]


def test_static_topology_carries_the_weights() -> None:
    topology = static_topology(["a", "b", "c"], weights={"b": 0.0, "c": 2.0})
    assert [(s.name, s.role, s.weight) for s in topology.servers] == [
        ("a", ServerRole.PRIMARY, 1.0), ("b", ServerRole.REPLICA, 0.0),
        ("c", ServerRole.REPLICA, 2.0)]
    assert [s.name for s in topology.replicas] == ["c"]  # weight 0: never chosen for reads
    assert topology.usable("b")  # a hint or a pinned statement still reaches it
    chosen = {choose_replica(topology, SelectionCriteria.LEAST_CURRENT_OPERATIONS).name
              for _ in range(20)}
    assert chosen == {"c"}
    assert [s.weight for s in static_topology(["a", "b"]).servers] == [1.0, 1.0]
