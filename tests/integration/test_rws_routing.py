"""readwritesplit against the sandbox: which server ran each statement (``@@server_id``; the
primary is 1, the replicas 2 and 3), for every routing rule of issue 4."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import _stop_proxy
from tests.integration.rws_helpers import (
    PRIMARY_ID,
    connect,
    replica_ids,
    server_of,
    session,
    start_rws,
    wait_replicated,
)

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rws(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    sandbox.sql(sandbox.primary, "CREATE TABLE IF NOT EXISTS app.rws (id INT PRIMARY KEY,"
                " v VARCHAR(20))")
    sandbox.sql(sandbox.primary, "REPLACE INTO app.rws VALUES (1, 'one'), (2, 'two')")
    wait_replicated(sandbox)
    handle = start_rws(sandbox, tmp_path_factory.mktemp("rws"))
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@pytest.fixture
def cur(sandbox: Sandbox, rws: ProxyHandle) -> Iterator[Any]:
    with session(sandbox, rws) as cursor:
        yield cursor


# -- reads and writes ------------------------------------------------------------------------

def test_plain_reads_go_to_replicas(cur: Any, sandbox: Sandbox) -> None:
    seen = {server_of(cur) for _ in range(20)}
    assert seen <= replica_ids(sandbox)
    assert PRIMARY_ID not in seen


def test_reads_spread_over_both_replicas(sandbox: Sandbox, rws: ProxyHandle) -> None:
    seen: set[int] = set()
    for _ in range(10):
        with session(sandbox, rws) as cur:
            seen |= {server_of(cur) for _ in range(5)}
    assert seen == replica_ids(sandbox)


@pytest.mark.parametrize("sql", [
    "SHOW VARIABLES LIKE 'server_id'",
])
def test_show_goes_to_a_replica(cur: Any, sql: str, sandbox: Sandbox) -> None:
    cur.execute(sql)
    assert int(cur.fetchone()[1]) in replica_ids(sandbox)


def test_writes_go_to_the_primary(cur: Any, sandbox: Sandbox) -> None:
    cur.execute("REPLACE INTO rws VALUES (10, @@server_id)")
    cur.execute("UPDATE rws SET v = CONCAT(v, '/', @@server_id) WHERE id = 10")
    direct = sandbox.connect(database="app")
    try:
        with direct.cursor() as check:
            check.execute("SELECT v FROM rws WHERE id = 10")
            assert check.fetchone() == ("1/1",)
    finally:
        direct.close()


@pytest.mark.parametrize("sql", [
    "SELECT @@server_id FROM rws WHERE id = 1 FOR UPDATE",
    "SELECT @@server_id FROM rws WHERE id = 1 LOCK IN SHARE MODE",
    "SELECT @@server_id, GET_LOCK('rws', 0), RELEASE_LOCK('rws')",
    "SELECT @@server_id, LAST_INSERT_ID()",
    "SELECT @@server_id, FOUND_ROWS()",
    "SELECT @@server_id, ROW_COUNT()",
    "SELECT @@server_id, @@identity",
    "SELECT @@server_id, @v := 1 FROM DUAL WHERE 0 = 1 UNION SELECT @@server_id, 2",
    "SELECT @@server_id FROM rws WHERE id = 1 INTO @into_var",
])
def test_primary_only_reads(cur: Any, sql: str) -> None:
    cur.execute(sql)
    rows = cur.fetchall()
    if "INTO @into_var" in sql:
        cur.execute("SELECT @into_var")
        rows = cur.fetchall()
    assert rows and int(rows[0][0]) == PRIMARY_ID, sql


def test_sequence_functions_go_to_the_primary(cur: Any) -> None:
    cur.execute("CREATE SEQUENCE IF NOT EXISTS rws_seq")
    assert server_of(cur, "SELECT @@server_id, NEXTVAL(rws_seq)") == PRIMARY_ID
    assert server_of(cur, "SELECT @@server_id, LASTVAL(rws_seq)") == PRIMARY_ID


def test_call_goes_to_the_primary(cur: Any) -> None:
    cur.execute("CREATE PROCEDURE IF NOT EXISTS rws_where() SELECT @@server_id")
    cur.execute("CALL rws_where()")
    assert cur.fetchone() == (PRIMARY_ID,)
    cur.nextset()


def test_multi_statements_go_to_the_primary(sandbox: Sandbox, rws: ProxyHandle) -> None:
    with session(sandbox, rws, multi=True) as cur:
        cur.execute("SELECT @@server_id; SELECT @@server_id")
        assert cur.fetchone() == (PRIMARY_ID,)
        assert cur.nextset()
        assert cur.fetchone() == (PRIMARY_ID,)
        assert server_of(cur) != PRIMARY_ID  # only that packet


def test_handler_goes_to_the_primary(cur: Any) -> None:
    cur.execute("HANDLER rws OPEN")
    cur.execute("HANDLER rws READ `PRIMARY` FIRST")
    assert cur.fetchone()[0] == 1
    cur.execute("HANDLER rws CLOSE")
    assert server_of(cur, "SELECT @@server_id, 'after handler'") != PRIMARY_ID


# -- transactions ----------------------------------------------------------------------------

@pytest.mark.parametrize("begin", [
    "BEGIN", "START TRANSACTION", "START TRANSACTION WITH CONSISTENT SNAPSHOT",
    "START TRANSACTION READ WRITE",
])
def test_read_write_transaction_stays_on_the_primary(cur: Any, begin: str) -> None:
    cur.execute(begin)
    assert server_of(cur) == PRIMARY_ID
    assert server_of(cur, "SELECT @@server_id FROM rws WHERE id = 1") == PRIMARY_ID
    cur.execute("COMMIT")
    assert server_of(cur) != PRIMARY_ID


def test_rollback_ends_the_transaction(cur: Any) -> None:
    cur.execute("BEGIN")
    assert server_of(cur) == PRIMARY_ID
    cur.execute("ROLLBACK")
    assert server_of(cur) != PRIMARY_ID


def test_read_only_transaction_runs_on_one_replica(cur: Any, sandbox: Sandbox) -> None:
    cur.execute("START TRANSACTION READ ONLY")
    first = server_of(cur)
    assert first in replica_ids(sandbox)
    assert {server_of(cur) for _ in range(10)} == {first}
    cur.execute("COMMIT")


def test_autocommit_off_keeps_everything_on_the_primary(cur: Any) -> None:
    cur.execute("SET autocommit=0")
    assert server_of(cur) == PRIMARY_ID
    cur.execute("COMMIT")
    assert server_of(cur) == PRIMARY_ID  # the next statement opens a transaction
    cur.execute("SET autocommit=1")
    assert server_of(cur) != PRIMARY_ID


def test_implicit_transaction_from_status_flags(sandbox: Sandbox, rws: ProxyHandle) -> None:
    conn = connect(sandbox, rws)
    try:
        conn.autocommit(False)  # what ORMs do: SET autocommit=0, then statements
        with conn.cursor() as cur:
            cur.execute("SELECT @@server_id")
            assert cur.fetchone() == (PRIMARY_ID,)
            cur.execute("UPDATE rws SET v = 'two' WHERE id = 2")
            assert server_of(cur) == PRIMARY_ID
        conn.commit()
    finally:
        conn.close()


def test_xa_transaction_on_the_primary(cur: Any) -> None:
    cur.execute("XA START 'rws1'")
    assert server_of(cur) == PRIMARY_ID
    cur.execute("UPDATE rws SET v = 'one' WHERE id = 1")
    cur.execute("XA END 'rws1'")
    assert server_of(cur) == PRIMARY_ID
    cur.execute("XA PREPARE 'rws1'")
    cur.execute("XA COMMIT 'rws1'")
    assert server_of(cur) != PRIMARY_ID


# -- locks, temporary tables, user variables ---------------------------------------------------

def test_lock_tables_until_unlock(cur: Any) -> None:
    cur.execute("LOCK TABLES rws READ")
    assert server_of(cur) == PRIMARY_ID
    assert server_of(cur, "SELECT @@server_id FROM rws LIMIT 1") == PRIMARY_ID
    cur.execute("UNLOCK TABLES")
    assert server_of(cur) != PRIMARY_ID


def test_temporary_table_reads_on_the_primary(cur: Any) -> None:
    cur.execute("CREATE TEMPORARY TABLE rws_tmp (x INT)")
    cur.execute("INSERT INTO rws_tmp VALUES (7)")
    assert server_of(cur, "SELECT @@server_id, x FROM rws_tmp") == PRIMARY_ID
    assert server_of(cur, "SELECT @@server_id, x FROM app.rws_tmp") == PRIMARY_ID
    assert server_of(cur, "SELECT @@server_id FROM rws LIMIT 1") != PRIMARY_ID
    cur.execute("DROP TEMPORARY TABLE rws_tmp")
    assert server_of(cur, "SELECT @@server_id FROM rws LIMIT 1") != PRIMARY_ID


def test_user_variable_assignment_everywhere_reads_on_replicas(cur: Any) -> None:
    cur.execute("SET @who = 'me'")
    for _ in range(6):  # whichever replica takes the read has the variable
        cur.execute("SELECT @@server_id, @who")
        server, value = cur.fetchone()
        assert value == "me"
        assert int(server) != PRIMARY_ID
    cur.execute("SELECT @@server_id, @x := 5")
    assert cur.fetchone() == (PRIMARY_ID, 5)  # the primary's answer is relayed
    for _ in range(6):
        cur.execute("SELECT @@server_id, @x")
        server, value = cur.fetchone()
        assert value == 5 and int(server) != PRIMARY_ID


def test_use_sql_variables_in_master(sandbox: Sandbox,
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    handle = start_rws(sandbox, tmp_path_factory.mktemp("rws_vars"),
                       use_sql_variables_in="master")
    try:
        with session(sandbox, handle) as cur:
            cur.execute("SET @who = 'me'")
            assert server_of(cur, "SELECT @@server_id, @who") == PRIMARY_ID
            assert server_of(cur) != PRIMARY_ID
    finally:
        _stop_proxy(handle)


# -- hints -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["interlock", "maxscale"])
def test_hints(cur: Any, prefix: str, sandbox: Sandbox) -> None:
    sql = f"SELECT @@server_id -- {prefix} route to master"
    assert server_of(cur, sql) == PRIMARY_ID
    assert server_of(cur, f"SELECT @@server_id /* {prefix} route to master */") == PRIMARY_ID
    sql = f"SELECT @@server_id -- {prefix} route to slave"
    assert server_of(cur, sql) in replica_ids(sandbox)
    replica = sandbox.replicas[1]
    sql = f"SELECT @@server_id -- {prefix} route to server {replica.name}"
    assert server_of(cur, sql) == 3
    sql = f"SELECT @@server_id -- {prefix} route to server {sandbox.primary.name}"
    assert server_of(cur, sql) == PRIMARY_ID


# -- session commands ------------------------------------------------------------------------

def _everywhere(sandbox: Sandbox, cur: Any, sql: str) -> set[tuple[Any, ...]]:
    """Run ``sql`` on every server of the session through hints: the set of distinct rows."""
    rows = set()
    for server in sandbox.servers:
        cur.execute(f"{sql} -- interlock route to server {server.name}")
        rows.add(tuple(cur.fetchone()))
    return rows


def test_session_state_is_the_same_on_every_backend(cur: Any, sandbox: Sandbox) -> None:
    cur.execute("SET NAMES latin1")
    cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
    cur.execute("SET time_zone = '+03:00'")
    cur.execute("USE test")
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    state = ("SELECT @@character_set_client, @@sql_mode, @@time_zone, DATABASE(),"
             " @@tx_isolation")
    assert _everywhere(sandbox, cur, state) == {
        ("latin1", "ANSI_QUOTES", "+03:00", "test", "SERIALIZABLE")}


def test_init_db_runs_everywhere(sandbox: Sandbox, rws: ProxyHandle) -> None:
    conn = connect(sandbox, rws)
    try:
        conn.select_db("test")  # COM_INIT_DB
        with conn.cursor() as cur:
            assert _everywhere(sandbox, cur, "SELECT DATABASE()") == {("test",)}
    finally:
        conn.close()


def test_lazy_connect_replays_the_history(sandbox: Sandbox,
                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    handle = start_rws(sandbox, tmp_path_factory.mktemp("rws_lazy"), lazy_connect="true")
    try:
        with session(sandbox, handle) as cur:
            cur.execute("SET NAMES latin1")
            cur.execute("USE test")
            cur.execute("SET @lazy = 42")
            cur.execute("SET time_zone = '-02:00'")
            state = "SELECT @@character_set_client, DATABASE(), @lazy, @@time_zone"
            assert _everywhere(sandbox, cur, state) == {("latin1", "test", 42, "-02:00")}
            cur.execute("SELECT COUNT(*) FROM information_schema.processlist"
                        " WHERE user = 'app'")
    finally:
        _stop_proxy(handle)


def test_failing_session_command_keeps_backends_agreeing(cur: Any, sandbox: Sandbox) -> None:
    with pytest.raises(Exception, match="Unknown system variable"):
        cur.execute("SET no_such_variable = 1")
    assert server_of(cur) in replica_ids(sandbox)  # every backend failed alike: none dropped
    assert len(_everywhere(sandbox, cur, "SELECT 1")) == 1


@pytest.mark.parametrize("driver", ["pymysql", "connector"])
def test_show_warnings_follows_the_statement(sandbox: Sandbox, rws: ProxyHandle,
                                             driver: str) -> None:
    if driver == "pymysql":
        conn = connect(sandbox, rws)
    else:
        import mysql.connector

        params = sandbox.proxy_params(port=rws.port).with_(host=rws.host)
        conn = mysql.connector.connect(host=params.host, port=params.port, user=params.user,
                                       password=params.password, database=params.database,
                                       use_pure=True)
    try:
        cur = conn.cursor()
        for _ in range(4):
            cur.execute("SELECT 1/0, CAST('12abc' AS SIGNED)")
            cur.fetchall()
            cur.execute("SHOW WARNINGS")
            assert len(cur.fetchall()) == 2
    finally:
        conn.close()
