"""Routing rules of issue 4, one by one, with small hand-built topologies."""

from __future__ import annotations

import pytest
from routing_helpers import (
    AUTOCOMMIT,
    IN_TRANS,
    IN_TRANS_READONLY,
    Session,
    primary,
    replica,
    topology,
)

from interlock.routing.decision import Reason, Target
from interlock.routing.session_state import LockReason
from interlock.routing.settings import RouterSettings, UseSqlVariablesIn
from interlock.routing.topology import ServerInfo, ServerRole

RW_TRX = IN_TRANS | AUTOCOMMIT
RO_TRX = IN_TRANS | IN_TRANS_READONLY | AUTOCOMMIT


def where(decision: object) -> tuple[Target, str | None]:
    return decision.target, decision.server  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- basics

def test_write_goes_to_the_primary_by_name() -> None:
    d = Session().route(b"INSERT INTO t VALUES (1)")
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", Reason.WRITE)


def test_read_goes_to_a_replica() -> None:
    d = Session().route(b"SELECT * FROM t")
    assert d.target is Target.REPLICA and d.server in ("r1", "r2") and d.reason is Reason.READ
    assert not d.fallback


def test_without_a_primary_writes_still_say_primary_with_no_server() -> None:
    s = Session(topo=topology(replica("r1"), primary("p1", healthy=False)))
    assert where(s.route(b"UPDATE t SET a = 1")) == (Target.PRIMARY, None)
    assert where(s.route(b"SELECT 1")) == (Target.REPLICA, "r1")


@pytest.mark.parametrize("sql", [b"SELECT 1", b"SHOW TABLES", b"DESCRIBE t", b"EXPLAIN SELECT 1"])
def test_no_usable_replica_reads_go_to_the_primary_visibly(sql: bytes) -> None:
    s = Session(topo=topology(primary(), replica("r1", healthy=False),
                              replica("r2", maintenance=True), replica("r3", draining=True),
                              replica("r4", weight=0)))
    d = s.route(sql)
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", Reason.NO_USABLE_REPLICA)
    assert d.fallback


def test_down_role_and_running_servers_are_not_replicas() -> None:
    s = Session(topo=topology(primary(), ServerInfo("x", ServerRole.RUNNING),
                              ServerInfo("y", ServerRole.DOWN, healthy=False)))
    assert s.route(b"SELECT 1").reason is Reason.NO_USABLE_REPLICA


def test_relay_servers_take_reads() -> None:
    s = Session(topo=topology(primary(), ServerInfo("relay", ServerRole.RELAY)))
    assert where(s.route(b"SELECT 1")) == (Target.REPLICA, "relay")


# ----------------------------------------------------------------------------- replica choice

def test_max_replication_lag_excludes_lagging_and_unknown_replicas() -> None:
    topo = topology(primary(), replica("r1", lag=30), replica("r2", lag=None),
                    replica("r3", lag=2))
    s = Session(topo=topo, settings=RouterSettings(max_replication_lag=5))
    assert {s.route(b"SELECT 1").server for _ in range(20)} == {"r3"}
    s = Session(topo=topo, settings=RouterSettings(max_replication_lag=2))  # must be below
    assert s.route(b"SELECT 1").reason is Reason.NO_USABLE_REPLICA
    s = Session(topo=topo)  # 0: no limit
    assert {s.route(b"SELECT 1").server for _ in range(60)} == {"r1", "r2", "r3"}


def test_least_current_operations_by_default() -> None:
    s = Session(topo=topology(primary(), replica("r1", ops=5), replica("r2", ops=1)))
    assert {s.route(b"SELECT 1").server for _ in range(20)} == {"r2"}


def test_master_accept_reads_makes_the_primary_a_candidate() -> None:
    topo = topology(primary(), replica("r1", ops=3), replica("r2", ops=3))
    d = Session(topo=topo, settings=RouterSettings(master_accept_reads=True)).route(b"SELECT 1")
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", Reason.READ_ON_PRIMARY)
    assert not d.fallback
    d = Session(topo=topo).route(b"SELECT 1")
    assert d.target is Target.REPLICA


