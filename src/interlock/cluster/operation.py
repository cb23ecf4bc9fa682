"""A leader that dies during a cluster operation (issue 9, ``cluster=etcd``).

Before the leader runs a plan that moves the primary (switchover, failover) it records an
*operation intent* at ``<prefix>monitors/<monitor>/operation``: the kind, the old and the new
primary, a plan id, the instance, the number of steps, the index of the first step that
touches the new primary, the point of no return and the index of the last completed step.
Every write is a transaction guarded by the election key (its create revision and lease are
our term), so a deposed leader's write does nothing.  The record is rewritten after each
completed step (one small put) and deleted when the executor is done (completed, or failed
and rolled back by its own undo steps).  When the leader dies or loses its lease mid-plan the
record stays, and the next leader finds it when it wins the election.

The new leader decides from the servers themselves (a fresh tick), never from the record
alone: the record only says which two servers to look at, and whether the new primary may
have been touched.  :func:`decide_takeover` is pure (facts in, decision out):

1. more than one reachable server is writable: **manual** (a person must choose; nothing
   automatic may make it worse);
2. the new primary is writable (so the old one is not, or unreachable): **complete**: route to
   the new primary; point the old primary and every other server at it (the rejoin planner:
   only servers whose GTID position is a prefix of the new primary's binary log);
3. the old primary is writable (the fencing had not happened, or was undone): **roll back**:
   it stays the primary; servers the plan had already moved (the new primary's replication
   stopped or removed) are pointed at it again by the rejoin planner;
4. nobody is writable:
   - a failover whose steps had not touched the candidate yet: **clear** (nothing changed on
     the servers; the usual failover rules decide from the next tick); touched: **manual**;
   - a switchover whose old primary is unreachable: **manual** (``interlock ctl failover``
     after checking);
   - the new primary unreachable and possibly touched by the plan: **manual** (it may have
     been writable and taken writes nobody else has);
   - some reachable server has a transaction the old primary's ``gtid_binlog_pos`` does not:
     **manual**, naming the server and the GTIDs;
   - else **roll back**: the old primary has every transaction the cluster has, so it becomes
     writable again (the only writable server), and the others follow it.

The dead leader's write hold (its ``WriteGate``) died with its process; the new leader's own
gate is not held, so nothing is left to release on the proxy side.  A **manual** decision is
logged and recorded as an event saying why and what a person must do; the record stays (so
``interlock ctl`` can show it) and the leader takes no automatic action on that monitor while
it stands.  The decision is taken again at every tick, so a person's fix on the servers is
picked up; a manual switchover or failover replaces the record with its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from interlock.cluster.codec import Compare, Delete, Put
from interlock.cluster.election import Election
from interlock.cluster.etcd import EtcdClient
from interlock.errors import ClusterError
from interlock.monitor.gtid import EMPTY, GtidList, ahead_of
from interlock.monitor.steps import Plan, PlanKind, StepKind

#: the plan kinds whose intent is recorded (they move the primary)
RECORDED = (PlanKind.SWITCHOVER, PlanKind.FAILOVER)


@dataclass(frozen=True, slots=True)
class OperationIntent:
    """What the leader is doing to the cluster; ``last_done``: index of the last completed
    step (-1: none yet)."""

    kind: str
    old: str
    new: str
    plan_id: str
    instance: str
    steps: int
    touches_new_from: int
    point_of_no_return: int | None
    last_done: int = -1
    started: float = 0.0

    def advanced(self, index: int) -> OperationIntent:
        return replace(self, last_done=max(self.last_done, index))

    def may_have_touched_new(self) -> bool:
        """The step after the last completed one may have run (partly) too."""
        return self.last_done + 1 >= self.touches_new_from

    def describe(self) -> str:
        return (f"{self.kind} of {self.new} (from {self.old}), plan {self.plan_id}, "
                f"{self.last_done + 1}/{self.steps} step(s) done")

    def to_json(self) -> bytes:
        return json.dumps({"kind": self.kind, "old": self.old, "new": self.new,
                           "plan_id": self.plan_id, "instance": self.instance,
                           "steps": self.steps, "touches_new_from": self.touches_new_from,
                           "point_of_no_return": self.point_of_no_return,
                           "last_done": self.last_done, "started": self.started}).encode()

    @classmethod
    def from_json(cls, value: bytes) -> OperationIntent:
        """ValueError when the record cannot be read."""
        try:
            doc = json.loads(value)
            ponr = doc.get("point_of_no_return")
            return cls(str(doc["kind"]), str(doc["old"]), str(doc["new"]), str(doc["plan_id"]),
                       str(doc["instance"]), int(doc["steps"]), int(doc["touches_new_from"]),
                       None if ponr is None else int(ponr), int(doc["last_done"]),
                       float(doc.get("started") or 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable operation record: {exc}") from exc


def intent_for(plan: Plan, instance: str, plan_id: str, started: float) -> OperationIntent:
    """The intent of a switchover/failover plan: the first step that touches the new primary
    is its first SQL step on it (stop its replication, make it writable)."""
    touches = next((i for i, s in enumerate(plan.steps)
                    if s.server == plan.target and s.kind is StepKind.SQL), len(plan.steps))
    return OperationIntent(plan.kind.value, plan.source or "", plan.target, plan_id, instance,
                           len(plan.steps), touches, plan.point_of_no_return, -1, started)


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """One server as the new leader's fresh tick saw it."""

    name: str
    reachable: bool
    read_only: bool = True
    gtid_binlog_pos: GtidList = EMPTY
    gtid_current_pos: GtidList = EMPTY

    @property
    def writable(self) -> bool:
        return self.reachable and not self.read_only


