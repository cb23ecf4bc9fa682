"""The lexer: tokens, comments, version comments, quoting, statement splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.sql.tokenizer import lex, original_token, tokens, unquote


@pytest.mark.parametrize(("sql", "expected"), [
    (b"select a,b from t", [b"SELECT", b"A", b",", b"B", b"FROM", b"T"]),
    (b"SELECT 'a''b', \"c\\\"d\", `e``f`", [b"SELECT", b"'A''B'", b",", b'"C\\"D"', b",",
                                             b"`E``F`"]),
    (b"SELECT @a:=@@session.x", [b"SELECT", b"@A", b":=", b"@@SESSION.X"]),
    (b"SELECT @'q v', @`b`", [b"SELECT", b"@'Q V'", b",", b"@`B`"]),
    (b"SELECT 1 -- c\n, 2", [b"SELECT", b"1", b"-- C", b",", b"2"]),
    (b"SELECT 1 --1", [b"SELECT", b"1", b"-", b"-", b"1"]),
    (b"SELECT 1 #c\n", [b"SELECT", b"1", b"#C"]),
    (b"SELECT /* x */ 1", [b"SELECT", b"/* X */", b"1"]),
    (b"SELECT /*! 1 */", [b"SELECT", b"/*!", b"1", b"*/"]),
    (b"SELECT /*!50100 1 */", [b"SELECT", b"/*!50100", b"1", b"*/"]),
    (b"SELECT /*M!100100 1 */", [b"SELECT", b"/*M!100100", b"1", b"*/"]),
    (b"SELECT /*m! 1 */", [b"SELECT", b"/*_! 1 */"]),
    (b"SELECT 'unterminated", [b"SELECT", b"'UNTERMINATED"]),
    (b"SELECT 'ends in backslash\\", [b"SELECT", b"'ENDS IN BACKSLASH\\"]),
    (b"SELECT /* unterminated", [b"SELECT", b"/* UNTERMINATED"]),
    (b"SELECT a;b", [b"SELECT", b"A", b";", b"B"]),
    (b"caf\xc3\xa9", [b"CAF\xc3\xa9"]),
])
def test_tokens(sql: bytes, expected: list[bytes]) -> None:
    assert tokens(sql) == expected


def test_no_backslash_escapes_tokens() -> None:
    assert tokens(b"SELECT 'a\\', 'b'", no_backslash_escapes=True) == [
        b"SELECT", b"'A\\'", b",", b"'B'"]
    assert tokens(b"SELECT 'a\\', 'b'") == [b"SELECT", b"'A\\', '", b"B", b"'"]


@pytest.mark.parametrize(("sql", "statements"), [
    (b"SELECT 1", [[b"SELECT", b"1"]]),
    (b"SELECT 1;", [[b"SELECT", b"1"]]),
    (b";;SELECT 1;;", [[b"SELECT", b"1"]]),
    (b"SELECT 1; SELECT 2", [[b"SELECT", b"1"], [b"SELECT", b"2"]]),
    (b"SELECT 1; -- c", [[b"SELECT", b"1"]]),
    (b"SELECT 1 /*! ; 2 */", [[b"SELECT", b"1"], [b"2"]]),
    (b"", [[]]),
    (b"-- c", [[]]),
])
def test_statements(sql: bytes, statements: list[list[bytes]]) -> None:
    assert lex(sql).statements == statements


@pytest.mark.parametrize(("sql", "comment"), [
    (b"SELECT 1", None),
    (b"SELECT 1 -- First\n/* second */", b"-- First"),
    (b"/*First*/ SELECT 1 # second", b"/*First*/"),
    (b"SELECT '/* not */' # Yes", b"# Yes"),
    (b"SELECT /*!50000 1 */ /* c */", b"/* c */"),
])
def test_first_comment_keeps_its_case(sql: bytes, comment: bytes | None) -> None:
    assert lex(sql).comment == comment


@pytest.mark.parametrize(("token", "value"), [
    (b"'a''b'", b"a'b"), (b'"a""b"', b'a"b'), (b"`a``b`", b"a`b"), (b"'a\\'b'", b"a'b"),
    (b"'a\\nb\\tc\\0d\\Ze\\\\f'", b"a\nb\tc\x00d\x1ae\\f"), (b"'\\%\\_'", b"\\%\\_"),
    (b"'\\x'", b"x"), (b"'unterminated", b"unterminated"), (b"word", b"word"),
    (b"`a\\b`", b"a\\b"),
])
def test_unquote(token: bytes, value: bytes) -> None:
    assert unquote(token) == value


def test_unquote_without_backslash_escapes() -> None:
    assert unquote(b"'a\\nb'", no_backslash_escapes=True) == b"a\\nb"


def test_original_token() -> None:
    sql = b"PREPARE s FROM 'Select 1'"
    assert original_token(sql, sql.upper(), b"'SELECT 1'") == b"'Select 1'"
    assert original_token(sql, sql.upper(), b"'NOT THERE'") == b"'NOT THERE'"


@given(st.binary(max_size=300), st.booleans())
def test_lex_never_raises_and_drops_no_sql(data: bytes, nbe: bool) -> None:
    lexed = lex(data, no_backslash_escapes=nbe)
    for statement in lexed.statements:
        assert b";" not in statement
        for token in statement:
            assert token and not token[:1].isspace()


def _no_space(data: bytes) -> bytes:
    return bytes(ch for ch in data if ch not in b" \t\n\r\x0b\x0c")


@given(st.lists(st.sampled_from([b"a", b"'", b'"', b"`", b"\\", b"-- ", b"#", b"/*", b"*/",
                                 b"/*!", b";", b" ", b"\n", b"@", b"1", b"\t"]), max_size=40))
def test_tokens_keep_every_non_space_byte(pieces: list[bytes]) -> None:
    sql = b"".join(pieces)
    assert _no_space(b"".join(tokens(sql))) == _no_space(sql.upper())


@given(st.binary(max_size=200))
def test_tokens_keep_every_non_space_byte_of_any_input(data: bytes) -> None:
    data = data.replace(b"/*m!", b"")
    assert _no_space(b"".join(tokens(data))) == _no_space(data.upper())