def test_master_accept_reads_without_replicas_is_still_a_fallback() -> None:
    s = Session(topo=topology(primary()), settings=RouterSettings(master_accept_reads=True))
    assert s.route(b"SELECT 1").reason is Reason.NO_USABLE_REPLICA


# ----------------------------------------------------------------------------- session commands

@pytest.mark.parametrize(("sql", "reason"), [
    (b"SET NAMES utf8mb4", Reason.SESSION_COMMAND),
    (b"SET autocommit=0", Reason.SESSION_COMMAND),
    (b"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", Reason.SESSION_COMMAND),
    (b"USE db", Reason.SESSION_COMMAND),
    (b"SET @a = 1", Reason.SESSION_COMMAND),
    (b"PREPARE s FROM 'SELECT 1'", Reason.PREPARE),
    (b"DEALLOCATE PREPARE s", Reason.PREPARE),
])
def test_session_commands_go_everywhere(sql: bytes, reason: Reason) -> None:
    d = Session().route(sql)
    assert (d.target, d.server, d.reason) == (Target.ALL, None, reason)


def test_session_commands_go_everywhere_even_in_a_transaction_or_locked() -> None:
    s = Session()
    s.run(b"BEGIN", status=RW_TRX)
    assert s.route(b"SET NAMES utf8").target is Target.ALL
    s.run(b"COMMIT")
    s.run(b"LOCK TABLES t READ")
    assert s.route(b"SET NAMES utf8").target is Target.ALL


def test_a_set_inside_a_multi_statement_locks_the_session_to_the_primary() -> None:
    s = Session()
    d = s.run(b"INSERT INTO t VALUES (1); SET @x = 1")
    assert d.reason is Reason.MULTI_STATEMENT
    assert s.state.locks == LockReason.SESSION_DIVERGED
    d = s.route(b"SELECT 1")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.SESSION_DIVERGED)


def test_use_inside_a_multi_statement_diverges_too() -> None:
    s = Session()
    s.run(b"USE other; SELECT 1")
    assert s.state.database == "other"
    assert s.route(b"SELECT 1").reason is Reason.SESSION_DIVERGED


# ----------------------------------------------------------------------------- transactions

def test_begin_and_everything_in_a_read_write_transaction_go_to_the_primary() -> None:
    s = Session()
    assert s.run(b"BEGIN", status=RW_TRX).reason is Reason.BEGIN
    assert s.state.in_read_write_trx and s.state.trx_target == "p1"
    d = s.run(b"SELECT * FROM t", status=RW_TRX)
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.READ_WRITE_TRX)
    assert s.run(b"COMMIT").target is Target.PRIMARY
    assert not s.state.in_trx and s.state.trx_target is None
    assert s.route(b"SELECT * FROM t").target is Target.REPLICA


@pytest.mark.parametrize("begin", [b"BEGIN", b"BEGIN WORK", b"START TRANSACTION",
                                   b"START TRANSACTION WITH CONSISTENT SNAPSHOT",
                                   b"START TRANSACTION READ WRITE", b"XA START 'x'"])
def test_every_way_to_start_a_read_write_transaction(begin: bytes) -> None:
    s = Session()
    assert s.run(begin, status=RW_TRX).target is Target.PRIMARY
    assert s.route(b"SELECT 1").target is Target.PRIMARY


def test_read_only_transaction_runs_on_one_replica_to_the_end() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2", ops=9)))
    d = s.run(b"START TRANSACTION READ ONLY", status=RO_TRX)
    assert (d.target, d.server, d.reason) == (Target.REPLICA, "r1", Reason.BEGIN_READ_ONLY)
    assert s.state.in_read_only_trx and s.state.trx_target == "r1"
    for sql in (b"SELECT * FROM t", b"SELECT * FROM u FOR UPDATE", b"SELECT LAST_INSERT_ID()"):
        d = s.run(sql, status=RO_TRX)
        assert (d.target, d.server, d.reason) == (Target.SERVER, "r1", Reason.READ_ONLY_TRX)
    d = s.run(b"COMMIT")
    assert (d.target, d.server) == (Target.SERVER, "r1")
    assert s.state.trx_target is None
    assert s.route(b"SELECT 1").target is Target.REPLICA


