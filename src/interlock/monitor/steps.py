"""The plan model: immutable lists of steps an executor runs one by one (pure).

A :class:`Plan` is a tuple of :class:`Step` values.  The executor (I/O, later) runs them in
order; between two steps it may check anything it must (under etcd leadership: that it still
holds the lease) and abort.  Each step names its server, what to do (a :class:`StepKind`: SQL
to send, or a check/wait the executor performs as documented on the kind), a timeout, a
human description and, where one exists, the ``undo`` step that reverses it.  When a step fails
or times out, the executor runs :func:`rollback_steps` (the undo steps of what was started, in
reverse order) and reports which step failed and why.

Values only known while the plan runs (the old primary's final ``gtid_binlog_pos``) flow
through a context: a step with ``output`` stores what it read under that key, and ``${key}`` in
a later step's SQL is replaced by that value as a SQL string literal (:func:`render_sql`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from interlock.monitor.errors import MonitorError
from interlock.monitor.sqltext import quote, redact


class StepKind(Enum):
    """What the executor does for a step."""

    #: send each of ``sql`` in order on ``server``; any error fails the step
    SQL = "sql"
    #: poll ``server`` (SHOW ALL SLAVES STATUS + @@gtid_current_pos) until its gtid_current_pos
    #: covers the Gtid_IO_Pos of connection ``param('connection')``: the relay log is applied
    WAIT_RELAY_APPLIED = "wait_relay_applied"
    #: read SQL_PROCESSLIST on ``server``; ``KILL CONNECTION id`` for each of
    #: observations.client_connections(rows, keep_users=param('keep_users').split(',')); repeat
    #: until none remain (error 1094 "unknown thread": already gone, not an error)
    KILL_CLIENTS = "kill_clients"
    #: poll ``sql`` on ``server`` (one row, one column: the number of client transactions
    #: still open there) every ~20 ms until it is 0 or ``timeout`` has passed; transactions
    #: left are not an error (the KILL_CLIENTS step after it ends them); logs the time taken
    #: and the count left
    DRAIN = "drain"
    #: ``SELECT @@gtid_binlog_pos``; the value goes to the context under ``output``
    READ_GTID = "read_gtid"
    #: run ``sql`` (a MASTER_GTID_WAIT select); a result other than 0 fails the step
    WAIT_GTID = "wait_gtid"
    #: SHOW ALL SLAVES STATUS on ``server``: connection ``param('connection')`` points at
    #: ``param('source')`` (host:port), IO Yes and SQL Yes, Seconds_Behind_Master <=
    #: ``param('max_lag')`` when given; polled until true or the timeout
    CHECK_REPLICATING = "check_replicating"
    #: proxy: new writes wait (sessions keep their connections), at most ``timeout``
    HOLD_WRITES = "hold_writes"
    #: proxy: the held writes go on, to ``server`` (the primary from now on)
    RELEASE_WRITES = "release_writes"
    #: proxy: publish a topology in which ``server`` is the primary (``param('demoted')``:
    #: the old primary, now a replica or gone)
    PUBLISH = "publish"
    #: ``ALTER EVENT ... DISABLE ON SLAVE`` (binlog off for the session) for every event of
    #: ``server`` whose status is ENABLED; the names go to the context under ``output``
    DISABLE_EVENTS = "disable_events"
    #: ``ALTER EVENT ... ENABLE`` (binlog off) on ``server`` for the events the context keys
    #: ``inputs`` name (a missing key: none) that exist there and are not enabled
    ENABLE_EVENTS = "enable_events"


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    server: str
    description: str
    timeout: float
    sql: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    undo: Step | None = None
    output: str | None = None  # context key a READ_GTID / DISABLE_EVENTS step writes
    inputs: tuple[str, ...] = ()  # context keys ${key} the SQL uses (or the step reads)
    #: past the point of no return: the state the cluster is left in when this step fails
    if_failed: str = ""

    def param(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.params if k == key), default)

    def describe(self) -> str:
        text = f"[{self.server}] {self.description}"
        if self.sql:
            text += ": " + "; ".join(redact(s) for s in self.sql)
        return text


class PlanKind(Enum):
    FAILOVER = "failover"
    SWITCHOVER = "switchover"
    REJOIN = "rejoin"
    ENFORCE = "enforce"
    RESET_REPLICATION = "reset-replication"


@dataclass(frozen=True, slots=True)
class Plan:
    """``target``: the server the plan promotes or rejoins; ``source``: the old primary
    (failover, switchover) or the primary joined (rejoin).  ``point_of_no_return``: index of the
    step after whose completion the plan only goes forward (nothing is undone after it)."""

    kind: PlanKind
    target: str
    source: str | None
    steps: tuple[Step, ...]
    point_of_no_return: int | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> tuple[str, ...]:
        head = f"{self.kind.value} of {self.target}" + (
            f" (from {self.source})" if self.source else "")
        return (head, *(f"{i + 1}. {s.describe()}" for i, s in enumerate(self.steps)),
                *(f"note: {n}" for n in self.notes))


@dataclass(frozen=True, slots=True)
class Refusal:
    """A cluster operation that must not run, and why.  ``details``: facts (the exact GTIDs
    that differ, ...); ``remedies``: what a person can do."""

    operation: PlanKind
    server: str | None
    reason: str
    details: tuple[str, ...] = ()
    remedies: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{self.operation.value} refused"
        text += f" for {self.server}: " if self.server else ": "
        text += self.reason
        if self.details:
            text += " [" + "; ".join(self.details) + "]"
        if self.remedies:
            text += ". What you can do: " + " or ".join(self.remedies)
        return text


def rollback_steps(plan: Plan, done_index: int) -> tuple[Step, ...]:
    """The undo steps to run after step ``done_index`` failed: steps ``0..done_index`` were
    started (the failed one may have done part of its work, so its undo is included; undo
    steps are written to be harmless when there is nothing to undo), in reverse order.  Empty
    when the failure came after the point of no return, or nothing was started."""
    if done_index < 0:
        return ()
    ponr = plan.point_of_no_return
    if ponr is not None and done_index > ponr:
        return ()
    started = plan.steps[: done_index + 1]
    return tuple(s.undo for s in reversed(started) if s.undo is not None)


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_sql(step: Step, context: Mapping[str, str]) -> tuple[str, ...]:
    """The step's SQL with ``${key}`` replaced by ``context[key]`` as a string literal."""
    missing = [k for k in step.inputs if k not in context]
    if missing:
        raise MonitorError(f"step {step.description!r} needs {', '.join(missing)} from an "
                           f"earlier step")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in step.inputs:
            return match.group(0)
        return quote(context[key])

    return tuple(_PLACEHOLDER.sub(fill, s) for s in step.sql)
