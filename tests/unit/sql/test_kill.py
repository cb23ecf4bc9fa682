from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.sql.kill import KillKind, looks_like_kill, parse_kill

C, Q = KillKind.CONNECTION, KillKind.QUERY

RECOGNISED: list[tuple[bytes, KillKind, int, bool | None]] = [
    (b"KILL 5", C, 5, None),
    (b"kill 5", C, 5, None),
    (b"KILL CONNECTION 5", C, 5, None),
    (b"KILL QUERY 5", Q, 5, None),
    (b"kill query 1073741825", Q, 1073741825, None),
    (b"Kill Connection 7;", C, 7, None),
    (b"KILL QUERY 5 ;  ", Q, 5, None),
    (b"KILL SOFT QUERY 5", Q, 5, False),
    (b"KILL HARD QUERY 5", Q, 5, True),
    (b"KILL HARD 9", C, 9, True),
    (b"KILL SOFT CONNECTION 9", C, 9, False),
    (b"  \n\tKILL QUERY 5", Q, 5, None),
    (b"/* from app */ KILL QUERY 5", Q, 5, None),
    (b"-- note\nKILL QUERY 5", Q, 5, None),
    (b"# note\nKILL QUERY 5", Q, 5, None),
    (b"KILL /* c */ QUERY /* c */ 5 /* c */;", Q, 5, None),
    (b"KILL\nQUERY\n5\n", Q, 5, None),
    (b"KILL QUERY 5; -- trailing comment", Q, 5, None),
]

NOT_RECOGNISED: list[bytes] = [
    b"SELECT 1",
    b"KILL",
    b"KILL QUERY",
    b"KILL QUERY ID 5",  # a query id, not a thread id
    b"KILL USER app",
    b"KILL CONNECTION_ID()",
    b"KILL QUERY 5 + 1",
    b"KILL QUERY 5x",
    b"KILL QUERY 5.0",
    b"KILL QUERY 5; SELECT 1",
    b"KILL QUERY -5",
    b"/*! KILL QUERY 5 */",
    b"/*!KILL*/ QUERY 5",
    b"KILLQUERY 5",
    b"SKILL 5",
    b"SELECT 'KILL 5'",
    b"/* unterminated KILL 5",
    b"--KILL 5",
]


@pytest.mark.parametrize(("text", "kind", "thread_id", "hard"), RECOGNISED)
def test_recognised(text: bytes, kind: KillKind, thread_id: int, hard: bool | None) -> None:
    stmt = parse_kill(text)
    assert stmt is not None
    assert (stmt.kind, stmt.thread_id, stmt.hard) == (kind, thread_id, hard)
    assert looks_like_kill(text)


@pytest.mark.parametrize("text", NOT_RECOGNISED)
def test_not_recognised(text: bytes) -> None:
    assert parse_kill(text) is None


def test_with_thread_id_keeps_the_rest_of_the_text() -> None:
    stmt = parse_kill(b"/* x */ kill soft query 1073741825 ;")
    assert stmt is not None
    assert stmt.with_thread_id(42) == b"/* x */ kill soft query 42 ;"


def test_prefilter_rejects_long_and_unrelated_text() -> None:
    assert not looks_like_kill(b"SELECT 1")
    assert not looks_like_kill(b"KILL " + b" " * 5000 + b"5")
    assert parse_kill(b"KILL " + b" " * 5000 + b"5") is None


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    stmt = parse_kill(data)
    if stmt is not None:
        assert stmt.with_thread_id(stmt.thread_id) == data


@given(st.integers(min_value=0, max_value=2**64), st.sampled_from([b"", b"QUERY ", b"CONNECTION "]))
def test_round_trip_ids(thread_id: int, word: bytes) -> None:
    stmt = parse_kill(b"KILL " + word + str(thread_id).encode())
    assert stmt is not None
    assert stmt.thread_id == thread_id
