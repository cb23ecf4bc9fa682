"""``policy.execute_is_plain_read``: when it says True, ``decide_command`` for the execute is
``route_read`` (the I/O layer's fast path relies on it); it says True for plain reads."""

from __future__ import annotations

import itertools
import random

import pytest
from routing_helpers import primary, replica, topology

from interlock.routing.causal import CausalReads
from interlock.routing.policy import decide_command, execute_is_plain_read, route_read
from interlock.routing.session_state import (
    AUTOCOMMIT,
    IN_TRANS,
    LockReason,
    ResponseFacts,
    SessionState,
    after_query,
    initial_state,
    long_data_sent,
    statement_prepared,
)
from interlock.routing.settings import RouterSettings, UseSqlVariablesIn
from interlock.sql.classifier import classify
from interlock.wire.constants import Command

STATEMENTS = (
    b"SELECT c FROM sbtest1 WHERE id = ?", b"SELECT * FROM t", b"SHOW TABLES",
    b"SELECT * FROM t FOR UPDATE", b"SELECT LAST_INSERT_ID()", b"SELECT @v", b"SELECT @v := 1",
    b"SELECT * FROM t INTO OUTFILE '/tmp/x'", b"SELECT 1 INTO @x", b"SHOW WARNINGS",
    b"SELECT FOUND_ROWS()", b"SELECT * FROM tmp1", b"UPDATE t SET a = ?", b"SET @x = ?",
    b"START TRANSACTION READ ONLY", b"BEGIN", b"COMMIT", b"CALL p()", b"SHOW MASTER STATUS",
    b"SELECT GET_LOCK('a', 1)", b"DO 1", b"EXECUTE s",
)
SETTINGS = (
    RouterSettings(), RouterSettings(master_accept_reads=False),
    RouterSettings(use_sql_variables_in=UseSqlVariablesIn.MASTER),
    RouterSettings(max_replication_lag=5.0), RouterSettings(causal_reads=CausalReads.FAST),
)


def _states() -> list[SessionState]:
    base = initial_state(database="app")
    topo = topology()
    temp = after_query(base, classify(b"CREATE TEMPORARY TABLE tmp1 (a INT)"),
                       decide_command(Command.QUERY, base, topo, RouterSettings(),
                                      classification=classify(b"CREATE TEMPORARY TABLE tmp1"
                                                              b" (a INT)")),
                       ResponseFacts("p1", True, AUTOCOMMIT), RouterSettings())
    return [base, SessionState(status=0), SessionState(status=IN_TRANS | AUTOCOMMIT),
            SessionState(locks=LockReason.LOCK_TABLES), SessionState(last_target="r2"), temp]


@pytest.mark.parametrize("settings", SETTINGS)
def test_plain_read_answer_is_route_read(settings: RouterSettings) -> None:
    topo = topology(primary(), replica("r1"), replica("r2", lag=9.0), replica("r3", ops=2))
    plain_seen = other_seen = 0
    for sql, state in itertools.product(STATEMENTS, _states()):
        state = statement_prepared(state, 1, classify(sql))
        for st in (state, long_data_sent(state, 1, "r1")):
            plain = execute_is_plain_read(1, st)
            if not plain:
                other_seen += 1
                continue
            plain_seen += 1
            for seed in range(5):
                slow = decide_command(Command.STMT_EXECUTE, st, topo, settings, stmt_id=1,
                                      rng=random.Random(seed))
                fast = route_read(st, topo, settings, rng=random.Random(seed))
                assert fast == slow, sql
    assert plain_seen and other_seen


def test_plain_reads_are_recognised_and_the_rest_is_not() -> None:
    state = initial_state()
    for sql, expected in ((b"SELECT c FROM sbtest1 WHERE id = ?", True),
                          (b"SHOW TABLES", True), (b"SELECT * FROM t FOR UPDATE", False),
                          (b"SELECT @v", False), (b"UPDATE t SET a = ?", False),
                          (b"SHOW WARNINGS", False)):
        assert execute_is_plain_read(1, statement_prepared(state, 1, classify(sql))) is expected
    read = statement_prepared(state, 1, classify(b"SELECT 1"))
    assert not execute_is_plain_read(2, read)  # unknown statement
    assert not execute_is_plain_read(1, long_data_sent(read, 1, "r1"))