def test_a_write_in_a_read_only_transaction_goes_where_the_transaction_is() -> None:
    s = Session(topo=topology(primary(), replica("r1")))
    s.run(b"START TRANSACTION READ ONLY", status=RO_TRX)
    assert where(s.route(b"INSERT INTO t VALUES (1)")) == (Target.SERVER, "r1")  # server: 1792


def test_read_only_transaction_without_replicas_runs_on_the_primary() -> None:
    s = Session(topo=topology(primary()))
    d = s.run(b"START TRANSACTION READ ONLY", status=RO_TRX)
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.NO_USABLE_REPLICA)
    d = s.route(b"SELECT 1")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.READ_ONLY_TRX)


def test_set_transaction_read_only_goes_to_the_primary_and_so_does_its_transaction() -> None:
    s = Session()
    assert s.run(b"SET TRANSACTION READ ONLY").reason is Reason.NEXT_TRX
    assert s.run(b"START TRANSACTION", status=RO_TRX).target is Target.PRIMARY
    d = s.route(b"SELECT 1")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.READ_ONLY_TRX)


def test_begin_read_only_inside_a_transaction_commits_it_where_it_runs() -> None:
    s = Session()
    s.run(b"BEGIN", status=RW_TRX)
    assert s.route(b"START TRANSACTION READ ONLY").target is Target.PRIMARY


def test_autocommit_off_sends_everything_but_session_commands_to_the_primary() -> None:
    s = Session()
    s.run(b"SET autocommit=0", status=0)
    assert not s.state.autocommit
    d = s.run(b"SELECT * FROM t", status=0)  # MariaDB does not flag IN_TRANS for this read
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.AUTOCOMMIT_OFF)
    assert s.route(b"SET NAMES utf8").target is Target.ALL
    s.run(b"SET autocommit=1")
    assert s.route(b"SELECT * FROM t").target is Target.REPLICA


def test_transaction_state_comes_from_the_status_flags_not_the_text() -> None:
    s = Session()
    # An ORM that opened a transaction the classifier never saw (e.g. via a driver call).
    s.run(b"INSERT INTO t VALUES (1)", status=RW_TRX)
    assert s.state.in_trx and s.state.trx_target == "p1"
    assert s.route(b"SELECT 1").reason is Reason.READ_WRITE_TRX
    # A DDL's implicit commit ends it, as the server reports.
    s.run(b"CREATE TABLE x (a int)", status=AUTOCOMMIT)
    assert not s.state.in_trx
    assert s.route(b"SELECT 1").target is Target.REPLICA


def test_an_error_keeps_the_previous_transaction_state() -> None:
    s = Session()
    s.run(b"BEGIN", status=RW_TRX)
    s.run(b"INSERT INTO t VALUES (1)", ok=False)  # ERR packets carry no status flags
    assert s.state.in_trx
    assert s.route(b"SELECT 1").target is Target.PRIMARY


def test_commit_and_chain_keeps_the_transaction() -> None:
    s = Session()
    s.run(b"BEGIN", status=RW_TRX)
    s.run(b"COMMIT AND CHAIN", status=RW_TRX)
    assert s.route(b"SELECT 1").reason is Reason.READ_WRITE_TRX


# ----------------------------------------------------------------------------- locks

