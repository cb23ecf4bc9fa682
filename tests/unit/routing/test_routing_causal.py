"""causal_reads: GTID positions, the wait statement, and the policy's use of them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from routing_helpers import (
    AUTOCOMMIT,
    IN_TRANS,
    IN_TRANS_READONLY,
    Session,
    primary,
    replica,
    topology,
)

from interlock.routing.causal import (
    CausalReads,
    Gtid,
    GtidPosition,
    caught_up,
    is_wait_timeout,
    parse_gtid,
    prefix_query,
    wait_statement,
)
from interlock.routing.decision import Reason, Target
from interlock.routing.errors import GtidError, SettingsError
from interlock.routing.policy import causal_timeout_fallback
from interlock.routing.settings import RouterSettings

# ----------------------------------------------------------------------------- GTIDs


def test_parse_and_format() -> None:
    assert parse_gtid(" 0-1-100 ") == Gtid(0, 1, 100)
    pos = GtidPosition.parse("1-2-5,0-1-100")
    assert str(pos) == "0-1-100,1-2-5"
    assert GtidPosition.parse("") == GtidPosition({}) and not GtidPosition.parse(" ")
    assert str(GtidPosition.parse("0-1-5,0-2-7")) == "0-2-7"  # one per domain: the latest


@pytest.mark.parametrize("text", ["", "0-1", "a-b-c", "0-1-2-3", "-1-2-3", "0-1-2,x"])
def test_malformed(text: str) -> None:
    with pytest.raises(GtidError):
        if "," in text:
            GtidPosition.parse(text)
        else:
            parse_gtid(text)


def test_has_and_covers_compare_sequence_per_domain() -> None:
    pos = GtidPosition.parse("0-1-100,1-2-5")
    assert pos.has(Gtid(0, 1, 100)) and pos.has(Gtid(0, 9, 99))  # server id does not order
    assert not pos.has(Gtid(0, 1, 101)) and not pos.has(Gtid(2, 1, 1))
    assert pos.covers(GtidPosition.parse("0-1-50,1-2-5"))
    assert not pos.covers(GtidPosition.parse("0-1-50,1-2-6"))
    assert pos.covers(GtidPosition.parse(""))
    assert caught_up(pos, GtidPosition.parse("0-1-100"))
    assert not caught_up(None, GtidPosition.parse("0-1-1"))
    assert caught_up(None, GtidPosition.parse(""))


gtids = st.builds(Gtid, st.integers(0, 3), st.integers(1, 5), st.integers(0, 1000))
positions = st.lists(gtids, max_size=5).map(GtidPosition.of)


@given(positions, positions)
def test_merge_covers_both_and_is_commutative(a: GtidPosition, b: GtidPosition) -> None:
    merged = a.merge(b)
    assert merged.covers(a) and merged.covers(b)
    assert merged.covers(b.merge(a)) and b.merge(a).covers(merged)
    assert GtidPosition.parse(str(merged)).covers(merged)


def test_causal_reads_modes_parse() -> None:
    assert CausalReads.parse("LOCAL") is CausalReads.LOCAL
    assert CausalReads.parse("fast_global") is CausalReads.FAST_GLOBAL
    assert CausalReads.parse("true") is CausalReads.LOCAL  # MaxScale's old boolean spelling
    assert CausalReads.parse("off") is CausalReads.NONE
    with pytest.raises(SettingsError):
        CausalReads.parse("sometimes")
    assert CausalReads.LOCAL.waits and not CausalReads.FAST.waits
    assert CausalReads.GLOBAL.service_wide and not CausalReads.LOCAL.service_wide


def test_wait_statement_text() -> None:
    pos = GtidPosition.parse("0-1-100,1-2-5")
    assert wait_statement(pos, 10) == (
        b"SET @interlock_causal_wait=(SELECT CASE WHEN MASTER_GTID_WAIT('0-1-100,1-2-5', 10) = 0 "
        b"THEN 1 ELSE (SELECT 1 FROM INFORMATION_SCHEMA.ENGINES) END)")
    assert b"'0-1-100,1-2-5', 0.25)" in wait_statement(pos, 0.25)
    assert b", 0)" in wait_statement(pos, -1)
    assert prefix_query(b"SELECT 1", pos, 1).endswith(b" END);SELECT 1")
    assert is_wait_timeout(1242) and not is_wait_timeout(1064)


# ----------------------------------------------------------------------------- local

def test_local_waits_only_after_a_write_and_only_once_per_replica() -> None:
    s = Session(topo=topology(primary(), replica("r1"), replica("r2", ops=5)),
                settings=RouterSettings(causal_reads=CausalReads.LOCAL, causal_reads_timeout=3))
    d = s.run(b"SELECT 1")
    assert d.wait_gtid is None
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-42")
    assert str(s.state.causal_gtid) == "0-1-42" and s.state.causal_synced == {"p1"}
    d = s.run(b"SELECT * FROM t")
    assert (d.target, d.server, str(d.wait_gtid), d.causal, d.wait_timeout) == (
        Target.REPLICA, "r1", "0-1-42", CausalReads.LOCAL, 3)
    assert s.state.causal_synced == {"p1", "r1"}
    d = s.run(b"SELECT * FROM t")
    assert d.server == "r1" and d.wait_gtid is None  # r1 is known to have it now
    s.run(b"UPDATE t SET a = 2", last_gtid="0-1-43")
    assert s.route(b"SELECT * FROM t").wait_gtid == GtidPosition.parse("0-1-43")


def test_local_failed_wait_does_not_mark_the_replica() -> None:
    s = Session(settings=RouterSettings(causal_reads=CausalReads.LOCAL))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-42")
    d = s.run(b"SELECT * FROM t", ok=False)
    assert d.wait_gtid is not None
    assert s.state.causal_synced == {"p1"}
    retry = causal_timeout_fallback(d, s.topo)
    assert (retry.target, retry.server, retry.reason) == (Target.PRIMARY, "p1",
                                                         Reason.CAUSAL_TIMEOUT)
    assert retry.fallback


def test_local_ignores_a_malformed_gtid() -> None:
    s = Session(settings=RouterSettings(causal_reads=CausalReads.LOCAL))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="garbage")
    assert not s.state.causal_gtid
    assert s.route(b"SELECT 1").wait_gtid is None


def test_read_only_transaction_start_waits_too() -> None:
    s = Session(settings=RouterSettings(causal_reads=CausalReads.LOCAL))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-7")
    d = s.run(b"START TRANSACTION READ ONLY", status=IN_TRANS | IN_TRANS_READONLY | AUTOCOMMIT)
    assert d.target is Target.REPLICA and str(d.wait_gtid) == "0-1-7"
    assert s.route(b"SELECT 1").wait_gtid is None  # inside the transaction: no more waits


def test_writes_and_primary_reads_never_wait() -> None:
    s = Session(settings=RouterSettings(causal_reads=CausalReads.LOCAL))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-7")
    assert s.route(b"INSERT INTO t VALUES (2)").wait_gtid is None
    assert s.route(b"SELECT * FROM t FOR UPDATE").wait_gtid is None
    s2 = Session(topo=topology(primary()), settings=RouterSettings(causal_reads=CausalReads.LOCAL))
    s2.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-7")
    assert s2.route(b"SELECT 1").wait_gtid is None


# ----------------------------------------------------------------------------- global

def test_global_waits_for_the_service_position_on_every_read() -> None:
    topo = topology(primary(gtid="0-1-500"), replica("r1"))
    s = Session(topo=topo, settings=RouterSettings(causal_reads=CausalReads.GLOBAL))
    d = s.run(b"SELECT 1")
    assert str(d.wait_gtid) == "0-1-500" and d.causal is CausalReads.GLOBAL
    d = s.run(b"SELECT 1")
    assert str(d.wait_gtid) == "0-1-500"  # no per-replica shortcut for the service position
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="1-1-3")
    assert str(s.route(b"SELECT 1").wait_gtid) == "0-1-500,1-1-3"
    s.topo = topology(primary(gtid="0-1-500"), replica("r1"), global_gtid="0-1-600")
    assert str(s.route(b"SELECT 1").wait_gtid) == "0-1-600,1-1-3"


def test_global_without_any_known_position_does_not_wait() -> None:
    s = Session(settings=RouterSettings(causal_reads=CausalReads.GLOBAL))
    assert s.route(b"SELECT 1").wait_gtid is None


# ----------------------------------------------------------------------------- fast

def test_fast_uses_only_replicas_known_to_have_the_write() -> None:
    topo = topology(primary(), replica("r1", gtid="0-1-10"), replica("r2", gtid="0-1-50"))
    s = Session(topo=topo, settings=RouterSettings(causal_reads=CausalReads.FAST))
    assert {s.route(b"SELECT 1").server for _ in range(30)} == {"r1", "r2"}
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-40")
    for _ in range(10):
        d = s.route(b"SELECT 1")
        assert (d.server, d.wait_gtid, d.causal) == ("r2", None, CausalReads.FAST)
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-60")
    d = s.route(b"SELECT 1")
    assert (d.target, d.server, d.reason) == (Target.PRIMARY, "p1", Reason.CAUSAL_FALLBACK)
    assert d.fallback


def test_fast_with_no_replicas_at_all_is_a_plain_fallback() -> None:
    s = Session(topo=topology(primary()), settings=RouterSettings(causal_reads=CausalReads.FAST))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-60")
    assert s.route(b"SELECT 1").reason is Reason.NO_USABLE_REPLICA


def test_fast_global_filters_by_the_service_position() -> None:
    topo = topology(primary(gtid="0-1-50"), replica("r1", gtid="0-1-10"),
                    replica("r2", gtid="0-1-50"))
    s = Session(topo=topo, settings=RouterSettings(causal_reads=CausalReads.FAST_GLOBAL))
    assert {s.route(b"SELECT 1").server for _ in range(10)} == {"r2"}


def test_fast_with_master_accept_reads_can_pick_the_primary() -> None:
    topo = topology(primary(), replica("r1", gtid="0-1-10"))
    s = Session(topo=topo, settings=RouterSettings(causal_reads=CausalReads.FAST,
                                                   master_accept_reads=True))
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-40")
    d = s.route(b"SELECT 1")
    assert (d.target, d.reason) == (Target.PRIMARY, Reason.CAUSAL_FALLBACK)
