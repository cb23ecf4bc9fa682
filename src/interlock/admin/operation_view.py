"""A monitor's cluster operation as the admin API shows it (``attributes.operation`` of
``GET /v1/monitors/{name}``, the ``interlock_monitor_operation_pending`` metric).

With ``cluster=etcd`` the leader records the intent of a switchover or failover under its
election key before the first step and after each one (:mod:`interlock.cluster.operation`);
the record stays when the leader dies mid-plan, until a new leader completes or rolls it back,
or as long as the new leader leaves it to a person.  Every instance reads that record when
asked (one etcd read, bounded by :data:`RECORD_TIMEOUT`), so a follower shows what the leader
does.  ``state`` says whether the instance that wrote it still leads (``running``: it is under
way) or not (``left``: a previous leader left it); a left record carries ``decision``, what
the takeover rule (:func:`~interlock.cluster.operation.decide_takeover`) says about it from the
servers as this instance's latest tick saw them: on the leader that is the leader's own
decision, on a follower the same pure rule on the follower's probes (``by_leader`` false).

Without a cluster store there is no record; the monitor tracks one thing about a running
operation: a switchover holds writes (``WriteGate.held``) while it moves the primary, so that
is shown as a running switchover whose servers and steps are not known (null).  When etcd
cannot be read and this instance knows nothing itself, ``state`` is ``unknown`` with the error.

:func:`intent_json`, :func:`write_hold_json`, :func:`unknown_json` and :func:`pending` are pure.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from interlock.admin.resources.common import iso
from interlock.cluster.leadership import instance_name_of
from interlock.cluster.operation import OperationIntent, OperationStore, TakeoverDecision
from interlock.errors import ClusterError

if TYPE_CHECKING:
    from interlock.monitor.loop import MonitorRuntime
    from interlock.server.app import Proxy

JsonObject = dict[str, Any]

#: seconds a request waits for etcd to read the record
RECORD_TIMEOUT = 2.0

_EMPTY: JsonObject = {"kind": None, "from": None, "to": None, "plan_id": None, "instance": None,
                      "steps_done": None, "steps": None, "new_primary_touched": None,
                      "started": None, "decision": None}


def decision_json(decision: TakeoverDecision, judged_by: str, by_leader: bool) -> JsonObject:
    return {"verdict": decision.verdict.name.lower(), "text": decision.verdict.value,
            "reason": decision.reason, "todo": decision.todo or None,
            "judged_by": judged_by, "by_leader": by_leader}


def intent_json(intent: OperationIntent, running: bool, decision: JsonObject | None = None,
                source: str = "etcd", error: str | None = None) -> JsonObject:
    """A recorded intent; ``running``: the instance that wrote it still leads."""
    return {"kind": intent.kind, "from": intent.old or None, "to": intent.new,
            "plan_id": intent.plan_id, "instance": intent.instance,
            "steps_done": intent.last_done + 1, "steps": intent.steps,
            "new_primary_touched": intent.may_have_touched_new(),
            "started": iso(intent.started) if intent.started else None,
            "state": "running" if running else "left",
            "decision": None if running else decision, "source": source, "error": error}


def write_hold_json(instance: str) -> JsonObject:
    """No cluster store: this instance's switchover holds writes right now."""
    return {**_EMPTY, "kind": "switchover", "instance": instance, "state": "running",
            "source": "local", "error": None}


def unknown_json(error: str) -> JsonObject:
    """etcd could not be read and this instance knows of no operation itself."""
    return {**_EMPTY, "state": "unknown", "source": "local", "error": error}


def pending(operation: JsonObject | None) -> int | None:
    """The metric's value: 1 an operation stands (running or left), 0 none, None unknown."""
    if operation is None:
        return 0
    return None if operation.get("state") == "unknown" else 1


async def operation_of(proxy: Proxy, monitor: MonitorRuntime) -> JsonObject | None:
    """What this instance knows of ``monitor``'s operation now (see the module doc)."""
    leadership = monitor.leadership
    if leadership is None:
        held = monitor.gate.held
        return write_hold_json(instance_name_of(proxy.config.global_)) if held else None
    standing = monitor.standing_operation
    store = getattr(leadership, "operations", None)
    intent: OperationIntent | None = None
    error: str | None = None
    if isinstance(store, OperationStore):
        ok, detail = proxy.cluster_ok()
        if not ok:
            error = detail
        else:
            try:
                async with asyncio.timeout(RECORD_TIMEOUT):
                    intent = await store.read()
            except (ClusterError, TimeoutError) as exc:
                error = f"reading the operation record in etcd: {exc or 'no answer in time'}"
    else:
        error = "this instance has no operation record store"
    source = "etcd"
    if error is not None:
        if standing is None:
            return unknown_json(error)
        intent, source = standing, "local"
    if intent is None:
        return None
    leads = monitor.leads()
    leader = leadership.instance if leads else (
        leadership.leader.instance if leadership.leader is not None else None)
    running = intent.instance == leader and (standing is None
                                             or standing.plan_id != intent.plan_id)
    decision = None
    if not running and (judged := monitor.judge_operation(intent)) is not None:
        decision = decision_json(judged, leadership.instance, leads)
    return intent_json(intent, running, decision, source, error)


async def operations_of(proxy: Proxy) -> dict[str, JsonObject | None]:
    """Every monitor's operation (the records read concurrently)."""
    monitors = list(proxy.monitors.values())
    found = await asyncio.gather(*(operation_of(proxy, m) for m in monitors))
    return {m.name: op for m, op in zip(monitors, found, strict=True)}
