"""Hints (single-use and the hint stack) and protocol commands (binary prepared statements)."""

from __future__ import annotations

import pytest
from routing_helpers import AUTOCOMMIT, IN_TRANS, Session, primary, replica, topology

from interlock.routing.decision import Reason, Target
from interlock.routing.policy import can_run_on_replica, decide_command
from interlock.routing.session_state import (
    CURSOR_EXISTS,
    ResponseFacts,
    after_command,
    after_execute,
    after_init_db,
    after_reset,
    long_data_sent,
    statement_closed,
    statement_prepared,
)
from interlock.routing.settings import RouterSettings
from interlock.sql.classifier import classify
from interlock.wire.constants import Command

# ----------------------------------------------------------------------------- hints


def test_route_to_master_overrides_a_read() -> None:
    d = Session().route(b"SELECT 1 -- maxscale route to master")
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", Reason.HINT_MASTER)


def test_route_to_slave_overrides_even_a_write_as_in_maxscale() -> None:
    d = Session().route(b"INSERT INTO t VALUES (1) -- maxscale route to slave")
    assert (d.target, d.reason) == (Target.REPLICA, Reason.HINT_SLAVE)


def test_route_to_slave_without_replicas_falls_back_to_the_primary() -> None:
    d = Session(topo=topology(primary())).route(b"SELECT 1 -- maxscale route to slave")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.NO_USABLE_REPLICA)


def test_route_to_server_and_its_fallback() -> None:
    s = Session()
    d = s.route(b"SELECT 1 /* maxscale route to server r2 */")
    assert (d.target, d.server, d.reason) == (Target.SERVER, "r2", Reason.HINT_SERVER)
    d = s.route(b"UPDATE t SET a=1 -- maxscale route to server p1")
    assert (d.target, d.server) == (Target.SERVER, "p1")
    s.topo = topology(primary(), replica("r1"), replica("r2", healthy=False))
    assert s.route(b"SELECT 1 -- maxscale route to server r2").server == "r1"  # ignored
    assert s.route(b"SELECT 1 -- maxscale route to server R2").server == "r1"  # names: exact


def test_route_to_last() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2", ops=4)))
    s.run(b"INSERT INTO t VALUES (1)")
    d = s.route(b"SELECT 1 -- maxscale route to last")
    assert (d.target, d.server, d.reason) == (Target.LAST, "p1", Reason.HINT_LAST)


def test_hint_lag_limit_applies_to_the_replica_choice() -> None:
    s = Session(topo=topology(primary(), replica("r1", lag=10), replica("r2", lag=1)))
    assert {s.route(b"SELECT 1 -- maxscale max_slave_replication_lag=5").server
            for _ in range(10)} == {"r2"}
    assert {s.route(b"SELECT 1 -- maxscale route to slave").server for _ in range(30)} == {
        "r1", "r2"}


def test_session_commands_ignore_hints() -> None:
    assert Session().route(b"SET NAMES utf8 -- maxscale route to master").target is Target.ALL


def test_hints_are_ignored_in_a_transaction_with_transaction_replay() -> None:
    s = Session(settings=RouterSettings(transaction_replay=True))
    s.run(b"BEGIN", status=IN_TRANS | AUTOCOMMIT)
    assert s.route(b"SELECT 1 -- maxscale route to slave").reason is Reason.READ_WRITE_TRX
    s = Session()
    s.run(b"BEGIN", status=IN_TRANS | AUTOCOMMIT)
    assert s.route(b"SELECT 1 -- maxscale route to slave").reason is Reason.HINT_SLAVE


def test_hint_stack_anonymous_begin_and_end() -> None:
    s = Session()
    assert s.run(b"SELECT 1 -- maxscale begin route to master").target is Target.PRIMARY
    assert s.run(b"SELECT 2").reason is Reason.HINT_MASTER
    assert s.run(b"SELECT 3 -- maxscale route to slave").target is Target.REPLICA  # own hint
    assert s.run(b"SELECT 4 -- maxscale end").target is Target.REPLICA
    assert s.route(b"SELECT 5").reason is Reason.READ


