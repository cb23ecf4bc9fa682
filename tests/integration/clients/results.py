"""Responses with several results: multi-statements, stored procedures (result sets + OUT
parameter), and server-side cursors read with COM_STMT_FETCH."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import MySQLdb
import MySQLdb.constants.CLIENT
import pymysql
import pymysql.constants.CLIENT
from tests.integration.clients import dbapi
from tests.integration.clients.outcome import freeze_description, freeze_rows
from tests.integration.clients.target import Target

# --- multi-statements -------------------------------------------------------------------------

MULTI = (
    "CREATE TEMPORARY TABLE ms (id INT PRIMARY KEY, v VARCHAR(10)) DEFAULT CHARSET=utf8mb4; "
    "INSERT INTO ms VALUES (1, 'a'), (2, 'b😀'); "
    "SELECT * FROM ms ORDER BY id; "
    "UPDATE ms SET v = 'c' WHERE id = 2; "
    "SELECT 1 AS one, NULL AS nothing, 2.5 AS dec1; "
    "SELECT * FROM ms WHERE 1 = 0; "
    "SELECT COUNT(*) AS n FROM ms"
)
MULTI_FAILING = "SELECT 'first' AS f; SELEC 'broken'; SELECT 'never' AS n"

ResultSet = tuple[Any, ...]


def _result(cur: Any) -> ResultSet:
    rows = freeze_rows(cur.fetchall()) if cur.description else None
    return (freeze_description(cur.description), rows, cur.rowcount)


def _all_results(cur: Any, errors: type[Exception]) -> list[Any]:
    """Every result of the last execute, then ('error', code, message) if one ends them."""
    results: list[Any] = [_result(cur)]
    try:
        while cur.nextset():
            results.append(_result(cur))
    except errors as e:
        results.append(("error", int(e.args[0]), str(e.args[1])))
    return results


def _multi(conn: Any, errors: type[Exception]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    cur = conn.cursor()
    cur.execute(MULTI)
    seen["multi"] = _all_results(cur, errors)
    try:
        cur.execute(MULTI_FAILING)
        seen["failing"] = _all_results(cur, errors)
    except errors as e:
        seen["failing"] = [("error", int(e.args[0]), str(e.args[1]))]
    cur.execute("SELECT 'after' AS a, COUNT(*) FROM ms")
    seen["after"] = _result(cur)
    cur.close()
    return seen


def multi_pymysql(t: Target) -> dict[str, Any]:
    conn = dbapi.connect_pymysql(t, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    try:
        return _multi(conn, pymysql.Error)
    finally:
        conn.close()


def multi_mysqldb(t: Target) -> dict[str, Any]:
    conn = dbapi.connect_mysqldb(t, client_flag=MySQLdb.constants.CLIENT.MULTI_STATEMENTS)
    try:
        return _multi(conn, MySQLdb.Error)
    finally:
        conn.close()


MULTI_RUNNERS: dict[str, Callable[[Target], dict[str, Any]]] = {
    "pymysql": multi_pymysql,
    "mysqldb": multi_mysqldb,
}

# --- stored procedure: two result sets and an OUT parameter ----------------------------------

PROC = "interlock_clients_two_sets"
PROC_DDL = f"""CREATE PROCEDURE {PROC}(IN p_n INT, OUT p_total INT)
BEGIN
  SELECT seq AS n, CONCAT('item ', seq) AS label FROM seq_1_to_1000 WHERE seq <= p_n
    ORDER BY seq;
  SELECT p_n * 2 AS doubled, 'second set 😀' AS note;
  SELECT SUM(seq) INTO p_total FROM seq_1_to_1000 WHERE seq <= p_n;
