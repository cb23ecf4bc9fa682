"""Routing hints in comments (MaxScale hintfilter syntax and Interlock's spelling)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.sql.classifier import classify
from interlock.sql.hints import (
    Hint,
    HintAction,
    HintDirective,
    HintRoute,
    comment_body,
    parse_hint_comment,
)

USE, DEFINE, PUSH, POP = HintAction.USE, HintAction.DEFINE, HintAction.PUSH, HintAction.POP
MASTER, SLAVE = Hint(HintRoute.MASTER), Hint(HintRoute.SLAVE)


@pytest.mark.parametrize(("comment", "expected"), [
    (b"-- maxscale route to master", HintDirective(USE, MASTER)),
    (b"-- maxscale route to slave", HintDirective(USE, SLAVE)),
    (b"-- maxscale route to last", HintDirective(USE, Hint(HintRoute.LAST))),
    (b"-- maxscale route to server db-2.eu", HintDirective(USE, Hint(HintRoute.SERVER, "db-2.eu"))),
    (b"-- maxscale route to server Srv1", HintDirective(USE, Hint(HintRoute.SERVER, "Srv1"))),
    (b"# maxscale route to master", HintDirective(USE, MASTER)),
    (b"/* maxscale route to master */", HintDirective(USE, MASTER)),
    (b"/*maxscale route to master*/", HintDirective(USE, MASTER)),
    (b"/* maxscale route to master", HintDirective(USE, MASTER)),  # unterminated
    (b"-- MAXSCALE Route To Slave", HintDirective(USE, SLAVE)),
    (b"-- interlock route to master", HintDirective(USE, MASTER)),
    (b"-- interlock route to primary", HintDirective(USE, MASTER)),
    (b"-- interlock route to replica", HintDirective(USE, SLAVE)),
    (b"-- maxscale   route\tto   master  ", HintDirective(USE, MASTER)),
    (b"-- maxscale max_slave_replication_lag=5", HintDirective(USE, Hint(max_replication_lag=5))),
    (b"-- maxscale max_slave_replication_lag = 2.5",
     HintDirective(USE, Hint(max_replication_lag=2.5))),
    (b"-- interlock max_replication_lag=1", HintDirective(USE, Hint(max_replication_lag=1))),
    (b"-- maxscale h1 prepare route to master", HintDirective(DEFINE, MASTER, "h1")),
    (b"-- maxscale h1 begin", HintDirective(PUSH, None, "h1")),
    (b"-- maxscale begin route to slave", HintDirective(PUSH, SLAVE)),
    (b"-- maxscale end", HintDirective(POP)),
])
def test_parse(comment: bytes, expected: HintDirective) -> None:
    assert parse_hint_comment(comment) == expected


@pytest.mark.parametrize("comment", [
    b"-- route to master", b"-- maxscale", b"-- maxscale route to", b"-- maxscale route master",
    b"-- maxscale route to nowhere", b"-- maxscale route to server",
    b"-- maxscale route to server a b",
    b"-- maxscale max_slave_replication_lag=x", b"-- maxscale something=5", b"-- maxscale begin",
    b"-- maxscale end now", b"-- maxscale h1 prepare", b"-- maxscaleroute to master",
    b"-- proxysql route to master", b"/* a comment */",
])
def test_not_a_hint(comment: bytes) -> None:
    assert parse_hint_comment(comment) is None


def test_comment_body() -> None:
    assert comment_body(b"/* x */") == "x"
    assert comment_body(b"-- x") == "x"
    assert comment_body(b"# x") == "x"
    assert comment_body(b"/**/") == ""


@pytest.mark.parametrize(("sql", "has_hint"), [
    (b"SELECT 1 -- maxscale route to master", True),
    (b"SELECT 1; -- maxscale route to master", True),
    (b"SELECT @@hostname /* maxscale route to master */ ;", True),
    (b"/* maxscale route to master */ SELECT 1", True),
    (b"SELECT 1 /* other */ /* maxscale route to master */", False),  # only the first comment
    (b"SELECT '/* maxscale route to master */'", False),
    (b"SELECT 1 /*! maxscale route to master */", False),  # executable, not a comment
    (b"SELECT 1 --maxscale route to master", False),  # not a comment without the space
])
def test_only_the_first_comment_of_a_statement(sql: bytes, has_hint: bool) -> None:
    assert (classify(sql).hint is not None) is has_hint


def test_server_name_keeps_its_case_through_the_classifier() -> None:
    hint = classify(b"SELECT 1 -- MaxScale route to server MyServer").hint
    assert hint == HintDirective(USE, Hint(HintRoute.SERVER, "MyServer"))


@given(st.binary(max_size=80))
def test_never_raises(data: bytes) -> None:
    parse_hint_comment(b"-- maxscale " + data)
    parse_hint_comment(b"/* interlock " + data)
    parse_hint_comment(data)
