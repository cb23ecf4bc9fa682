"""Details the classifier extracts: tables, names, values, prepared text, multi-statement parts;
and properties over generated input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sql_corpus import ROWS, Row

from interlock.sql.classifier import _classify, classify
from interlock.sql.kinds import Classification, Feature, StatementKind

K = StatementKind


@pytest.mark.parametrize(("sql", "tables"), [
    (b"SELECT * FROM t", ("t",)),
    (b"SELECT * FROM T1", ("t1",)),
    (b"SELECT * FROM db.t", ("db.t",)),
    (b"SELECT * FROM `My Db`.`T 1`", ("my db.t 1",)),
    (b"SELECT * FROM a, b AS x, c y WHERE 1", ("a", "b", "c")),
    (b"SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN db.c USING (id)", ("a", "b", "db.c")),
    (b"SELECT * FROM a STRAIGHT_JOIN b", ("a", "b")),
    (b"SELECT * FROM (SELECT * FROM inner_t) AS d", ("inner_t",)),
    (b"SELECT * FROM t WHERE id IN (SELECT id FROM u)", ("t", "u")),
    (b"SELECT 1 FROM DUAL", ()),
    (b"SELECT 1", ()),
    (b"SELECT * FROM t t FOR UPDATE", ("t",)),
    (b"(SELECT a FROM t1) UNION (SELECT a FROM t2)", ("t1", "t2")),
    (b"SHOW CREATE TABLE db.t", ("db.t",)),
    (b"SHOW COLUMNS IN t", ("t",)),
    (b"DESCRIBE t", ("t",)),
    (b"EXPLAIN db.t", ("db.t",)),
    (b"TABLE t", ("t",)),
    (b"SELECT * FROM t1; SELECT * FROM t2", ("t1", "t2")),
    (b"INSERT INTO t SELECT * FROM u", ()),  # writes go to the primary anyway
])
def test_tables(sql: bytes, tables: tuple[str, ...]) -> None:
    assert classify(sql).tables == tables


@pytest.mark.parametrize(("sql", "value"), [
    (b"SET autocommit=0", False), (b"SET autocommit = 1", True), (b"SET AUTOCOMMIT=OFF", False),
    (b"SET autocommit=ON", True), (b"set @@autocommit = 0", False),
    (b"SET SESSION autocommit = TRUE", True), (b"SET autocommit='OFF'", False),
    (b"SET autocommit=DEFAULT", None), (b"SET @@session.autocommit=1, sql_mode=''", True),
    (b"SET @@local.autocommit=false", False), (b"SET autocommit=@x", None),
])
def test_autocommit_value(sql: bytes, value: bool | None) -> None:
    c = classify(sql)
    assert c.kind == K.SESSION_WRITE | K.SET_AUTOCOMMIT
    assert c.autocommit is value


def test_global_autocommit_is_not_the_session_s() -> None:
    c = classify(b"SET GLOBAL autocommit=0")
    assert c.kind == K.WRITE and c.autocommit is None


@pytest.mark.parametrize(("sql", "name"), [
    (b"CREATE TEMPORARY TABLE tmp (a int)", "tmp"),
    (b"CREATE TEMPORARY TABLE IF NOT EXISTS db.Tmp (a int)", "db.tmp"),
    (b"CREATE OR REPLACE TEMPORARY TABLE `x y` LIKE t", "x y"),
])
def test_temporary_table_name(sql: bytes, name: str) -> None:
    c = classify(sql)
    assert c.temporary_table == name
    assert c.dropped_tables == ()


@pytest.mark.parametrize(("sql", "names"), [
    (b"DROP TABLE t", ("t",)),
    (b"DROP TEMPORARY TABLE IF EXISTS tmp", ("tmp",)),
    (b"DROP TABLE IF EXISTS a, db.b, `C` CASCADE", ("a", "db.b", "c")),
    (b"DROP TABLES a,b", ("a", "b")),
])
def test_dropped_tables(sql: bytes, names: tuple[str, ...]) -> None:
    c = classify(sql)
    assert c.dropped_tables == names
    assert c.temporary_table is None


@pytest.mark.parametrize(("sql", "database"), [
    (b"USE db", "db"), (b"use `My DB`", "my db"), (b"USE db;", "db"), (b"/* x */ USE d1", "d1"),
])
def test_use(sql: bytes, database: str) -> None:
    assert classify(sql).database == database


def test_database_is_only_for_use() -> None:
    assert classify(b"SET NAMES utf8").database is None
    assert classify(b"CREATE TEMPORARY TABLE t (a int)").database is None


def test_prepare_keeps_the_classified_text() -> None:
    c = classify(b"PREPARE Stmt1 FROM 'SELECT * FROM t WHERE id = ? FOR UPDATE'")
    assert c.kind == K.PREPARE_NAMED and c.name == "stmt1"
    assert c.prepared is not None
    assert c.prepared.kind == K.READ and c.prepared.locking_read
    assert c.prepared.tables == ("t",)


def test_prepare_text_with_escapes_is_unescaped_before_classifying() -> None:
    c = classify(b"PREPARE s FROM 'SELECT \\'a\\'\\';\\' ; SELECT 2'")
    assert c.prepared is not None and c.prepared.multi_statement
    c = classify(b"PREPARE s FROM 'SELECT ''x;y'''")
    assert c.prepared is not None and not c.prepared.multi_statement


def test_prepare_from_a_variable_has_no_text() -> None:
    c = classify(b"PREPARE s FROM @q")
    assert c.kind == K.PREPARE_NAMED and c.name == "s" and c.prepared is None


def test_execute_and_deallocate_names_are_case_folded() -> None:
    assert classify(b"EXECUTE MyStmt USING @a").name == "mystmt"
    assert classify(b"DEALLOCATE PREPARE MyStmt").name == "mystmt"
    assert classify(b"DROP PREPARE `MyStmt`").name == "mystmt"


def test_nested_prepare_is_bounded() -> None:
    sql = b"SELECT 1"
    for _ in range(10):
        sql = b"PREPARE s FROM '" + sql.replace(b"'", b"''") + b"'"
    c = classify(sql)
    depth = 0
    while c.prepared is not None:
        c, depth = c.prepared, depth + 1
    assert 1 <= depth <= 5


@pytest.mark.parametrize(("sql", "verb"), [
    (b"XA START 'x'", "start"), (b"xa begin 'x'", "begin"), (b"XA END 'x'", "end"),
    (b"XA PREPARE 'x'", "prepare"), (b"XA COMMIT 'x' ONE PHASE", "commit"),
    (b"XA ROLLBACK 'x'", "rollback"), (b"XA RECOVER", "recover"),
])
def test_xa_verb(sql: bytes, verb: str) -> None:
    assert classify(sql).name == verb


def test_multi_statement_parts() -> None:
    c = classify(b"CREATE TEMPORARY TABLE tmp (a int); INSERT INTO tmp VALUES (1); SET @x = 1")
    assert c.multi_statement
    assert [p.kind for p in c.parts] == [K.WRITE | K.CREATE_TMP_TABLE, K.WRITE, K.SESSION_WRITE]
    assert c.parts[0].temporary_table == "tmp"
    assert classify(b"SELECT 1").parts == (classify(b"SELECT 1"),)


def test_hint_is_from_the_whole_text() -> None:
    c = classify(b"SELECT 1; SELECT 2 -- maxscale route to master")
    assert c.multi_statement and c.hint is not None


def test_no_backslash_escapes_mode() -> None:
    sql = b"SELECT 'a\\' FROM t FOR UPDATE -- '"
    # With backslash escapes the string runs to the last quote; without, FOR UPDATE is SQL.
    assert not classify(sql).locking_read
    assert classify(sql, no_backslash_escapes=True).locking_read
    multi = b"SELECT 'C:\\'; SELECT 2"
    assert not classify(multi).multi_statement
    assert classify(multi, no_backslash_escapes=True).multi_statement


def test_memoryview_input() -> None:
    assert classify(memoryview(b"SELECT 1 FOR UPDATE")).locking_read  # type: ignore[arg-type]


def test_classification_is_frozen_and_slotted() -> None:
    c = classify(b"SELECT 1")
    with pytest.raises(AttributeError):
        c.kind = K.WRITE  # type: ignore[misc]
    assert not hasattr(c, "__dict__")


# ----------------------------------------------------------------------------- properties

KNOWN_KINDS = K(sum(K))
KNOWN_FEATURES = Feature(sum(Feature))


def _check(c: Classification) -> None:
    assert isinstance(c.kind, StatementKind) and c.kind != K(0)
    assert c.kind & ~KNOWN_KINDS == 0
    assert isinstance(c.features, Feature) and c.features & ~KNOWN_FEATURES == 0
    assert all(isinstance(t, str) for t in c.tables)
    for part in c.parts:
        if part is not c:
            _check(part)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_any_bytes_classify_without_error(data: bytes) -> None:
    _check(_classify(data, False))
    _check(_classify(data, True))
    _check(classify(data))


SQL_PIECES = [b"SELECT", b"select", b"INSERT", b"UPDATE", b"SET", b"BEGIN", b"START",
              b"TRANSACTION", b"READ", b"ONLY", b"FOR", b"UPDATE", b"LOCK", b"IN", b"SHARE",
              b"MODE", b"INTO", b"@a", b"@@identity", b":=", b"(", b")", b",", b";", b"'",
              b'"', b"`", b"\\", b"/*", b"*/", b"/*!", b"/*M!50000", b"-- ", b"--", b"#",
              b"\n", b" ", b"t", b"db.t", b"FROM", b"JOIN", b"LAST_INSERT_ID", b"GET_LOCK",
              b"NEXT", b"VALUE", b"PREPARE", b"EXECUTE", b"IMMEDIATE", b"DROP", b"TABLE",
              b"TEMPORARY", b"CREATE", b"WITH", b"AS", b"XA", b"SHOW", b"MASTER", b"STATUS",
              b"maxscale", b"route", b"to", b"server", b"1", b"'x'", b"\x00", b"\xff",
              b"STATEMENT", b"autocommit", b"=", b"CALL", b"NOT", b"ATOMIC", b"END"]


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(SQL_PIECES), max_size=25), st.booleans())
def test_sql_like_input_classifies_without_error(pieces: list[bytes], nbe: bool) -> None:
    sql = b" ".join(pieces)
    _check(_classify(sql, nbe))
    _check(_classify(b"".join(pieces), nbe))


PLAIN_ROWS = [r for r in ROWS if not any(ch in r.sql for ch in b"'\"`#-/\\")]


def test_plain_rows_are_many() -> None:
    assert len(PLAIN_ROWS) > 100


@settings(max_examples=300)
@given(st.sampled_from(PLAIN_ROWS),
       st.sampled_from([b"  ", b"\n", b"\t", b" /* c */ ", b" -- c\n", b" # c\n", b"\r\n "]))
def test_whitespace_and_comments_between_tokens_change_nothing(row: Row, gap: bytes) -> None:
    a, b = classify(row.sql), classify(row.sql.replace(b" ", gap))
    assert (a.kind, a.features, a.tables) == (b.kind, b.features, b.tables)


@settings(max_examples=300)
@given(st.sampled_from(PLAIN_ROWS), st.lists(st.booleans(), min_size=200, max_size=200))
def test_letter_case_changes_nothing(row: Row, flips: list[bool]) -> None:
    flipped = bytes(ch ^ 0x20 if flip and (65 <= ch <= 90 or 97 <= ch <= 122) else ch
                    for ch, flip in zip(row.sql, flips + [False] * len(row.sql), strict=False))
    a, b = classify(row.sql), classify(flipped)
    assert (a.kind, a.features, a.tables) == (b.kind, b.features, b.tables)


def test_fast_constructor_builds_what_init_builds() -> None:
    from interlock.sql.kinds import Detail, make_classification

    args = (K.READ | K.SHOW, Feature.LOCKING_READ, None, Detail(name="x"), [b"SELECT"], ("t",))
    fast, slow = make_classification(*args), Classification(*args)
    assert fast == slow and repr(fast) == repr(slow) and hash(fast) == hash(slow)
    assert fast.tables == ("t",)
    lazy = make_classification(K.READ, Feature.NONE, None, None, [b"SELECT", b"*", b"FROM",
                                                                   b"T"], None)
    assert lazy.tables == ("t",) and lazy.tables is lazy.tables  # computed once, then cached