def test_hint_stack_named_hints_nest() -> None:
    s = Session()
    assert s.run(b"SELECT 1 -- maxscale m prepare route to master").reason is Reason.READ
    s.run(b"SELECT 1 -- maxscale r prepare route to server r1")
    s.run(b"SELECT 1 -- maxscale m begin")
    assert s.run(b"SELECT 2").reason is Reason.HINT_MASTER
    s.run(b"SELECT 1 -- maxscale R begin")  # names are case-insensitive
    assert s.route(b"SELECT 3").server == "r1"
    s.run(b"SELECT 4 -- maxscale end")
    assert s.route(b"SELECT 5").reason is Reason.HINT_MASTER
    s.run(b"SELECT 6 -- maxscale end")
    assert s.route(b"SELECT 7").reason is Reason.READ
    s.run(b"SELECT 8 -- maxscale end")  # popping an empty stack is harmless
    assert s.state.ext.hint_stack == ()


def test_pushing_an_undefined_named_hint_does_nothing() -> None:
    s = Session()
    s.run(b"SELECT 1 -- maxscale nosuch begin")
    assert s.state.ext.hint_stack == ()


# ----------------------------------------------------------------------------- commands

def command(s: Session, cmd: Command, **kwargs: object) -> tuple[Target, str | None, Reason]:
    d = decide_command(cmd, s.state, s.topo, s.settings, rng=s.rng, **kwargs)  # type: ignore[arg-type]
    return d.target, d.server, d.reason


@pytest.mark.parametrize("cmd", [Command.INIT_DB, Command.CHANGE_USER, Command.RESET_CONNECTION,
                                 Command.SET_OPTION, Command.PING, Command.QUIT,
                                 Command.STMT_CLOSE, Command.STMT_RESET])
def test_session_level_commands_go_everywhere(cmd: Command) -> None:
    assert command(Session(), cmd)[0] is Target.ALL


@pytest.mark.parametrize("cmd", [Command.STATISTICS, Command.PROCESS_INFO, Command.PROCESS_KILL,
                                 Command.SHUTDOWN, Command.BINLOG_DUMP])
def test_other_commands_go_to_the_primary(cmd: Command) -> None:
    assert command(Session(), cmd) == (Target.PRIMARY, "p1", Reason.COMMAND)


def test_com_query_uses_the_classification() -> None:
    s = Session()
    assert command(s, Command.QUERY, classification=classify(b"SELECT 1"))[0] is Target.REPLICA
    assert command(s, Command.QUERY)[2] is Reason.UNKNOWN


def test_field_list_is_a_read() -> None:
    s = Session()
    assert command(s, Command.FIELD_LIST)[0] is Target.REPLICA
    s.run(b"CREATE TEMPORARY TABLE tmp (a int)")
    table = classify(b"SELECT * FROM tmp")
    assert command(s, Command.FIELD_LIST, classification=table)[2] is Reason.TEMPORARY_TABLE


@pytest.mark.parametrize(("sql", "replica_ok"), [
    (b"SELECT * FROM t WHERE id = ?", True), (b"SET @a = ?", True),
    (b"INSERT INTO t VALUES (?)", False), (b"SELECT * FROM t FOR UPDATE", False),
    (b"SELECT LAST_INSERT_ID()", False), (b"CALL p(?)", False), (b"SELECT 1; SELECT 2", False),
    (b"DO ?", True), (b"SHOW MASTER STATUS", False),
])
def test_prepare_goes_where_the_statement_may_run(sql: bytes, replica_ok: bool) -> None:
    c = classify(sql)
    assert can_run_on_replica(c) is replica_ok
    target, _, reason = command(Session(), Command.STMT_PREPARE, classification=c)
    assert reason is Reason.PREPARE
    assert target is (Target.ALL if replica_ok else Target.PRIMARY)


def test_binary_execute_is_routed_by_the_statement_kind() -> None:
    s = Session()
    s.state = statement_prepared(s.state, 1, classify(b"SELECT * FROM t WHERE id = ?"))
    s.state = statement_prepared(s.state, 2, classify(b"UPDATE t SET a = ? WHERE id = ?"))
    s.state = statement_prepared(s.state, 3, classify(b"SET @x = ?"))
    assert command(s, Command.STMT_EXECUTE, stmt_id=1)[0] is Target.REPLICA
    assert command(s, Command.STMT_EXECUTE, stmt_id=2)[::2] == (Target.PRIMARY, Reason.WRITE)
    assert command(s, Command.STMT_BULK_EXECUTE, stmt_id=2)[0] is Target.PRIMARY
    assert command(s, Command.STMT_EXECUTE, stmt_id=3)[0] is Target.ALL
    assert command(s, Command.STMT_EXECUTE, stmt_id=9)[2] is Reason.UNKNOWN_PREPARED
    s.state = statement_closed(s.state, 1)
    assert command(s, Command.STMT_EXECUTE, stmt_id=1)[2] is Reason.UNKNOWN_PREPARED
    assert statement_closed(s.state, 1) is s.state


