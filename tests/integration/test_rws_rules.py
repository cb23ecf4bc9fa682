"""More readwritesplit rules against the sandbox (``@@server_id``: primary 1, replicas 2 and 3):
a replica that answers a session command otherwise than the primary is dropped while the
session goes on; ``max_replication_lag`` and ``slave_selection_criteria`` with a replica that
really lags (``MASTER_DELAY``, seen by the monitor); the MariaDB spellings of the sequence
functions; ``SET SESSION TRANSACTION READ ONLY`` then ``START TRANSACTION``; prepared
statements (binary protocol) routed by their kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import _stop_proxy
from tests.integration.rawclient import (
    RawClient,
    error_of,
    execute_payload,
    is_err,
    prepare_ok,
    stmt_id_payload,
)
from tests.integration.rws_helpers import (
    PRIMARY_ID,
    counter,
    eventually,
    replica_ids,
    server_of,
    session,
    start_rws,
    wait_replicated,
)

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle
from interlock.server.pstmt import LAST_PREPARED
from interlock.wire.constants import Command
from interlock.wire.framing import Packet

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rws(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    sandbox.sql(sandbox.primary, "CREATE TABLE IF NOT EXISTS app.rules (id INT PRIMARY KEY,"
                " v INT)")
    sandbox.sql(sandbox.primary, "REPLACE INTO app.rules VALUES (1, 10), (2, 20)")
    wait_replicated(sandbox)
    handle = start_rws(sandbox, tmp_path_factory.mktemp("rules"), monitor=False)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


# -- a replica that answers a session command differently is dropped ---------------------------

@pytest.fixture
def unreplicated_table(sandbox: Sandbox) -> Iterator[str]:
    """``app.only_some`` on the primary and the second replica (server 3), not on the first
    (server 2): created with ``sql_log_bin=0``, as a table written outside replication is."""
    name = "only_some"
    create = (f"SET sql_log_bin=0; CREATE TABLE app.{name} (x INT);"
              f" INSERT INTO app.{name} VALUES (7)")
    sandbox.sql(sandbox.primary, create)
    sandbox.sql(sandbox.replicas[1], create)
    try:
        yield name
    finally:
        for server in (sandbox.primary, sandbox.replicas[1]):
            sandbox.sql(server, f"SET sql_log_bin=0; DROP TABLE IF EXISTS app.{name}")


def test_a_replica_failing_a_session_command_is_dropped(
        sandbox: Sandbox, rws: ProxyHandle, unreplicated_table: str) -> None:
    with session(sandbox, rws) as cur:
        assert {server_of(cur) for _ in range(12)} == replica_ids(sandbox)  # both in use
        # OK on the primary and on server 3; "Table doesn't exist" on server 2
        cur.execute(f"SET @n = (SELECT x FROM {unreplicated_table})")
        seen = set()
        for _ in range(12):
            cur.execute("SELECT @@server_id, @n")
            server, value = cur.fetchone()
            seen.add(int(server))
            assert value == 7  # every server left in the session has the variable
        assert seen == {3}
        cur.execute("REPLACE INTO rules VALUES (3, 30)")  # the session keeps working
        assert server_of(cur, "SELECT @@server_id, v FROM rules WHERE id = 1") == 3
    assert f"dropping server '{sandbox.replicas[0].name}' from the session" in rws.log_text()


def test_replicas_succeeding_where_the_primary_failed_are_dropped(
        sandbox: Sandbox, rws: ProxyHandle) -> None:
    """The reverse: the table exists on the replicas only (written there without binlogging,
    so replication is not disturbed); the primary's error is what the
    client sees, the replicas (which now hold a variable the primary has not) are dropped and
    the session goes on, on the primary."""
    name = "only_replicas"
    for replica in sandbox.replicas:
        sandbox.sql(replica, f"SET sql_log_bin=0; CREATE TABLE app.{name} (x INT);"
                             f" INSERT INTO app.{name} VALUES (1)")
    try:
        with session(sandbox, rws) as cur:
            with pytest.raises(Exception, match="doesn't exist"):
                cur.execute(f"SET @m = (SELECT x FROM {name})")
            for _ in range(6):
                cur.execute("SELECT @@server_id, @m")
                assert cur.fetchone() == (PRIMARY_ID, None)
    finally:
        for replica in sandbox.replicas:
            sandbox.sql(replica, f"SET sql_log_bin=0; DROP TABLE IF EXISTS app.{name}")


# -- more statement kinds ------------------------------------------------------------------------

def test_mariadb_sequence_spellings_go_to_the_primary(sandbox: Sandbox, rws: ProxyHandle) -> None:
    with session(sandbox, rws) as cur:
        cur.execute("CREATE SEQUENCE IF NOT EXISTS rules_seq")
        assert server_of(cur, "SELECT @@server_id, NEXT VALUE FOR rules_seq") == PRIMARY_ID
        assert server_of(cur, "SELECT @@server_id, PREVIOUS VALUE FOR rules_seq") == PRIMARY_ID
        assert server_of(cur, "SELECT @@server_id, SETVAL(rules_seq, 100)") == PRIMARY_ID
        assert server_of(cur, "SELECT @@server_id, @@last_insert_id") == PRIMARY_ID


def test_read_only_session_transaction_runs_on_the_primary(sandbox: Sandbox,
                                                          rws: ProxyHandle) -> None:
    """``SET SESSION TRANSACTION READ ONLY`` runs everywhere; a later ``START TRANSACTION``
    cannot be known read-only from its text, so it goes to the primary and the transaction
    stays there (the server's read-only flag is then seen, the write inside fails)."""
    with session(sandbox, rws) as cur:
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        for server in sandbox.servers:
            cur.execute(f"SELECT @@tx_read_only -- interlock route to server {server.name}")
            assert cur.fetchone() == (1,)
        cur.execute("START TRANSACTION")
        assert {server_of(cur) for _ in range(4)} == {PRIMARY_ID}
        with pytest.raises(Exception, match="READ ONLY"):
            cur.execute("UPDATE rules SET v = v WHERE id = 1")
        cur.execute("COMMIT")
        cur.execute("SET SESSION TRANSACTION READ WRITE")
        assert server_of(cur) != PRIMARY_ID


def _binary_connection(sandbox: Sandbox, handle: ProxyHandle, port: int | None = None,
                       host: str | None = None) -> Any:
    """A MariaDB Connector/Python connection through ``handle`` (or to ``host:port``)."""
    import mariadb  # type: ignore[import-not-found]

    params = sandbox.proxy_params(port=handle.port).with_(host=handle.host)
    conn = mariadb.connect(host=host or params.host, port=port or params.port, user=params.user,
                           password=params.password, database=params.database)
    conn.autocommit = True
    return conn


@pytest.mark.parametrize("sql", [
    "SELECT @@server_id, v FROM rules WHERE id = ? FOR UPDATE",
    "SELECT @@server_id, LAST_INSERT_ID() FROM rules WHERE id = ?",
])
def test_prepared_statements_routed_by_kind(sandbox: Sandbox, rws: ProxyHandle, sql: str) -> None:
    """Binary protocol (``cursor(binary=True)``: COM_STMT_PREPARE, COM_STMT_EXECUTE): the
    statement on the primary; a plain read, executed 8 times, on the replicas only (their
    ``Com_stmt_execute`` counters took all 8)."""
    conn = _binary_connection(sandbox, rws)
    try:
        cur = conn.cursor(binary=True)
        cur.execute(sql, (1,))
        assert int(cur.fetchone()[0]) == PRIMARY_ID
        replicas = [server.name for server in sandbox.replicas]
        before = sum(counter(sandbox, name, "Com_stmt_execute") for name in replicas)
        seen = set()
        for _ in range(8):
            cur.execute("SELECT @@server_id, v FROM rules WHERE id = ?", (1,))
            seen.add(int(cur.fetchone()[0]))
        assert seen <= replica_ids(sandbox)
        assert sum(counter(sandbox, name, "Com_stmt_execute") for name in replicas) == before + 8
    finally:
        conn.close()


@pytest.mark.parametrize("sql", [
    "SELECT @@server_id, v FROM rules WHERE id = ? FOR UPDATE",
    "SELECT @@server_id, LAST_INSERT_ID() FROM rules WHERE id = ?",
])
def test_prepared_statement_after_another_on_one_cursor(sandbox: Sandbox, rws: ProxyHandle,
                                                        sql: str) -> None:
    """A binary cursor prepares each statement: Connector/C pipelines COM_STMT_PREPARE with a
    COM_STMT_EXECUTE of the "last prepared" id ``0xFFFFFFFF`` and closes the previous statement
    first.  The read runs on a replica, the next statement on the primary.

    (Not ``cursor(prepared=True)``: Connector/Python 1.1 then ignores the text of every later
    ``execute`` and runs its first statement again, see the next test.)"""
    conn = _binary_connection(sandbox, rws)
    try:
        cur = conn.cursor(binary=True)
        cur.execute("SELECT @@server_id, v FROM rules WHERE id = ?", (1,))
        assert int(cur.fetchone()[0]) in replica_ids(sandbox)
        executes = counter(sandbox, sandbox.primary.name, "Com_stmt_execute")
        cur.execute(sql, (1,))
        assert cur.description[1][0] == ("v" if "FOR UPDATE" in sql else "LAST_INSERT_ID()")
        assert int(cur.fetchone()[0]) == PRIMARY_ID
        assert counter(sandbox, sandbox.primary.name, "Com_stmt_execute") == executes + 1
    finally:
        conn.close()


def test_prepared_cursor_of_connector_python_keeps_its_first_statement(sandbox: Sandbox,
                                                                       rws: ProxyHandle) -> None:
    """Why the previous test once "failed" with ``cursor(prepared=True)``: Connector/Python
    (1.1) documents that such a cursor ignores the statement of every later ``execute`` and
    runs its first one again (here, as text, with the new parameters).  The same on the
    primary directly, so the proxy rightly sent the second "FOR UPDATE" to a replica: it never
    was a locking read."""
    for host, port in ((sandbox.primary.host, sandbox.primary.port), (rws.host, rws.port)):
        conn = _binary_connection(sandbox, rws, port=port, host=host)
        try:
            cur = conn.cursor(prepared=True)
            cur.execute("SELECT @@server_id, v FROM rules WHERE id = ?", (1,))
            cur.fetchall()
            cur.execute("SELECT @@server_id, LAST_INSERT_ID() FROM rules WHERE id = ?", (2,))
            assert cur.description[1][0] == "v"
            assert cur.fetchone()[1] == 20
        finally:
            conn.close()


def test_prepared_replace_then_read_in_a_transaction(sandbox: Sandbox, rws: ProxyHandle) -> None:
    """A binary REPLACE, then a binary read of that row, in one transaction on one cursor: both
    on the primary (the read sees the uncommitted row); after COMMIT reads are on replicas."""
    conn = _binary_connection(sandbox, rws)
    try:
        conn.autocommit = False
        cur = conn.cursor(binary=True)
        cur.execute("REPLACE INTO rules VALUES (?, ?)", (5, 55))
        assert cur.rowcount >= 1
        cur.execute("SELECT @@server_id, v FROM rules WHERE id = ?", (5,))
        assert tuple(int(x) for x in cur.fetchone()) == (PRIMARY_ID, 55)
        cur.execute("SELECT @@server_id, v FROM rules WHERE id = ? FOR UPDATE", (5,))
        assert tuple(int(x) for x in cur.fetchone()) == (PRIMARY_ID, 55)
        conn.commit()
        conn.autocommit = True
        wait_replicated(sandbox)
        cur.execute("SELECT @@server_id, v FROM rules WHERE id = ?", (5,))
        server, value = (int(x) for x in cur.fetchone())
        assert server in replica_ids(sandbox) and value == 55
    finally:
        conn.close()


def _prepare_execute_last(client: RawClient, sql: str, *params: int) -> list[Any]:
    """COM_STMT_PREPARE and COM_STMT_EXECUTE(0xFFFFFFFF) in one write, as Connector/C's
    ``mariadb_stmt_execute_direct`` does; the rows of the execute (after the PREPARE OK)."""
    client.send_many([(Command.STMT_PREPARE, sql.encode()),
                      (Command.STMT_EXECUTE, execute_payload(LAST_PREPARED, params))])
    stmt_id, _, _ = prepare_ok(client.read_response())
    rows = client.read_response()
    assert not is_err(rows[0]), error_of(rows[0])
    return [stmt_id, rows]


def _server_of_binary(rows: list[Packet]) -> int:
    """``@@server_id`` (first column, a BIGINT UNSIGNED) of the first binary row."""
    row = next(p.payload for p in rows if p.payload[:1] == b"\x00" and len(p.payload) > 8)
    return int.from_bytes(row[2:10], "little")


def test_pipelined_prepare_and_execute_of_the_last_prepared(sandbox: Sandbox,
                                                            rws: ProxyHandle) -> None:
    """Raw protocol, each PREPARE with its EXECUTE(-1) in one write: a read on a replica, then a
    locking read on the primary, then a read again on a replica; the "last prepared" id is
    the statement just prepared each time, also after the previous one was closed."""
    params = sandbox.proxy_params(port=rws.port, database="app").with_(host=rws.host)
    with RawClient.connect(params.host, params.port, params.user, params.password,
                           "app") as client:
        first, rows = _prepare_execute_last(
            client, "SELECT @@server_id, v FROM rules WHERE id = ?", 1)
        assert _server_of_binary(rows) in replica_ids(sandbox)
        client.send(Command.STMT_CLOSE, stmt_id_payload(first))
        second, rows = _prepare_execute_last(
            client, "SELECT @@server_id, v FROM rules WHERE id = ? FOR UPDATE", 1)
        assert second != first
        assert _server_of_binary(rows) == PRIMARY_ID
        _, rows = _prepare_execute_last(client, "SELECT @@server_id, v FROM rules WHERE id = ?", 2)
        assert _server_of_binary(rows) in replica_ids(sandbox)
        rows = client.exchange(Command.STMT_EXECUTE, execute_payload(second, (2,)))
        assert _server_of_binary(rows) == PRIMARY_ID  # the locking read again, by its own id


def test_execute_of_the_last_prepared_after_a_failed_prepare(sandbox: Sandbox,
                                                             rws: ProxyHandle) -> None:
    """After a PREPARE the server refused, EXECUTE(0xFFFFFFFF) names no statement: the server
    answers error 1243 (not the statement prepared before), through the proxy too."""
    for host, port in ((sandbox.primary.host, sandbox.primary.port), (rws.host, rws.port)):
        params = sandbox.proxy_params(port=port, database="app").with_(host=host)
        with RawClient.connect(params.host, params.port, params.user, params.password,
                               "app") as client:
            _prepare_execute_last(client, "SELECT @@server_id, v FROM rules WHERE id = ?", 1)
            client.send_many([
                (Command.STMT_PREPARE, b"SELECT v FROM no_such_table WHERE id = ?"),
                (Command.STMT_EXECUTE, execute_payload(LAST_PREPARED, (1,)))])
            refused = client.read_response()
            assert is_err(refused[0]) and error_of(refused[0]).code == 1146
            answer = client.read_response()
            assert is_err(answer[0]), f"{host}:{port} ran a statement: {answer}"
            assert error_of(answer[0]).code == 1243


# -- replication lag, selection criteria ---------------------------------------------------------

LAG = 3  # the lag limit, seconds


@pytest.fixture(scope="module")
def lagging(sandbox: Sandbox) -> Iterator[int]:
    """Server 2 applies events 120s late; a write makes it lag (the monitor reads
    ``Seconds_Behind_Master``).  Yields its server id."""
    replica = sandbox.replicas[0]
    sandbox.sql(replica, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=120; START SLAVE")
    try:
        sandbox.sql(sandbox.primary, "REPLACE INTO app.rules VALUES (9, UNIX_TIMESTAMP())")

        def behind() -> bool:
            rows = sandbox.sql(replica, "SHOW SLAVE STATUS")
            lag = rows[0]["Seconds_Behind_Master"] if rows else None
            return lag not in (None, "NULL", "") and int(lag) > LAG + 2

        assert eventually(behind, timeout=30), "the delayed replica never reported a lag"
        yield 2
    finally:
        sandbox.sql(replica, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE")
        wait_replicated(sandbox)


def _servers_of_reads(sandbox: Sandbox, handle: ProxyHandle, sessions: int = 6,
                      reads: int = 5) -> set[int]:
    seen: set[int] = set()
    for _ in range(sessions):
        with session(sandbox, handle) as cur:
            seen |= {server_of(cur) for _ in range(reads)}
    return seen


def _avoids(sandbox: Sandbox, handle: ProxyHandle, server: int) -> bool:
    """Eventually (the monitor ticks every 2s) reads no longer go to ``server``."""
    return bool(eventually(lambda: server not in _servers_of_reads(sandbox, handle, 2),
                           timeout=20))


def test_lagging_replica_still_used_without_a_limit(sandbox: Sandbox, lagging: int,
                                                    tmp_path: Path) -> None:
    """The control: with no lag limit and the default criterion both replicas take reads."""
    handle = start_rws(sandbox, tmp_path)
    try:
        assert eventually(lambda: _servers_of_reads(sandbox, handle) == replica_ids(sandbox),
                          timeout=20)
    finally:
        _stop_proxy(handle)


def test_max_replication_lag_excludes_the_lagging_replica(sandbox: Sandbox, lagging: int,
                                                          tmp_path: Path) -> None:
    handle = start_rws(sandbox, tmp_path, max_replication_lag=f"{LAG}s")
    try:
        assert _avoids(sandbox, handle, lagging)
        assert _servers_of_reads(sandbox, handle) == replica_ids(sandbox) - {lagging}
    finally:
        _stop_proxy(handle)


def test_least_behind_master_prefers_the_replica_in_sync(sandbox: Sandbox, lagging: int,
                                                         tmp_path: Path) -> None:
    handle = start_rws(sandbox, tmp_path, slave_selection_criteria="LEAST_BEHIND_MASTER")
    try:
        assert _avoids(sandbox, handle, lagging)
        assert _servers_of_reads(sandbox, handle) == replica_ids(sandbox) - {lagging}
    finally:
        _stop_proxy(handle)


@pytest.mark.parametrize("criteria", ["ADAPTIVE_ROUTING", "LEAST_GLOBAL_CONNECTIONS",
                                      "LEAST_ROUTER_CONNECTIONS", "LEAST_CURRENT_OPERATIONS"])
def test_selection_criteria_read_from_replicas(sandbox: Sandbox, tmp_path: Path,
                                              criteria: str) -> None:
    handle = start_rws(sandbox, tmp_path, monitor=False, slave_selection_criteria=criteria)
    try:
        seen = _servers_of_reads(sandbox, handle, sessions=8)
    finally:
        _stop_proxy(handle)
    assert seen <= replica_ids(sandbox)
    assert seen  # (not necessarily both: adaptive routing may favour the faster one)

