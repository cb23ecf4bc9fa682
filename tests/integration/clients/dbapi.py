"""The synchronous DB-API clients: how each connects, opens cursors and reports errors.

One :class:`Client` per driver and mode. ``run_steps`` executes statements through any of them
and records an :class:`Outcome` per statement, errors included (the session goes on after an
error, which is itself part of what is tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import mysql.connector
import MySQLdb
import pymysql
from tests.integration.clients.corpus import Step
from tests.integration.clients.outcome import (
    ClientErrorInfo,
    Outcome,
    freeze_description,
    freeze_rows,
)
from tests.integration.clients.target import Target

try:
    import mariadb
except ImportError:  # pragma: no cover - the dev dependency is expected
    mariadb = None


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    connect: Callable[..., Any]
    cursor: Callable[[Any], Any]
    warnings: Callable[[Any, Any], int | None]
    error: Callable[[Exception], ClientErrorInfo]
    errors: tuple[type[Exception], ...]
    available: bool = True
    why_not: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    #: False when the driver loses the server's error code (see corpus.problems)
    exact_errors: bool = True
    #: corpus steps whose server-truth check this driver cannot pass, with the driver bug;
    #: they are still compared direct versus proxy
    quirks: tuple[tuple[str, str], ...] = ()
    #: rewrites statement parameters the driver cannot bind safely
    adapt: Callable[[tuple[Any, ...]], tuple[Any, ...]] = tuple


# --- connect functions ------------------------------------------------------------------------


def connect_pymysql(t: Target, **kw: Any) -> pymysql.connections.Connection:
    kw.setdefault("autocommit", True)
    return pymysql.connect(
        host=t.host,
        port=t.port,
        user=t.user,
        password=t.password,
        database=t.database,
        charset="utf8mb4",
        **kw,
    )


def connect_mysqldb(t: Target, **kw: Any) -> Any:
    kw.setdefault("autocommit", True)
    return MySQLdb.connect(
        host=t.host,
        port=t.port,
        user=t.user,
        password=t.password,
        database=t.database,
        charset="utf8mb4",
        **kw,
    )


def connect_connector(t: Target, *, use_pure: bool, **kw: Any) -> Any:
    kw.setdefault("autocommit", True)
    conn = mysql.connector.connect(
        host=t.host,
        port=t.port,
        user=t.user,
        password=t.password,
        database=t.database,
        charset="utf8mb4",
        collation="utf8mb4_general_ci",
        use_pure=use_pure,
        **kw,
    )
    if not use_pure and type(conn).__name__ != "CMySQLConnection":
        raise RuntimeError(f"asked for the C extension, got {type(conn).__name__}")
    return conn


def connect_mariadb(t: Target, **kw: Any) -> Any:
    kw.setdefault("autocommit", True)
    return mariadb.connect(
        host=t.host, port=t.port, user=t.user, password=t.password, database=t.database, **kw
    )


# --- per-driver error and warning accessors ---------------------------------------------------


def _args_error(e: Exception) -> ClientErrorInfo:
    return ClientErrorInfo(int(e.args[0]), str(e.args[1]))


def _attr_error(e: Any) -> ClientErrorInfo:
    return ClientErrorInfo(int(e.errno), str(e.msg), e.sqlstate)


CEXT_PREPARED_QUIRKS = (
    ("ints", "decodes 18446744073709551615 (BIGINT UNSIGNED) as -1 in binary result rows"),
    ("warnings", "warning_count stays 0 after a prepared statement's result set"),
)


def _decimals_as_text(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """mysql-connector 9.1's C extension corrupts its heap binding a Decimal parameter that is
    not the first of a prepared statement (glibc then aborts: "malloc(): mismatching
    next->prev_size"); the server gets the same value as a string."""
    return tuple(str(p) if isinstance(p, Decimal) else p for p in params)


def _connector(name: str, *, pure: bool, prepared: bool) -> Client:
    unavailable = not pure and not mysql.connector.HAVE_CEXT
    return Client(
        name=name,
        connect=lambda t, **kw: connect_connector(t, use_pure=pure, **kw),
        cursor=lambda c: c.cursor(prepared=True) if prepared else c.cursor(buffered=True),
        warnings=lambda c, cur: cur.warning_count,
        error=_attr_error,
        errors=(mysql.connector.Error,),
        available=not unavailable,
        why_not="mysql-connector C extension missing (HAVE_CEXT false)" if unavailable else "",
        tags=frozenset(
            {"connector", "pure" if pure else "cext"} | ({"prepared"} if prepared else set())
        ),
        exact_errors=pure or not prepared,
        quirks=CEXT_PREPARED_QUIRKS if prepared and not pure else (),
        adapt=_decimals_as_text if prepared and not pure else tuple,
    )


def _mariadb(name: str, *, binary: bool) -> Client:
    return Client(
        name=name,
        connect=connect_mariadb,
        cursor=lambda c: c.cursor(binary=binary),
        warnings=lambda c, cur: cur.warnings,
        error=_attr_error,
        errors=(mariadb.Error,) if mariadb else (),
        available=mariadb is not None,
        why_not="MariaDB Connector/Python (mariadb) not installed",
        tags=frozenset({"mariadb"} | ({"prepared"} if binary else set())),
    )


CLIENTS: dict[str, Client] = {
    c.name: c
    for c in (
        Client(
            "pymysql",
            connect_pymysql,
            lambda c: c.cursor(),
            lambda c, cur: cur.warning_count,
            _args_error,
            (pymysql.Error,),
        ),
        Client(
            "mysqldb",
            connect_mysqldb,
            lambda c: c.cursor(),
            lambda c, cur: c.warning_count(),
            _args_error,
            (MySQLdb.Error,),
        ),
        _connector("connector-pure", pure=True, prepared=False),
        _connector("connector-pure-prepared", pure=True, prepared=True),
        _connector("connector-cext", pure=False, prepared=False),
        _connector("connector-cext-prepared", pure=False, prepared=True),
        _mariadb("mariadb", binary=False),
        _mariadb("mariadb-binary", binary=True),
    )
}


# --- running statements -----------------------------------------------------------------------


def run_step(client: Client, conn: Any, step: Step) -> Outcome:
    cur = client.cursor(conn)
    try:
        if step.params is None:
            cur.execute(step.sql)
        else:
            cur.execute(step.sql, client.adapt(step.params))
        rows = freeze_rows(cur.fetchall()) if cur.description else None
        return Outcome(
            step.name,
            freeze_description(cur.description),
            rows,
            cur.rowcount,
            cur.lastrowid,
            client.warnings(conn, cur),
        )
    except client.errors as e:
        return Outcome(step.name, error=client.error(e))
    finally:
        cur.close()


def run_steps(client: Client, target: Target, steps: Iterable[Step]) -> list[Outcome]:
    conn = client.connect(target)
    try:
        return [run_step(client, conn, step) for step in steps]
    finally:
        conn.close()
