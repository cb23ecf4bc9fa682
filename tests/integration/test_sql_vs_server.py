"""The lexer's reading of comments, quotes and statement boundaries, checked against a real
MariaDB server (the sandbox primary, with CLIENT_MULTI_STATEMENTS).

Each row gives what the server does with the text (result sets, or an error) and what the
classifier says.  Where they differ on purpose the classifier is the conservative one: it calls
a text a multi-statement (-> primary) that the server rejects or runs as one statement.
"""

from __future__ import annotations

from typing import Any

import pymysql
import pytest
from pymysql.constants import CLIENT

from interlock.sandbox import ConnParams
from interlock.sql.classifier import classify
from interlock.sql.tokenizer import lex

pytestmark = pytest.mark.integration

ERROR = -1


def run(cursor: Any, sql: str) -> tuple[int, list[int]]:
    """(number of results, column counts), or (ERROR, [])."""
    try:
        cursor.execute(sql)
    except pymysql.MySQLError:
        return ERROR, []
    columns = [len(cursor.description or ())]
    while cursor.nextset():
        columns.append(len(cursor.description or ()))
    return len(columns), columns


@pytest.fixture(scope="module")
def cursor(direct_params: ConnParams) -> Any:
    conn = pymysql.connect(**direct_params.pymysql_kwargs(),
                           client_flag=CLIENT.MULTI_STATEMENTS)
    with conn.cursor() as cur:
        yield cur
    conn.close()


# (text, results the server returns (ERROR: it rejects the text), classifier says multi)
STATEMENT_COUNTS = [
    ("SELECT 'a;b'", 1, False),
    ('SELECT "a;b"', 1, False),
    ("SELECT 'it\\'s;' ; SELECT 2", 2, True),
    ("SELECT 'it''s;' ; SELECT 2", 2, True),
    ("SELECT 'a\\\\' ; SELECT 2", 2, True),
    ("SELECT `a;b` FROM (SELECT 1 AS `a;b`) x", 1, False),
    ("SELECT 1 /* ; */", 1, False),
    ("SELECT 1 # ; SELECT 2\n", 1, False),
    ("SELECT 1 -- ; SELECT 2", 1, False),
    ("SELECT 1 --\t; SELECT 2", 1, False),
    ("SELECT 1 -- ;\n; SELECT 2", 2, True),
    ("SELECT 5 --1; SELECT 2", 2, True),
    ("SELECT 1;", 1, False),
    ("SELECT 1; ;", 1, False),
    # An empty statement after ';' (only a comment): the server adds an empty OK; no SQL runs.
    ("SELECT 1; -- trailing", 2, False),
    ("SELECT 1;\n/* c */", 2, False),
    # Conservative: ';' inside an executable comment is a syntax error for the server.
    ("SELECT 1 /*! ; SELECT 2 */", ERROR, True),
    # Conservative: a version comment newer than the server is skipped by it.
    ("SELECT 1 /*!999999 ; SELECT 2 */", 1, True),
]


@pytest.mark.parametrize(("sql", "results", "multi"), STATEMENT_COUNTS)
def test_statement_boundaries(cursor: Any, sql: str, results: int, multi: bool) -> None:
    assert run(cursor, sql)[0] == results
    assert classify(sql.encode()).multi_statement is multi


# (text, columns of the result): executable comments are SQL, plain comments are not.
COLUMNS = [
    ("SELECT 1 /*!, 2 */", 2),
    ("SELECT 1 /*!50000 , 2 */", 2),
    ("SELECT 1 /*M!, 2 */", 2),
    ("SELECT 1 /*M!100100 , 2 */", 2),
    ("SELECT 1 /*m!, 2 */", 1),
    ("SELECT 1 /* , 2 */", 1),
    ("SELECT 1 /*+ , 2 */", 1),
    ("SELECT 1 -- , 2", 1),
    ("SELECT 1 --\t, 2", 1),
    ("SELECT 1 --1, 2", 2),
    ("SELECT 1 #, 2", 1),
    ("SELECT '#', '--', '/*'", 3),
]


@pytest.mark.parametrize(("sql", "columns"), COLUMNS)
def test_comments(cursor: Any, sql: str, columns: int) -> None:
    assert run(cursor, sql) == (1, [columns])
    statement = lex(sql.encode()).statements[0]
    top_level_commas = statement.count(b",")
    assert top_level_commas + 1 == columns


def test_no_backslash_escapes(cursor: Any) -> None:
    sql = "SELECT 'C:\\'; SELECT 2"
    assert run(cursor, sql)[0] == ERROR  # the string never ends
    assert not classify(sql.encode()).multi_statement
    cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
    try:
        assert run(cursor, sql) == (2, [1, 1])
        assert classify(sql.encode(), no_backslash_escapes=True).multi_statement
    finally:
        cursor.execute("SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