@pytest.mark.parametrize(("lock", "unlock"), [
    (b"LOCK TABLES t READ", b"UNLOCK TABLES"),
    (b"FLUSH TABLES WITH READ LOCK", b"UNLOCK TABLES"),
    (b"BACKUP LOCK t", b"BACKUP UNLOCK"),
])
def test_lock_tables_keeps_everything_on_the_primary_until_unlock(lock: bytes,
                                                                  unlock: bytes) -> None:
    s = Session()
    assert s.run(lock).target is Target.PRIMARY
    d = s.route(b"SELECT * FROM t")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.LOCK_TABLES)
    assert s.run(unlock).target is Target.PRIMARY
    assert s.route(b"SELECT * FROM t").target is Target.REPLICA


def test_a_failed_lock_tables_locks_nothing() -> None:
    s = Session()
    s.run(b"LOCK TABLES nosuch READ", ok=False)
    assert s.route(b"SELECT 1").target is Target.REPLICA


def test_xa_keeps_the_session_on_the_primary_until_commit_or_rollback() -> None:
    s = Session()
    s.run(b"XA START 'x'", status=RW_TRX)
    s.run(b"XA END 'x'", status=RW_TRX)
    s.run(b"XA PREPARE 'x'", status=RW_TRX)
    assert s.state.locks == LockReason.XA
    assert s.route(b"SELECT 1").target is Target.PRIMARY
    s.run(b"XA COMMIT 'x'")
    assert s.state.locks == LockReason.NONE
    assert s.route(b"SELECT 1").target is Target.REPLICA


@pytest.mark.parametrize("strict", [False, True])
def test_multi_statements_and_strict_multi_stmt(strict: bool) -> None:
    s = Session(settings=RouterSettings(strict_multi_stmt=strict))
    d = s.run(b"SELECT 1; SELECT 2")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.MULTI_STATEMENT)
    d = s.route(b"SELECT 1")
    if strict:
        assert (d.target, d.reason) == (Target.PRIMARY, Reason.STRICT_MULTI_STMT)
    else:
        assert d.target is Target.REPLICA


@pytest.mark.parametrize("strict", [False, True])
def test_call_and_strict_sp_calls(strict: bool) -> None:
    s = Session(settings=RouterSettings(strict_sp_calls=strict))
    d = s.run(b"CALL p()")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.CALL)
    d = s.route(b"SELECT 1")
    assert d.target is (Target.PRIMARY if strict else Target.REPLICA)
    if strict:
        assert d.reason is Reason.STRICT_SP_CALLS


# ----------------------------------------------------------------------------- temporary tables

def test_reads_of_a_temporary_table_go_to_the_primary_until_it_is_dropped() -> None:
    s = Session()
    s.run(b"USE app")
    s.run(b"CREATE TEMPORARY TABLE tmp (a int)")
    assert s.state.temp_tables == frozenset({"app.tmp"})
    for sql in (b"SELECT * FROM tmp", b"SELECT * FROM app.tmp", b"SELECT * FROM TMP",
                b"SELECT * FROM t JOIN tmp ON t.a = tmp.a", b"SELECT * FROM `tmp`"):
        d = s.route(sql)
        assert (d.target, d.reason) == (Target.PRIMARY, Reason.TEMPORARY_TABLE), sql
    assert s.route(b"SELECT * FROM other.tmp").target is Target.REPLICA
    assert s.route(b"SELECT * FROM t").target is Target.REPLICA
    s.run(b"USE other")
    assert s.route(b"SELECT * FROM tmp").target is Target.REPLICA  # other.tmp: not ours
    assert s.route(b"SELECT * FROM app.tmp").target is Target.PRIMARY
    s.run(b"DROP TABLE app.tmp")
    assert s.state.temp_tables == frozenset()
    assert s.route(b"SELECT * FROM app.tmp").target is Target.REPLICA


def test_temporary_table_created_inside_a_multi_statement_is_tracked() -> None:
    s = Session()
    s.run(b"CREATE TEMPORARY TABLE tmp (a int); INSERT INTO tmp VALUES (1)")
    assert s.route(b"SELECT * FROM tmp").reason is Reason.TEMPORARY_TABLE


