"""The statement corpus every DB-API client runs, and what the server must answer.

Statements use ``%s`` placeholders (every client here accepts them). The corpus works on a
TEMPORARY table, so each connection starts from the same state (AUTO_INCREMENT at 1) and the
direct and proxy runs observe the same ids. There is no YEAR column: mysql-connector's pure
binary-protocol decoder misreads YEAR and loses its place in the row (a client bug).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.integration.clients.outcome import ClientErrorInfo, Outcome


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    sql: str
    params: tuple[Any, ...] | None = None


TABLE_DDL = """CREATE TEMPORARY TABLE corpus (
  id INT AUTO_INCREMENT PRIMARY KEY,
  i BIGINT, u BIGINT UNSIGNED, d DECIMAL(20,6), f FLOAT, g DOUBLE,
  dt DATE, tm TIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, dtm DATETIME(3),
  s VARCHAR(100), b BLOB, j JSON, e ENUM('a','b'), bt BIT(8),
  UNIQUE KEY uk_s (s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

ROW1 = (
    -9223372036854775808,
    Decimal("-12345678901234.123456"),
    1.5,
    2.0 / 3,
    "2024-02-29",
    "-838:59:59.999999",
    "2038-01-19 03:14:07.999999",
    "9999-12-31 23:59:59.999",
    "héllo wörld 😀🐬",
    b"\x00\xff\x10binary\x00'\"\\",
    '{"k": [1, 2.5, "😀", null]}',
    "b",
)

STEPS: tuple[Step, ...] = (
    Step("drop-missing", "DROP TEMPORARY TABLE IF EXISTS corpus"),
    Step("create", TABLE_DDL),
    Step(
        "insert-params",
        "INSERT INTO corpus (i, u, d, f, g, dt, tm, ts, dtm, s, b, j, e, bt) VALUES "
        "(%s, 18446744073709551615, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, b'101')",
        ROW1,
    ),
    Step("insert-null", "INSERT INTO corpus (s) VALUES (NULL)"),
    Step("insert-multi", "INSERT INTO corpus (i, s) VALUES (1, 'x'), (2, 'y'), (3, 'z')"),
    Step("insert-ignore-dup", "INSERT IGNORE INTO corpus (i, s) VALUES (4, 'x')"),
    Step("dup-unique", "INSERT INTO corpus (i, s) VALUES (5, 'x')"),
    Step("dup-primary", "INSERT INTO corpus (id, s) VALUES (1, 'w')"),
    Step("select-all", "SELECT * FROM corpus ORDER BY id"),
    Step("select-param", "SELECT id, s, b, j FROM corpus WHERE id = %s", (1,)),
    Step("select-empty", "SELECT * FROM corpus WHERE 1 = 0"),
    Step("update", "UPDATE corpus SET i = i + 1 WHERE i IS NOT NULL"),
    Step("update-unchanged", "UPDATE corpus SET i = i WHERE id = 3"),
    Step("delete", "DELETE FROM corpus WHERE id > 4"),
    Step(
        "ints",
        "SELECT 0, -1, 127, 255, 65535, 2147483647, -2147483648, "
        "9223372036854775807, 18446744073709551615, CAST(1 AS UNSIGNED)",
    ),
    Step(
        "decimals",
        "SELECT 1.5, -0.000001, CAST(12345.6789 AS DECIMAL(10,4)), "
        "CAST('123456789012345678901234567890.123456789' AS DECIMAL(40,9))",
    ),
    Step(
        "floats",
        "SELECT CAST(1.5 AS FLOAT), 1e308, -2.2250738585072014e-308, 1/3e0, CAST(0.1 AS DOUBLE)",
    ),
    Step(
        "temporals",
        "SELECT DATE '2024-02-29', TIME '-838:59:59', TIME '12:34:56.789', "
        "TIMESTAMP '2024-01-02 03:04:05.123456', "
        "CAST('2024-01-02 03:04:05.5' AS DATETIME(1)), "
        "CAST('00:00:00.000001' AS TIME(6)), CAST('1000-01-01' AS DATE)",
    ),
    Step(
        "strings",
        "SELECT 'héllo', '😀🐬🏳️‍🌈', _utf8mb4'日本語テキスト', '', "
        "'it''s \"quoted\" \\\\ back', REPEAT('x', 1000), CHAR_LENGTH('😀'), "
        "LENGTH('😀')",
    ),
    Step(
        "nulls",
        "SELECT NULL, CAST(NULL AS SIGNED), CAST(NULL AS DATE), NULL IS NULL, COALESCE(NULL, 'd')",
    ),
    Step("blobs", "SELECT X'00FF10', CAST('bin' AS BINARY), UNHEX('DEADBEEF00'), X''"),
    Step(
        "json",
        "SELECT JSON_OBJECT('a', 1, 'b', '😀', 'c', JSON_ARRAY(1, 2.5, NULL)), "
        'JSON_EXTRACT(\'{"x": [1, {"y": "z"}]}\', \'$.x[1].y\')',
    ),
    Step(
        "params",
        "SELECT %s, %s, %s, %s, CAST(%s AS BINARY), %s",
        (42, -7.25, "émoji 😀", None, b"\x00\x01\xfe\xff", Decimal("3.14")),
    ),
    Step("warnings", "SELECT 1/0, CAST('12abc' AS SIGNED)"),
    Step("show-warnings", "SHOW WARNINGS"),
    Step("syntax-error", "SELEC 1"),
    Step("no-table", "SELECT * FROM no_such_table"),
    Step("no-column", "SELECT no_such_col FROM corpus"),
    Step("after-errors", "SELECT 'still in sync'"),
    Step("set-var", "SET @v = 'user variable 😀'"),
    Step("get-var", "SELECT @v, DATABASE()"),
    Step("begin", "START TRANSACTION"),
    Step("insert-in-trx", "INSERT INTO corpus (s) VALUES ('in-trx')"),
    Step("rollback", "ROLLBACK"),
    Step("count-after-rollback", "SELECT COUNT(*) FROM corpus WHERE s = 'in-trx'"),
    Step("big-row", "SELECT REPEAT('ab', 100000), REPEAT(_binary X'00FF', 50000)"),
    Step("many-rows", "SELECT seq, seq * 2, CONCAT('r', seq) FROM seq_1_to_2000"),
)

SYNTAX_MESSAGE = (
    "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
    "server version for the right syntax to use near 'SELEC 1' at line 1"
)

EXPECTED_ERRORS: dict[str, tuple[int, str]] = {
    "dup-unique": (1062, "Duplicate entry 'x' for key 'uk_s'"),
    "dup-primary": (1062, "Duplicate entry '1' for key 'PRIMARY'"),
    "syntax-error": (1064, SYNTAX_MESSAGE),
    "no-table": (1146, "Table 'test.no_such_table' doesn't exist"),
    "no-column": (1054, "Unknown column 'no_such_col' in 'SELECT'"),
}

#: Rows every client must return (after bytearray -> bytes), whatever the protocol.
EXPECTED_ROWS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "ints": (
        (
            0,
            -1,
            127,
            255,
            65535,
            2147483647,
            -2147483648,
            9223372036854775807,
            18446744073709551615,
            1,
        ),
    ),
    "nulls": ((None, None, None, 1, "d"),),
    "after-errors": (("still in sync",),),
    "get-var": (("user variable 😀", "test"),),
    "count-after-rollback": ((0,),),
}

#: (rowcount, lastrowid, warnings) where the server defines them.
EXPECTED_COUNTS: dict[str, tuple[int | None, int | None, int | None]] = {
    "drop-missing": (None, None, 1),
    "insert-params": (1, 1, 0),
    "insert-null": (1, 2, 0),
    "insert-multi": (3, 3, 0),
    "insert-ignore-dup": (0, None, 1),
    "update": (4, None, 0),
    "delete": (1, None, 0),
    "warnings": (None, None, 2),
}


def _check_error(o: Outcome, exact: bool) -> list[str]:
    code, message = EXPECTED_ERRORS[o.step]
    if o.error is None:
        return [f"{o.step}: expected error {code} {message!r}, got none"]
    if exact and (o.error.code, o.error.message) == (code, message):
        return []
    if not exact and o.error.message.endswith(message):
        return []
    return [f"{o.step}: expected error {code} {message!r}, got {o.error}"]


def _check_counts(o: Outcome, exact: bool) -> list[str]:
    rowcount, lastrowid, warnings = EXPECTED_COUNTS[o.step]
    out = []
    if o.error is not None:
        return [f"{o.step}: unexpected error {o.error}"]
    for name, want, have in (
        ("rowcount", rowcount, o.rowcount),
        ("lastrowid", lastrowid, o.lastrowid),
        ("warnings", warnings, o.warnings),
    ):
        if want is not None and want != have:
            out.append(f"{o.step}: {name} {have} != {want}")
    return out


def _check_rows(o: Outcome, exact: bool) -> list[str]:
    if o.rows != EXPECTED_ROWS[o.step]:
        return [f"{o.step}: rows {o.rows!r} != {EXPECTED_ROWS[o.step]!r} (error {o.error})"]
    return []


def _check_shape(o: Outcome, exact: bool) -> list[str]:
    """Result sets whose values vary by client type mapping: check sizes and metadata."""
    sizes = {
        "select-all": (5, 15),
        "select-empty": (0, 15),
        "many-rows": (2000, 3),
        "strings": (1, 8),
        "big-row": (1, 2),
    }
    nrows, ncols = sizes[o.step]
    if o.rows is None or o.description is None:
        return [f"{o.step}: no result set (error {o.error})"]
    if len(o.rows) != nrows or len(o.description) != ncols:
        return [f"{o.step}: {len(o.rows)} rows x {len(o.description)} cols, want {nrows} x {ncols}"]
    return []


CHECKS: dict[str, Callable[[Outcome, bool], list[str]]] = {
    **{name: _check_error for name in EXPECTED_ERRORS},
    **{name: _check_counts for name in EXPECTED_COUNTS},
    **{name: _check_rows for name in EXPECTED_ROWS},
    **{
        name: _check_shape
        for name in ("select-all", "select-empty", "many-rows", "strings", "big-row")
    },
}


def problems(
    outcomes: list[Outcome], exact_errors: bool = True, skip: Iterable[str] = ()
) -> list[str]:
    """Where a run departs from what the server is known to answer.

    ``exact_errors=False`` for clients that drop the error code (mysql-connector's C extension
    reports prepared-statement errors as -1 with a prefixed message): the message must still
    end with the server's. ``skip``: steps a driver is known to get wrong on its own.
    """
    out: list[str] = []
    skipped = set(skip)
    for o in outcomes:
        check = None if o.step in skipped else CHECKS.get(o.step)
        if check is not None:
            out += check(o, exact_errors)
    return out


def error_info(code: int, message: str, sqlstate: str | None = None) -> ClientErrorInfo:
    return ClientErrorInfo(int(code), str(message), sqlstate)
