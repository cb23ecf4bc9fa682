"""A monitor's cluster operation as the API, ``interlock ctl`` and /metrics show it (the pure
parts: admin/operation_view.py, ctl/fields.py, the metric family)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from interlock.admin.ctl import fields
from interlock.admin.ctl.tables import render
from interlock.admin.metrics import Family, monitor_families
from interlock.admin.metrics import render as render_metrics
from interlock.admin.operation_view import (
    decision_json,
    intent_json,
    pending,
    unknown_json,
    write_hold_json,
)
from interlock.cluster.operation import (
    OperationIntent,
    Resolution,
    ServerFacts,
    TakeoverDecision,
    decide_takeover,
)

INTENT = OperationIntent("switchover", "server1", "server2", "ilA#7.1", "ilA", 16, 10, 12,
                         last_done=8, started=1_800_000_000.0)


def monitor(operation: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": "Replication-Monitor", "type": "monitors",
            "attributes": {"state": "Running", "operation": operation},
            "relationships": {"servers": {"data": [{"id": "server1"}, {"id": "server2"}]}}}


def test_a_running_intent_names_kind_servers_step_writer_and_start() -> None:
    op = intent_json(INTENT, running=True)
    assert op == {"kind": "switchover", "from": "server1", "to": "server2",
                  "plan_id": "ilA#7.1", "instance": "ilA", "steps_done": 9, "steps": 16,
                  "new_primary_touched": False, "started": "2027-01-15T08:00:00.000+00:00",
                  "state": "running", "decision": None, "source": "etcd", "error": None}
    assert pending(op) == 1


def test_a_running_intent_never_carries_a_takeover_decision() -> None:
    decision = decision_json(TakeoverDecision(Resolution.MANUAL, None, "why", "fix"), "ilB",
                             True)
    assert intent_json(INTENT, running=True, decision=decision)["decision"] is None


def test_a_left_intent_carries_the_decision_and_why() -> None:
    facts = {"server1": ServerFacts("server1", True, read_only=False),
             "server2": ServerFacts("server2", True, read_only=False),
             "server3": ServerFacts("server3", True)}
    decided = decide_takeover(INTENT, facts)
    op = intent_json(INTENT, running=False, decision=decision_json(decided, "ilB", True))
    assert op["state"] == "left"
    assert op["decision"] == {"verdict": "manual", "text": "left for a person",
                              "reason": "server1 and server2 are all writable",
                              "todo": decided.todo, "judged_by": "ilB", "by_leader": True}
    assert "read_only=1" in op["decision"]["todo"]


def test_no_intent_is_zero_an_unknown_one_is_no_sample() -> None:
    assert pending(None) == 0
    assert pending(unknown_json("cut off from etcd")) is None
    hold = write_hold_json("host:8989")
    assert (hold["kind"], hold["state"], hold["to"], hold["steps"]) == (
        "switchover", "running", None, None)
    assert pending(hold) == 1


def test_show_monitor_prints_the_operation_line() -> None:
    decided = TakeoverDecision(Resolution.MANUAL, None, "server1 and server2 are all writable",
                               "make all but one read-only")
    op = intent_json(INTENT, running=False, decision=decision_json(decided, "ilB", True))
    shown = dict(fields.fields(fields.SHOW_MONITOR, monitor(op)).rows)
    assert shown["Operation"] == (
        "switchover server1 -> server2 left by ilA, 9/16 step(s) done (plan ilA#7.1, started "
        "2027-01-15T08:00:00.000+00:00); the leader ilB decides: left for a person: server1 "
        "and server2 are all writable. What to do: make all but one read-only")
    follower = intent_json(INTENT, running=False, decision=decision_json(decided, "ilC", False))
    assert "as ilC sees the servers: left for a person" in fields.operation_text(
        monitor(follower))
    running = fields.operation_text(monitor(intent_json(INTENT, running=True)))
    assert running.startswith("switchover server1 -> server2 under way by ilA, 9/16 step(s)")
    assert fields.operation_text(monitor(write_hold_json("h:1"))) == (
        "switchover under way by h:1 (writes held)")
    assert fields.operation_text(monitor(unknown_json("no answer"))) == "unknown: no answer"


def test_show_monitor_prints_a_dash_without_an_operation() -> None:
    shown = fields.fields(fields.SHOW_MONITOR, monitor(None))
    assert ("Operation", "-") in shown.rows
    line = next(t for t in render(shown).splitlines() if "Operation" in t)
    assert line.split("│")[1:3] == [" Operation           ", " -                   "]
    # a server that does not know the attribute (MaxScale): a dash too
    assert fields.operation_text({"id": "m", "attributes": {}}) == "-"


def test_list_monitors_has_a_short_operation_column() -> None:
    decided = TakeoverDecision(Resolution.MANUAL, None, "r", "t")
    rows = [monitor(None), monitor(intent_json(INTENT, running=True)),
            monitor(intent_json(INTENT, running=False,
                                decision=decision_json(decided, "ilB", True))),
            monitor(unknown_json("x"))]
    table = fields.table(fields.LIST_MONITORS, rows)
    assert table.headers == ("Monitor", "State", "Servers", "Operation")
    assert [r[3] for r in table.rows] == ["-", "switchover 9/16 running",
                                          "switchover 9/16 left for a person", "unknown"]


def test_the_metric_is_one_per_monitor_with_a_known_answer() -> None:
    proxy: Any = SimpleNamespace(monitors={})
    families = {f.name: f for f in monitor_families(proxy, {"a": 1, "b": 0, "c": None})}
    family: Family = families["monitor_operation_pending"]
    text = render_metrics([family])
    assert 'interlock_monitor_operation_pending{monitor="a"} 1' in text
    assert 'interlock_monitor_operation_pending{monitor="b"} 0' in text
    assert 'monitor="c"' not in text
    assert "# TYPE interlock_monitor_operation_pending gauge" in text