def test_database_from_session_tracking_qualifies_temporary_tables() -> None:
    s = Session()
    s.run(b"SELECT 1", database="App")  # e.g. a schema change reported by the server
    assert s.state.database == "app"
    s.run(b"CREATE TEMPORARY TABLE tmp (a int)")
    assert s.state.temp_tables == frozenset({"app.tmp"})


# ----------------------------------------------------------------------------- user variables

def test_reads_using_user_variables_follow_use_sql_variables_in() -> None:
    assert Session().route(b"SELECT @a").target is Target.REPLICA
    s = Session(settings=RouterSettings(use_sql_variables_in=UseSqlVariablesIn.MASTER))
    d = s.route(b"SELECT * FROM t WHERE id = @a")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.USER_VARIABLES)


def test_reads_assigning_user_variables() -> None:
    d = Session().route(b"SELECT @a := MAX(id) FROM t")
    assert (d.target, d.reason) == (Target.ALL, Reason.USER_VARIABLE_ASSIGNMENT)
    s = Session(settings=RouterSettings(use_sql_variables_in=UseSqlVariablesIn.MASTER))
    assert s.route(b"SELECT @a := MAX(id) FROM t").target is Target.PRIMARY
    assert s.route(b"SET @a = 1").target is Target.ALL  # SET always goes everywhere


def test_a_variable_set_on_the_primary_only_keeps_variable_reads_there() -> None:
    s = Session()
    s.run(b"UPDATE t SET c = (@v := c + 1) WHERE id = 1")
    assert s.state.ext.user_vars_on_primary
    d = s.route(b"SELECT @v")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.USER_VARIABLES)
    assert s.route(b"SELECT 1").target is Target.REPLICA


def test_assignment_in_a_read_that_must_stay_on_the_primary() -> None:
    s = Session()
    d = s.run(b"SELECT @id := LAST_INSERT_ID()")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.MASTER_ONLY_FUNCTION)
    assert s.route(b"SELECT @id").target is Target.PRIMARY


# ----------------------------------------------------------------------------- read features

@pytest.mark.parametrize(("sql", "reason"), [
    (b"SELECT * FROM t FOR UPDATE", Reason.LOCKING_READ),
    (b"SELECT * FROM t LOCK IN SHARE MODE", Reason.LOCKING_READ),
    (b"SELECT * FROM t INTO OUTFILE '/tmp/x'", Reason.SELECT_INTO),
    (b"SELECT GET_LOCK('x', 1)", Reason.MASTER_ONLY_FUNCTION),
    (b"SELECT LAST_INSERT_ID()", Reason.MASTER_ONLY_FUNCTION),
    (b"SELECT NEXT VALUE FOR s", Reason.MASTER_ONLY_FUNCTION),
    (b"SELECT @@identity", Reason.MASTER_ONLY_FUNCTION),
    (b"SHOW MASTER STATUS", Reason.PRIMARY_ONLY_READ),
    (b"EXPLAIN UPDATE t SET a = 1", Reason.WRITE),
    (b"LOAD DATA LOCAL INFILE 'x' INTO TABLE t", Reason.LOAD_DATA_LOCAL),
    (b"HANDLER t OPEN", Reason.HANDLER),
    (b"XA RECOVER", Reason.XA),
    (b"FOO", Reason.UNKNOWN),
    (b"", Reason.UNKNOWN),
    (b"SAVEPOINT a", Reason.SAVEPOINT),
])
def test_primary_reasons(sql: bytes, reason: Reason) -> None:
    d = Session().route(sql)
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", reason)


def test_found_rows_goes_where_the_previous_statement_ran() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2", ops=5)))
    s.run(b"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1")
    assert s.state.last_target == "r1"
    for sql in (b"SELECT FOUND_ROWS()", b"SHOW WARNINGS", b"SELECT @@warning_count"):
        d = s.route(sql)
        assert (d.target, d.server, d.reason) == (Target.LAST, "r1", Reason.PREVIOUS_TARGET)


