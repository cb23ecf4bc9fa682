"""Small hand-built topologies and a session driver for the routing tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from interlock.routing.causal import GtidPosition
from interlock.routing.decision import RouteDecision, Target
from interlock.routing.policy import decide
from interlock.routing.session_state import (
    AUTOCOMMIT,
    IN_TRANS,
    IN_TRANS_READONLY,
    ResponseFacts,
    SessionState,
    after_query,
    initial_state,
)
from interlock.routing.settings import RouterSettings
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole, Topology
from interlock.sql.classifier import classify

__all__ = ["AUTOCOMMIT", "IN_TRANS", "IN_TRANS_READONLY", "Session", "primary", "replica",
           "topology"]


def primary(name: str = "p1", gtid: str | None = None, **kwargs: object) -> ServerInfo:
    position = GtidPosition.parse(gtid) if gtid is not None else None
    return ServerInfo(name, ServerRole.PRIMARY, gtid_position=position, **kwargs)  # type: ignore[arg-type]


def replica(name: str, *, lag: float | None = 0.0, ops: int = 0, gtid: str | None = None,
            **kwargs: object) -> ServerInfo:
    position = GtidPosition.parse(gtid) if gtid is not None else None
    return ServerInfo(name, ServerRole.REPLICA, replication_lag=lag,  # type: ignore[arg-type]
                      gtid_position=position, load=ServerLoad(current_operations=ops), **kwargs)


def topology(*servers: ServerInfo, global_gtid: str | None = None) -> Topology:
    if not servers:
        servers = (primary(), replica("r1"), replica("r2"))
    position = GtidPosition.parse(global_gtid) if global_gtid is not None else None
    return Topology.of(servers, global_gtid=position)


@dataclass
class Session:
    """Drives classify -> decide -> after_query like the I/O layer will.

    ``status``: the status flags the answering server reports (the default: autocommit on, no
    transaction); tests that open transactions pass the flags the server would send.
    """

    topo: Topology = field(default_factory=topology)
    settings: RouterSettings = field(default_factory=RouterSettings)
    state: SessionState = field(default_factory=initial_state)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def route(self, sql: bytes) -> RouteDecision:
        return decide(classify(sql), self.state, self.topo, self.settings, rng=self.rng)

    def run(self, sql: bytes, *, status: int | None = AUTOCOMMIT, ok: bool = True,
            last_gtid: str | None = None, database: str | None = None) -> RouteDecision:
        """Route ``sql`` and apply the answer of the server it went to."""
        c = classify(sql)
        decision = decide(c, self.state, self.topo, self.settings, rng=self.rng)
        server = decision.server if decision.target is not Target.ALL else self._primary()
        assert server is not None
        facts = ResponseFacts(server, ok, status if ok else None, last_gtid, database)
        self.state = after_query(self.state, c, decision, facts, self.settings)
        return decision

    def _primary(self) -> str:
        p = self.topo.primary
        assert p is not None
        return p.name