END"""


def create_procedure(t: Target) -> None:
    conn = dbapi.connect_pymysql(t)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP PROCEDURE IF EXISTS {PROC}")
            cur.execute(PROC_DDL)
    finally:
        conn.close()


def drop_procedure(t: Target) -> None:
    conn = dbapi.connect_pymysql(t)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP PROCEDURE IF EXISTS {PROC}")
    finally:
        conn.close()


def call_pymysql(t: Target, n: int) -> dict[str, Any]:
    """CALL in the text protocol: every result set via nextset(), OUT value via @total."""
    conn = dbapi.connect_pymysql(t)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CALL {PROC}(%s, @total)", (n,))
            results = _all_results(cur, pymysql.Error)
            cur.execute("SELECT @total")
            return {"results": results, "out": cur.fetchall()[0][0]}
    finally:
        conn.close()


def call_connector(t: Target, n: int, *, pure: bool) -> dict[str, Any]:
    """mysql-connector ``callproc`` / ``stored_results()``."""
    conn = dbapi.connect_connector(t, use_pure=pure)
    try:
        cur = conn.cursor()
        args = cur.callproc(PROC, (n, 0))
        sets = [
            (freeze_description(r.description), freeze_rows(r.fetchall()))
            for r in cur.stored_results()
        ]
        cur.close()
        return {"results": sets, "out": tuple(args)[1]}
    finally:
        conn.close()


def call_mariadb(t: Target, n: int) -> dict[str, Any]:
    """MariaDB Connector/Python ``callproc``: binary protocol, the OUT parameters arrive as an
    extra result set flagged SERVER_PS_OUT_PARAMS."""
    conn = dbapi.connect_mariadb(t)
    try:
        cur = conn.cursor()
        cur.callproc(PROC, (n, 0))
        sets: list[tuple[Any, ...]] = [
            (freeze_description(cur.description), freeze_rows(cur.fetchall()))
        ]
        while cur.nextset():
            sets.append(
                (
                    freeze_description(cur.description),
                    freeze_rows(cur.fetchall()) if cur.description else None,
                )
            )
        cur.close()
        return {"results": sets}
    finally:
        conn.close()


CALL_RUNNERS: dict[str, Callable[[Target, int], dict[str, Any]]] = {
    "pymysql": call_pymysql,
    "connector-pure": lambda t, n: call_connector(t, n, pure=True),
    "connector-cext": lambda t, n: call_connector(t, n, pure=False),
    "mariadb": call_mariadb,
}

# --- server-side cursors (COM_STMT_FETCH) -----------------------------------------------------

CURSOR_SQL = "SELECT seq, CONCAT('row ', seq) AS label FROM seq_1_to_1000 WHERE seq > ?"
CURSOR_TYPE_READ_ONLY = 1
SERVER_STATUS_CURSOR_EXISTS = 0x40
SERVER_STATUS_LAST_ROW_SENT = 0x80
PREFETCH = 100


def cursor_mariadb(t: Target) -> dict[str, Any]:
    """MariaDB Connector/Python READ_ONLY cursor, unbuffered: rows come by COM_STMT_FETCH."""
    from mariadb.constants import CURSOR

    conn = dbapi.connect_mariadb(t)
    try:
        cur = conn.cursor(cursor_type=CURSOR.READ_ONLY, prefetch_size=PREFETCH, buffered=False)
        cur.execute(CURSOR_SQL, (0,))
        rows = []
        while batch := cur.fetchmany(37):
            rows.extend(batch)
        description = freeze_description(cur.description)
        cur.close()
        return {"description": description, "rows": freeze_rows(rows)}
    finally:
        conn.close()


def cursor_connector(t: Target) -> dict[str, Any]:
    """mysql-connector (pure) through its connection-level cmd_stmt_* API: COM_STMT_EXECUTE
    with CURSOR_TYPE_READ_ONLY, then COM_STMT_FETCH of PREFETCH rows until LAST_ROW_SENT.
    (Its ``cursor(prepared=True)`` never opens a server cursor.)"""
    conn = dbapi.connect_connector(t, use_pure=True)
    try:
        stmt = conn.cmd_stmt_prepare(CURSOR_SQL.encode())
        _count, columns, eof = conn.cmd_stmt_execute(
            stmt["statement_id"],
            data=(0,),
            parameters=stmt["parameters"],
            flags=CURSOR_TYPE_READ_ONLY,
        )
        batches: list[tuple[int, int]] = []
        rows: list[Any] = []
        status = eof["status_flag"]
        opened = bool(status & SERVER_STATUS_CURSOR_EXISTS)
        while opened and not status & SERVER_STATUS_LAST_ROW_SENT:
            conn.cmd_stmt_fetch(stmt["statement_id"], PREFETCH)
            got, eof = conn.get_rows(binary=True, columns=columns)
            status = eof["status_flag"]
            batches.append(
                (len(got), status & (SERVER_STATUS_CURSOR_EXISTS | SERVER_STATUS_LAST_ROW_SENT))
            )
            rows.extend(got)
        conn.cmd_stmt_close(stmt["statement_id"])
        after = conn.cursor()
        after.execute("SELECT 'after cursor'")
        tail = after.fetchall()
        after.close()
        return {
            "cursor_opened": opened,
            "batches": batches,
            "rows": freeze_rows(rows),
            "columns": [c[:2] for c in columns],
            "after": freeze_rows(tail),
        }
    finally:
        conn.close()


CURSOR_RUNNERS: dict[str, Callable[[Target], dict[str, Any]]] = {
    "mariadb": cursor_mariadb,
    "connector-pure": cursor_connector,
}
