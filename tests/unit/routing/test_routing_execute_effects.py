"""Per-statement facts the readwritesplit hot path relies on.

``session_state.after_execute`` short-cuts statements without effects
(:func:`no_statement_effects`): the state it gives must be the one the general path
(``_after_statement``) gives, for every statement kind, setting, state and response.
``policy.execute_is_pinned``: the execute's decision involves no replica choice."""

from __future__ import annotations

import itertools
import random

import pytest

from interlock.routing import policy
from interlock.routing.causal import CausalReads, GtidPosition
from interlock.routing.decision import Reason, RouteDecision, Target, plain_decision
from interlock.routing.policy import decide_command, execute_is_pinned
from interlock.routing.session_state import (
    AUTOCOMMIT,
    CURSOR_EXISTS,
    IN_TRANS,
    IN_TRANS_READONLY,
    LockReason,
    PreparedStatement,
    ResponseFacts,
    SessionState,
    _after_statement,
    _put_statement,
    after_execute,
    initial_state,
    long_data_sent,
    no_statement_effects,
    statement_prepared,
)
from interlock.routing.settings import RouterSettings
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole, Topology
from interlock.sql.classifier import classify
from interlock.wire.constants import Command

STATEMENTS = (
    b"SELECT c FROM sbtest1 WHERE id = ?", b"SELECT * FROM t", b"SHOW TABLES",
    b"SELECT * FROM t FOR UPDATE", b"SELECT @v := 1", b"SELECT 1 INTO @x", b"SET @x = ?",
    b"UPDATE t SET a = ?", b"CALL p(@out)", b"CALL p()", b"LOCK TABLES t READ",
    b"UNLOCK TABLES", b"XA START 'x'", b"CREATE TEMPORARY TABLE tmp1 (a INT)",
    b"DROP TEMPORARY TABLE tmp1", b"USE other", b"SELECT 1; SELECT 2", b"BEGIN", b"COMMIT",
    b"PREPARE s FROM 'SELECT 1'", b"DEALLOCATE PREPARE s",
)
SETTINGS = (RouterSettings(), RouterSettings(strict_multi_stmt=True, strict_sp_calls=True))
DECISIONS = (
    plain_decision(Target.REPLICA, "r1", Reason.READ),
    plain_decision(Target.PRIMARY, "p1", Reason.WRITE),
    plain_decision(Target.ALL, None, Reason.SESSION_COMMAND),
    RouteDecision(Target.REPLICA, "r1", Reason.READ, wait_gtid=GtidPosition.parse("0-1-5"),
                  causal=CausalReads.LOCAL),
)
FACTS = (
    ResponseFacts("r1", True, AUTOCOMMIT), ResponseFacts("p1", True, AUTOCOMMIT | IN_TRANS),
    ResponseFacts("r1", False, None), ResponseFacts("r1", True, AUTOCOMMIT | CURSOR_EXISTS),
    ResponseFacts("p1", True, AUTOCOMMIT, last_gtid="0-1-9", database="Other"),
)
STATES = (
    initial_state(database="app"), SessionState(status=AUTOCOMMIT | IN_TRANS, trx_target="p1"),
    SessionState(last_target="r1"), SessionState(locks=LockReason.LOCK_TABLES),
)


@pytest.mark.parametrize("sql", STATEMENTS)
def test_short_cut_gives_the_general_state(sql: bytes) -> None:
    c = classify(sql)
    for settings, decision, facts, base in itertools.product(SETTINGS, DECISIONS, FACTS,
                                                             STATES):
        for pinned in (False, True):
            state = statement_prepared(base, 1, c)
            if pinned:
                state = long_data_sent(state, 1, "r1")
            got = after_execute(state, 1, decision, facts, settings)
            # the general path, with the statement record updated as after_execute does
            cursor = facts.server if facts.status and facts.status & CURSOR_EXISTS else None
            expected_base = statement_prepared(base, 1, c)
            if cursor is not None:
                expected_base = _put_statement(base, 1, PreparedStatement(c, cursor))
            expected = _after_statement(expected_base, c, decision, facts, settings,
                                        hints=False)
            assert got == expected, (sql, settings, decision, facts, base, pinned)


def test_effects_are_recognised() -> None:
    assert no_statement_effects(classify(b"SELECT c FROM sbtest1 WHERE id = ?"))
    assert no_statement_effects(classify(b"UPDATE t SET a = ?"))  # routing, not state
    for sql in (b"CALL p()", b"LOCK TABLES t READ", b"SELECT @v := 1",
                b"CREATE TEMPORARY TABLE tmp1 (a INT)", b"SELECT 1; SELECT 2", b"USE other"):
        assert not no_statement_effects(classify(sql)), sql


PINNED_STATES = (
    SessionState(status=AUTOCOMMIT | IN_TRANS, trx_target="p1"),
    SessionState(status=IN_TRANS, trx_target="r2"),  # a read-only transaction on a replica
    SessionState(status=AUTOCOMMIT | IN_TRANS | IN_TRANS_READONLY, trx_target="r1"),
    SessionState(locks=LockReason.LOCK_TABLES), SessionState(locks=LockReason.SP_CALL),
)


def test_pinned_executes_make_no_replica_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``execute_is_pinned``: the decision does not depend on the live load or the seed (and
    read routing is never reached), so the I/O layer may keep it per statement."""
    def no_read_routing(*_args: object, **_kwargs: object) -> RouteDecision:
        raise AssertionError("route_read reached")

    monkeypatch.setattr(policy, "route_read", no_read_routing)
    assert not execute_is_pinned(initial_state())
    assert not execute_is_pinned(SessionState(status=0))  # autocommit=0, no trx open yet
    seen = set()
    for sql, base, settings in itertools.product(STATEMENTS, PINNED_STATES, SETTINGS):
        assert execute_is_pinned(base)
        state = statement_prepared(base, 1, classify(sql))
        decisions = set()
        for ops, seed in itertools.product((0, 5), range(3)):
            topo = Topology.of((ServerInfo("p1", ServerRole.PRIMARY),
                                ServerInfo("r1", ServerRole.REPLICA,
                                           load=ServerLoad(current_operations=ops)),
                                ServerInfo("r2", ServerRole.REPLICA)))
            decisions.add(decide_command(Command.STMT_EXECUTE, state, topo, settings,
                                         stmt_id=1, rng=random.Random(seed)))
        assert len(decisions) == 1, (sql, base)
        seen |= decisions
    assert {d.target for d in seen} >= {Target.PRIMARY, Target.SERVER}