class Resolution(Enum):
    CLEAR = "nothing to do"
    COMPLETE = "completed"
    ROLLBACK = "rolled back"
    MANUAL = "left for a person"


@dataclass(frozen=True, slots=True)
class TakeoverDecision:
    verdict: Resolution
    primary: str | None  # the server that ends up the primary (COMPLETE, ROLLBACK)
    reason: str
    todo: str = ""  # MANUAL: what a person must do

    def describe(self, intent: OperationIntent) -> str:
        text = (f"operation {intent.describe()} left by instance '{intent.instance}': "
                f"{self.verdict.value}: {self.reason}")
        return text + (f". What to do: {self.todo}" if self.todo else "")


def decide_takeover(intent: OperationIntent, facts: Mapping[str, ServerFacts]
                    ) -> TakeoverDecision:
    """What a new leader does with an operation its predecessor left (see the module doc)."""
    clear = "`interlock ctl` shows the record; it is cleared by the next switchover or failover"
    writable = sorted(f.name for f in facts.values() if f.writable)
    if len(writable) > 1:
        return TakeoverDecision(
            Resolution.MANUAL, None, f"{' and '.join(writable)} are all writable",
            f"make all but one read-only (SET GLOBAL read_only=1) after checking which one has "
            f"the writes to keep; {clear}")
    old, new = facts.get(intent.old), facts.get(intent.new)
    if new is not None and new.writable:
        return TakeoverDecision(Resolution.COMPLETE, intent.new,
                                f"{intent.new} is writable and {intent.old} is not")
    if old is not None and old.writable:
        return TakeoverDecision(Resolution.ROLLBACK, intent.old,
                                f"{intent.old} is still the only writable server")
    return _nobody_writable(intent, facts, old, new, clear)


def _nobody_writable(intent: OperationIntent, facts: Mapping[str, ServerFacts],
                     old: ServerFacts | None, new: ServerFacts | None, clear: str
                     ) -> TakeoverDecision:
    touched = intent.may_have_touched_new()
    if intent.kind == PlanKind.FAILOVER.value:
        if not touched:
            return TakeoverDecision(Resolution.CLEAR, None,
                                    f"no step had touched {intent.new} yet: the failover rules "
                                    "decide again from the servers")
        return TakeoverDecision(
            Resolution.MANUAL, None, f"the failover had started changing {intent.new} but it is "
            "not writable",
            f"check {intent.new}'s replication and GTID position, then `interlock ctl failover "
            f"--to {intent.new}` (or another server); {clear}")
    if old is None or not old.reachable:
        return TakeoverDecision(
            Resolution.MANUAL, None, f"the old primary {intent.old} is unreachable and "
            f"{intent.new} was not promoted",
            f"bring {intent.old} back (it is then made writable again) or run "
            f"`interlock ctl failover` once it is known to be down; {clear}")
    if touched and (new is None or not new.reachable):
        return TakeoverDecision(
            Resolution.MANUAL, None, f"{intent.new} is unreachable and the plan may already have "
            "made it writable (it may hold writes no other server has)",
            f"check {intent.new}'s binary log for transactions {intent.old} does not have, "
            f"then make one of them writable by hand; {clear}")
    for name in sorted(facts):
        f = facts[name]
        if not f.reachable or name == intent.old:
            continue
        extra = ahead_of(f.gtid_current_pos, old.gtid_binlog_pos)
        if extra:
            gtids = "; ".join(str(d) for d in extra)
            return TakeoverDecision(
                Resolution.MANUAL, None, f"{name} has transactions the old primary {intent.old} "
                f"does not have ({gtids})",
                f"decide which server has the history to keep and make it writable by hand; "
                f"{clear}")
    return TakeoverDecision(Resolution.ROLLBACK, intent.old,
                            f"{intent.new} was not promoted and {intent.old} has every "
                            "transaction the cluster has")


class OperationStore:
    """The intent record in etcd, written only under our term of the election key."""

    def __init__(self, client: EtcdClient, key: bytes, election: Election) -> None:
        self.client = client
        self.key = key
        self.election = election

    def _guard(self) -> list[Compare]:
        held = self.election.held
        if held is None:
            raise ClusterError("not the leader: the operation record is not written")
        return [Compare.create(self.election.key, held.create_revision),
                Compare.lease(self.election.key, held.lease)]

    async def put(self, intent: OperationIntent) -> None:
        result = await self.client.txn(self._guard(), [Put(self.key, intent.to_json())])
        if not result.succeeded:
            raise ClusterError("not the leader any more: the operation record is not written")

    async def clear(self) -> None:
        result = await self.client.txn(self._guard(), [Delete(self.key)])
        if not result.succeeded:
            raise ClusterError("not the leader any more: the operation record stays")

    async def read(self) -> OperationIntent | None:
        """The record (None: none); ClusterError when etcd cannot be asked or it is
        unreadable."""
        kv = await self.client.get(self.key)
        if kv is None:
            return None
        try:
            return OperationIntent.from_json(kv.value)
        except ValueError as exc:
            raise ClusterError(str(exc)) from exc
