"""The statement table end to end: classify -> decide, in a fresh session with defaults."""

from __future__ import annotations

import random

import pytest
from sql_corpus import ROWS, Row

from interlock.routing.decision import Target
from interlock.routing.policy import decide
from interlock.routing.session_state import SessionState
from interlock.routing.settings import RouterSettings
from interlock.routing.topology import ServerInfo, ServerRole, Topology
from interlock.sql.classifier import classify

TOPOLOGY = Topology.of([
    ServerInfo("p1", ServerRole.PRIMARY),
    ServerInfo("r1", ServerRole.REPLICA, replication_lag=0.0),
    ServerInfo("r2", ServerRole.REPLICA, replication_lag=0.0),
])
STATE = SessionState(last_target="r2")
LABELS = {Target.PRIMARY: "primary", Target.REPLICA: "replica", Target.ALL: "all",
          Target.LAST: "last"}


def route_label(sql: bytes) -> str:
    decision = decide(classify(sql), STATE, TOPOLOGY, RouterSettings(), rng=random.Random(1))
    if decision.target is Target.SERVER:
        return f"server:{decision.server}"
    if decision.target is Target.PRIMARY:
        assert decision.server == "p1"
    if decision.target is Target.REPLICA:
        assert decision.server in ("r1", "r2")
    if decision.target is Target.LAST:
        assert decision.server == "r2"
    return LABELS[decision.target]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.sql.decode("utf-8", "replace")[:60])
def test_route(row: Row) -> None:
    assert route_label(row.sql) == row.route


def test_every_route_kind_is_in_the_table() -> None:
    assert {row.route for row in ROWS} >= {"primary", "replica", "all", "last", "server:r1"}