def test_found_rows_with_its_server_gone_goes_to_the_primary() -> None:
    s = Session(topo=topology(primary(), replica("r1")))
    s.run(b"SELECT * FROM t")
    s.topo = topology(primary(), replica("r1", healthy=False), replica("r2"))
    d = s.route(b"SELECT FOUND_ROWS()")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.PREVIOUS_TARGET)


# ----------------------------------------------------------------------------- text prepared

def test_execute_is_routed_by_the_prepared_statement() -> None:
    s = Session()
    assert s.run(b"PREPARE r FROM 'SELECT * FROM t WHERE id = ?'").target is Target.ALL
    assert s.run(b"PREPARE w FROM 'UPDATE t SET a = ?'").target is Target.ALL
    assert s.run(b"PREPARE v FROM 'SET @x = ?'").target is Target.ALL
    assert s.route(b"EXECUTE r USING @id").target is Target.REPLICA
    assert s.route(b"EXECUTE R").target is Target.REPLICA  # names are case-insensitive
    assert s.route(b"EXECUTE w USING @a").reason is Reason.WRITE
    assert s.route(b"EXECUTE v USING @a").target is Target.ALL
    s.run(b"DEALLOCATE PREPARE r")
    assert s.route(b"EXECUTE r").reason is Reason.UNKNOWN_PREPARED


def test_execute_of_text_from_a_variable_goes_to_the_primary() -> None:
    s = Session()
    s.run(b"PREPARE d FROM @sql")
    assert s.route(b"EXECUTE d").reason is Reason.UNKNOWN_PREPARED


def test_hints_on_prepare_do_not_carry_over_to_execute() -> None:
    s = Session()
    s.run(b"PREPARE r FROM 'SELECT 1 -- maxscale route to master'")
    assert s.route(b"EXECUTE r").target is Target.REPLICA
    assert s.route(b"EXECUTE r -- maxscale route to master").target is Target.PRIMARY


def test_a_failed_prepare_is_not_remembered() -> None:
    s = Session()
    s.run(b"PREPARE r FROM 'SELECT * FROM nosuch'", ok=False)
    assert s.route(b"EXECUTE r").reason is Reason.UNKNOWN_PREPARED


def test_a_session_command_answered_by_the_primary_does_not_end_a_replica_transaction() -> None:
    s = Session(topo=topology(primary(), replica("r1")))
    s.run(b"START TRANSACTION READ ONLY", status=RO_TRX)
    s.run(b"SET NAMES utf8", status=AUTOCOMMIT)  # the primary's answer: no transaction there
    assert s.state.in_read_only_trx and s.state.trx_target == "r1"
    assert where(s.route(b"SELECT 1")) == (Target.SERVER, "r1")


def test_the_transaction_server_s_status_for_a_session_command_is_used_when_given() -> None:
    from interlock.routing.session_state import ResponseFacts, after_query
    from interlock.sql.classifier import classify

    s = Session(topo=topology(primary(), replica("r1")))
    s.run(b"START TRANSACTION READ ONLY", status=RO_TRX)
    c = classify(b"SET autocommit=1")  # commits the transaction on every backend
    d = s.route(b"SET autocommit=1")
    facts = ResponseFacts("p1", True, AUTOCOMMIT, trx_server_status=AUTOCOMMIT)
    s.state = after_query(s.state, c, d, facts, s.settings)
    assert not s.state.in_trx and s.state.trx_target is None


def test_a_hinted_read_inside_a_transaction_does_not_end_it() -> None:
    s = Session()
    s.run(b"BEGIN", status=RW_TRX)
    d = s.run(b"SELECT 1 -- maxscale route to slave", status=AUTOCOMMIT)  # a replica answers
    assert d.target is Target.REPLICA
    assert s.state.in_read_write_trx and s.state.trx_target == "p1"
    assert s.route(b"SELECT 2").reason is Reason.READ_WRITE_TRX
