"""GTID lists: parse/format, per-domain order, prefix checks, divergence, most advanced."""

from __future__ import annotations

import pytest

from interlock.monitor.errors import GtidParseError
from interlock.monitor.gtid import (
    Gtid,
    GtidList,
    ahead_of,
    compare_domain,
    most_advanced,
    parse_gtid,
    prefix_check,
)
from interlock.routing.causal import GtidPosition

P = GtidList.parse


def test_parse_and_format_round_trip() -> None:
    text = "0-1-100,1-2-5,7-3-9"
    assert str(P(text)) == text
    assert P("1-2-5, 0-1-100") == P("0-1-100,1-2-5")  # ordered by domain
    assert P("0-1-5,\n1-1-6").domains == (0, 1)  # the server wraps long lists
    assert P("") == P(None) == GtidList()
    assert not P("")
    assert P("0-1-3,0-2-9").get(0) == Gtid(0, 2, 9)  # a repeated domain: highest wins


@pytest.mark.parametrize("bad", ["0-1", "a-b-c", "0-1-2-3", "0-1-x", "0--1-2"])
def test_malformed_is_a_monitor_error(bad: str) -> None:
    with pytest.raises(GtidParseError, match="malformed"):
        P(bad)
    with pytest.raises(ValueError):
        parse_gtid(bad)


def test_compare_per_domain() -> None:
    a, b = P("0-1-10,1-1-3"), P("0-2-12")
    assert compare_domain(a, b, 0) == -1
    assert compare_domain(b, a, 0) == 1
    assert compare_domain(a, b, 1) == 1  # b has nothing in domain 1
    assert compare_domain(a, a, 0) == 0
    assert compare_domain(a, b, 5) == 0


def test_prefix_when_behind_or_equal() -> None:
    assert prefix_check(P("0-1-10"), P("0-1-12")).ok
    assert prefix_check(P("0-1-12"), P("0-1-12")).ok
    assert prefix_check(P(""), P("0-1-12")).ok
    # the source was promoted and wrote under its own server id: still a prefix
    assert prefix_check(P("0-1-12"), P("0-2-15")).ok
    assert prefix_check(P("0-1-12"), P("0-1-12,1-2-4")).ok


def test_not_prefix_when_ahead_names_the_gtids() -> None:
    check = prefix_check(P("0-1-15"), P("0-2-12"))
    assert not check.ok
    (d,) = check.extra
    assert (d.domain, d.first_sequence, d.last_sequence, d.count) == (0, 13, 15, 3)
    assert d.last == Gtid(0, 1, 15) and d.theirs == Gtid(0, 2, 12)
    assert str(d) == "0-?-13..0-1-15 (3 transactions; the other server has 0-2-12)"
    assert "0-1-15 is not a prefix of 0-2-12" in check.describe()


def test_same_sequence_other_server_is_a_conflict() -> None:
    (d,) = ahead_of(P("0-3-12"), P("0-2-12"))
    assert d.conflict and d.count == 1
    assert "0-3-12" in str(d) and "0-2-12" in str(d)
    assert not prefix_check(P("0-3-12"), P("0-2-12")).ok


def test_domain_missing_from_source() -> None:
    (d,) = ahead_of(P("0-1-10,2-1-4"), P("0-1-10"))
    assert (d.domain, d.first_sequence, d.last_sequence, d.theirs) == (2, 1, 4, None)
    assert "nothing" in str(d)
    assert ahead_of(P("0-1-10"), P("0-1-10,2-1-4")) == ()


def test_single_extra_transaction_formatting() -> None:
    (d,) = ahead_of(P("0-1-13"), P("0-1-12"))
    assert str(d) == "0-1-13 (the other server has 0-1-12)"


def test_most_advanced() -> None:
    cands = {"a": P("0-1-10"), "b": P("0-1-12,1-1-1"), "c": P("0-2-12"), "d": P("1-1-50")}
    assert most_advanced(cands, 0) == ("b", "c")
    assert most_advanced(cands, 1) == ("d",)
    assert most_advanced({}, 0) == ()


def test_covers_merge_and_routing_conversion() -> None:
    a = P("0-1-10,1-1-3")
    assert a.covers(P("0-2-9")) and not a.covers(P("1-1-4"))
    assert str(a.merge(P("0-2-12,2-1-1"))) == "0-2-12,1-1-3,2-1-1"
    pos = a.to_position()
    assert isinstance(pos, GtidPosition) and str(pos) == "0-1-10,1-1-3"
    assert GtidList.from_position(pos) == a
    assert a.sequence(0) == 10 and a.sequence(9) == 0
    assert len(a) == 2 and [g.domain for g in a] == [0, 1]
