"""Routing decisions of the read/write split (pure: no I/O).

``decide(classification, session_state, topology, settings) -> RouteDecision`` for COM_QUERY,
``decide_command(...)`` for the other commands; the ``after_*`` functions of
:mod:`interlock.routing.session_state` advance the per-session state from what the backends
report.
"""

from interlock.routing.causal import CausalReads, Gtid, GtidPosition
from interlock.routing.decision import Reason, RouteDecision, Target
from interlock.routing.policy import causal_timeout_fallback, decide, decide_command
from interlock.routing.session_state import (
    LockReason,
    ResponseFacts,
    SessionState,
    after_command,
    after_execute,
    after_init_db,
    after_query,
    after_reset,
    initial_state,
    long_data_sent,
    statement_closed,
    statement_prepared,
)
from interlock.routing.settings import RouterSettings, SelectionCriteria, UseSqlVariablesIn
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole, Topology

__all__ = [
    "CausalReads",
    "Gtid",
    "GtidPosition",
    "LockReason",
    "Reason",
    "ResponseFacts",
    "RouteDecision",
    "RouterSettings",
    "SelectionCriteria",
    "ServerInfo",
    "ServerLoad",
    "ServerRole",
    "SessionState",
    "Target",
    "Topology",
    "UseSqlVariablesIn",
    "after_command",
    "after_execute",
    "after_init_db",
    "after_query",
    "after_reset",
    "causal_timeout_fallback",
    "decide",
    "decide_command",
    "initial_state",
    "long_data_sent",
    "statement_closed",
    "statement_prepared",
]