def test_binary_execute_in_a_transaction_stays_on_its_server() -> None:
    s = Session()
    s.state = statement_prepared(s.state, 1, classify(b"SELECT * FROM t WHERE id = ?"))
    s.run(b"BEGIN", status=IN_TRANS | AUTOCOMMIT)
    assert command(s, Command.STMT_EXECUTE, stmt_id=1)[::2] == (Target.PRIMARY,
                                                                Reason.READ_WRITE_TRX)


def test_cursor_fetch_goes_to_the_server_holding_the_cursor() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2", ops=3)))
    s.state = statement_prepared(s.state, 1, classify(b"SELECT * FROM t"))
    d = decide_command(Command.STMT_EXECUTE, s.state, s.topo, s.settings, stmt_id=1)
    assert d.server == "r1"
    facts = ResponseFacts("r1", True, AUTOCOMMIT | CURSOR_EXISTS)
    s.state = after_execute(s.state, 1, d, facts, s.settings)
    s.run(b"SELECT 1 -- maxscale route to master")  # the last target moves on
    assert command(s, Command.STMT_FETCH, stmt_id=1) == (Target.SERVER, "r1", Reason.CURSOR)
    # An execute without a cursor forgets it; FETCH then follows the last target.
    s.state = after_execute(s.state, 1, d, ResponseFacts("r1", True, AUTOCOMMIT), s.settings)
    assert command(s, Command.STMT_FETCH, stmt_id=1) == (Target.LAST, "r1", Reason.CURSOR)


def test_long_data_pins_the_execute_to_its_server() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2")))
    s.state = statement_prepared(s.state, 4, classify(b"SELECT * FROM t WHERE b = ?"))
    target, server, reason = command(s, Command.STMT_SEND_LONG_DATA, stmt_id=4)
    assert (target, reason) == (Target.REPLICA, Reason.LONG_DATA)
    assert server is not None
    s.state = long_data_sent(s.state, 4, server)
    for _ in range(10):
        assert command(s, Command.STMT_EXECUTE, stmt_id=4) == (Target.SERVER, server,
                                                               Reason.LONG_DATA)
    d = decide_command(Command.STMT_EXECUTE, s.state, s.topo, s.settings, stmt_id=4)
    s.state = after_execute(s.state, 4, d, ResponseFacts(server, True, AUTOCOMMIT), s.settings)
    assert s.state.ext.statements[4].pinned_server is None
    assert long_data_sent(s.state, 99, "r1") is s.state


def test_change_user_and_reset_connection_forget_the_server_side_session() -> None:
    s = Session(settings=RouterSettings(strict_sp_calls=True))
    s.run(b"USE app")
    s.run(b"CREATE TEMPORARY TABLE tmp (a int)")
    s.run(b"LOCK TABLES t READ")
    s.run(b"PREPARE p FROM 'SELECT 1'")
    s.run(b"SET @x = 1; SELECT 1")
    s.run(b"CALL proc()")
    s.run(b"SELECT 1 -- maxscale begin route to master")
    s.state = statement_prepared(s.state, 1, classify(b"SELECT 1"))
    failed = after_reset(s.state, ResponseFacts("p1", ok=False))
    assert failed is s.state
    s.state = after_reset(s.state, ResponseFacts("p1", True, AUTOCOMMIT), database="Db2")
    ext = s.state.ext
    assert (ext.temp_tables, dict(ext.prepared), dict(ext.statements)) == (frozenset(), {}, {})
    assert ext.database == "db2"
    assert s.state.locks == s.state.locks.SP_CALL  # strict_sp_calls lasts the whole session
    assert len(ext.hint_stack) == 1  # hints are the proxy's, not the server's


def test_init_db_and_other_commands_update_the_state() -> None:
    s = Session()
    d = decide_command(Command.INIT_DB, s.state, s.topo, s.settings)
    s.state = after_init_db(s.state, "Shop", d, ResponseFacts("p1", True, AUTOCOMMIT))
    assert s.state.database == "shop"
    s.state = after_init_db(s.state, "nosuch", d, ResponseFacts("p1", ok=False))
    assert s.state.database == "shop"
    d = decide_command(Command.PING, s.state, s.topo, s.settings)
    s.state = after_command(s.state, d, ResponseFacts("p1", True, IN_TRANS | AUTOCOMMIT))
    assert s.state.in_trx and s.state.last_target == "p1"
