"""The operation intent record and the new leader's decision (cluster/operation.py, pure)."""

from __future__ import annotations

import pytest

from interlock.cluster.operation import (
    OperationIntent,
    Resolution,
    ServerFacts,
    decide_takeover,
    intent_for,
)
from interlock.monitor.gtid import GtidList
from interlock.monitor.steps import Plan, PlanKind, Step, StepKind

POS = GtidList.parse("0-1-100")


def intent(kind: str = "switchover", last_done: int = 8, touches: int = 9) -> OperationIntent:
    return OperationIntent(kind, "server1", "server2", "ilA#7.1", "ilA", 16, touches, 13,
                           last_done, 1.0)


def up(name: str, read_only: bool = True, binlog: str = "0-1-100",
       current: str = "0-1-100") -> ServerFacts:
    return ServerFacts(name, True, read_only, GtidList.parse(binlog), GtidList.parse(current))


def down(name: str) -> ServerFacts:
    return ServerFacts(name, False)


def facts(*servers: ServerFacts) -> dict[str, ServerFacts]:
    return {s.name: s for s in servers}


def test_record_round_trip_and_progress() -> None:
    record = intent(last_done=-1)
    assert OperationIntent.from_json(record.to_json()) == record
    moved = record.advanced(4).advanced(3)
    assert moved.last_done == 4  # never goes back
    assert "5/16 step(s) done" in moved.describe()
    with pytest.raises(ValueError, match="unreadable"):
        OperationIntent.from_json(b'{"kind": "switchover"}')


def test_intent_of_a_plan_finds_the_first_step_touching_the_new_primary() -> None:
    steps = (Step(StepKind.CHECK_REPLICATING, "server2", "check", 1.0),
             Step(StepKind.HOLD_WRITES, "server1", "hold", 1.0),
             Step(StepKind.SQL, "server1", "fence", 1.0, ("SET GLOBAL read_only=1",)),
             Step(StepKind.WAIT_GTID, "server2", "wait", 1.0),
             Step(StepKind.SQL, "server2", "stop", 1.0, ("STOP SLAVE",)))
    plan = Plan(PlanKind.SWITCHOVER, "server2", "server1", steps, 4)
    record = intent_for(plan, "ilA", "ilA#3.1", 5.0)
    assert (record.kind, record.old, record.new, record.steps) == ("switchover", "server1",
                                                                   "server2", 5)
    assert record.touches_new_from == 4 and record.last_done == -1
    assert not record.advanced(2).may_have_touched_new()
    assert record.advanced(3).may_have_touched_new()  # step 4 may have run, partly


def test_fenced_not_promoted_and_old_has_everything_rolls_back() -> None:
    decision = decide_takeover(intent(), facts(up("server1"), up("server2"), up("server3")))
    assert decision.verdict is Resolution.ROLLBACK and decision.primary == "server1"
    assert "has every transaction" in decision.reason


def test_new_primary_writable_completes() -> None:
    decision = decide_takeover(intent(last_done=11),
                               facts(up("server1"), up("server2", read_only=False),
                                     up("server3")))
    assert decision.verdict is Resolution.COMPLETE and decision.primary == "server2"
    # the old primary unreachable does not change that: only server2 is writable
    decision = decide_takeover(intent(last_done=11),
                               facts(down("server1"), up("server2", read_only=False)))
    assert decision.verdict is Resolution.COMPLETE


def test_old_primary_still_writable_stays() -> None:
    decision = decide_takeover(intent(last_done=1),
                               facts(up("server1", read_only=False), up("server2")))
    assert decision.verdict is Resolution.ROLLBACK and decision.primary == "server1"


def test_two_writable_is_left_for_a_person() -> None:
    decision = decide_takeover(intent(), facts(up("server1", read_only=False),
                                               up("server2", read_only=False)))
    assert decision.verdict is Resolution.MANUAL and decision.primary is None
    assert "server1 and server2 are all writable" in decision.reason
    assert "read_only=1" in decision.todo
    assert "left for a person" in decision.describe(intent())


def test_a_server_ahead_of_the_old_primary_is_left_for_a_person() -> None:
    decision = decide_takeover(intent(), facts(up("server1"), up("server2"),
                                               up("server3", current="0-3-101")))
    assert decision.verdict is Resolution.MANUAL
    assert "server3 has transactions the old primary server1 does not have" in decision.reason
    assert "0-3-101" in decision.reason


def test_old_primary_unreachable_is_left_for_a_person() -> None:
    decision = decide_takeover(intent(), facts(down("server1"), up("server2")))
    assert decision.verdict is Resolution.MANUAL
    assert "server1 is unreachable" in decision.reason and "failover" in decision.todo


def test_new_primary_unreachable_after_it_may_have_been_touched() -> None:
    touched = decide_takeover(intent(last_done=8, touches=9),
                              facts(up("server1"), down("server2")))
    assert touched.verdict is Resolution.MANUAL and "may already have" in touched.reason
    untouched = decide_takeover(intent(last_done=3, touches=9),
                                facts(up("server1"), down("server2")))
    assert untouched.verdict is Resolution.ROLLBACK and untouched.primary == "server1"


def test_failover_left_before_the_candidate_was_touched_is_cleared() -> None:
    cleared = decide_takeover(intent("failover", last_done=-1, touches=1),
                              facts(down("server1"), up("server2")))
    assert cleared.verdict is Resolution.CLEAR and cleared.primary is None
    touched = decide_takeover(intent("failover", last_done=1, touches=1),
                              facts(down("server1"), up("server2")))
    assert touched.verdict is Resolution.MANUAL and "failover" in touched.todo
