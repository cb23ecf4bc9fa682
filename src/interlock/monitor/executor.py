"""Runs the planners' :class:`~interlock.monitor.steps.Plan` steps against the servers (I/O).

The executor is the only code that changes a server.  Each step kind has one handler (a
dispatch table); every step is logged with its duration.  When a step fails or times out, the
executor runs :func:`~interlock.monitor.steps.rollback_steps` (the undo steps of what was
started, newest first) and the :class:`PlanOutcome` says which step failed and why.

The executor's connections are its own (not the probes'): a ``MASTER_GTID_WAIT`` may take the
whole switchover timeout and must not stall the monitor's ticks.  They log in as the monitor
user, whose sessions the fencing step keeps.

:class:`WriteGate` is the proxy-side half of a switchover (``HOLD_WRITES`` /
``RELEASE_WRITES``): while it is held, sessions wait before sending a write; when it is
released they go on to the primary it names.  Statements of transactions already open are not
held; the ``DRAIN`` step waits (bounded) until the old primary has no open client transaction
before the fencing kills.  Correctness does not depend on either: the fencing on the old
primary (``read_only`` and ``KILL CONNECTION``) does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from interlock.config.model import ServerConfig
from interlock.errors import ClusterError
from interlock.log import get_logger
from interlock.monitor.errors import MonitorError
from interlock.monitor.observations import (
    SQL_PROCESSLIST,
    SQL_SLAVES,
    SlaveStatus,
    client_connections,
    parse_processlist,
    parse_slave_status,
)
from interlock.monitor.probe import Credentials, ServerLink
from interlock.monitor.sqltext import redact
from interlock.monitor.steps import Plan, Step, StepKind, render_sql, rollback_steps
from interlock.server import backend, errors

log = get_logger(__name__)

UNKNOWN_THREAD = 1094
POLL = 0.1  # seconds between polls of a waiting step
KILL_ROUNDS_PAUSE = 0.02
#: seconds between polls of the drain before the fencing.  Not shorter: InnoDB serves
#: information_schema.INNODB_TRX from a cache it refreshes only when the cache was last read
#: more than 100 ms ago, so polling every 20 ms read the same (stale) rows for the whole drain
#: (measured on MariaDB 10.11: 90 polls saw 4 "open" transactions whose COMMITs had returned)
DRAIN_POLL = 0.12


class StepError(MonitorError):
    """A plan step failed; ``reason`` says why in words a person can act on."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(f"{step.describe()}: {reason}")
        self.step = step
        self.reason = reason


# -- the proxy-side write hold ----------------------------------------------------------------


class WriteGate:
    """Held during a switchover: writes wait in :meth:`wait` instead of failing.

    A session calls ``await gate.wait()`` before it sends a statement to the primary (when
    ``gate.held``; a cheap attribute test otherwise), then routes by the topology that is
    current after the wait.  ``wait`` returns the name of the server writes go to now
    (``None``: the hold ended without a primary, e.g. it timed out) and never waits longer
    than the hold's own deadline.
    """

    __slots__ = ("_deadline", "_event", "held", "held_since", "holds", "released_to")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._event.set()
        self.held = False
        self.held_since: float | None = None
        self.released_to: str | None = None
        self._deadline = 0.0
        self.holds: list[float] = []  # duration of every completed hold (seconds)

    def hold(self, timeout: float) -> None:
        if not self.held:
            self.held_since = time.monotonic()
        self.held = True
        self._deadline = time.monotonic() + timeout
        self._event.clear()

    def release(self, primary: str | None) -> None:
        if self.held and self.held_since is not None:
            self.holds.append(time.monotonic() - self.held_since)
        self.held = False
        self.held_since = None
        self.released_to = primary
        self._event.set()

    async def wait(self) -> str | None:
        if self.held:
            left = self._deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    await self._event.wait()
            except TimeoutError:
                return None
        return self.released_to


# -- outcome ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        verdict = "ok" if self.ok else f"FAILED: {self.error}"
        return f"{self.step.describe()} ({self.seconds:.3f}s) {verdict}"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    plan: Plan
    results: tuple[StepResult, ...]
    rollback: tuple[StepResult, ...] = ()
    seconds: float = 0.0
    context: tuple[tuple[str, str], ...] = field(default=())

    @property
    def failed(self) -> StepResult | None:
        return next((r for r in self.results if not r.ok), None)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def describe(self) -> str:
        head = f"{self.plan.kind.value} of {self.plan.target}"
        failed = self.failed
        if failed is None:
            return f"{head} done in {self.seconds:.3f}s"
        undone = "; rolled back" if self.rollback else ""
        left = f". {failed.step.if_failed}" if failed.step.if_failed else ""
        return (f"{head} failed at step {self.results.index(failed) + 1} "
                f"({failed.step.description}): {failed.error}{undone}{left}")


# -- the executor -----------------------------------------------------------------------------

Publisher = Callable[[str, str | None], Awaitable[None]]
StepListener = Callable[[StepResult], None]
#: cluster=etcd: proves this instance still leads (raises a ClusterError, NotLeader, if not)
Confirm = Callable[[], Awaitable[None]]
#: cluster=etcd: awaited after step ``index`` of the plan completed (records the operation's
#: progress in etcd); a ClusterError is logged, the next step's fence decides
Progress = Callable[[int], Awaitable[None]]
#: test-only: awaited before step ``index`` runs (a test holds a plan there, deterministically)
StepPause = Callable[[Plan, int], Awaitable[None]]


class Executor:
    """Runs plans.  ``publish(primary, demoted)`` makes the proxy route to ``primary`` now;
    ``gate`` holds writes; ``keep_users`` are never killed by fencing."""

    def __init__(self, servers: dict[str, ServerConfig], credentials: Credentials,
                 publish: Publisher, gate: WriteGate, keep_users: Iterable[str] = (),
                 on_step: StepListener | None = None, confirm: Confirm | None = None,
                 progress: Progress | None = None, pause: StepPause | None = None) -> None:
        self.servers = servers
        self.confirm = confirm
        self.progress = progress
        self.pause = pause
        self.credentials = credentials
        self.publish = publish
        self.gate = gate
        self.keep_users = tuple(keep_users)
        self.on_step = on_step
        self._links: dict[str, ServerLink] = {}
        self._context: dict[str, str] = {}

    def _link(self, name: str) -> ServerLink:
        link = self._links.get(name)
        if link is None:
            if name not in self.servers:
                raise MonitorError(f"no server {name!r}")
            link = self._links[name] = ServerLink(self.servers[name], self.credentials)
        return link

    async def run(self, plan: Plan) -> PlanOutcome:
        started = time.monotonic()
        self._context = {}
        results: list[StepResult] = []
        undo: list[StepResult] = []
        log.notice("Starting %s", " | ".join(plan.describe()))
        try:
            for index, step in enumerate(plan.steps):
                if self.pause is not None:
                    await self.pause(plan, index)
                result = await self._fence(step, index)
                ran = result is None  # a fenced step was not started: not undone
                if result is None:
                    result = await self._run_step(step, index, len(plan.steps))
                results.append(result)
                if not result.ok:
                    last = index if ran else index - 1
                    undo = [await self._run_step(s, i, -1)
                            for i, s in enumerate(rollback_steps(plan, last))]
                    break
                await self._progress(index)
        finally:
            await self.close()
        outcome = PlanOutcome(plan, tuple(results), tuple(undo), time.monotonic() - started,
                              tuple(self._context.items()))
        (log.notice if outcome.ok else log.error)("%s", outcome.describe())
        return outcome

    async def _fence(self, step: Step, index: int) -> StepResult | None:
        """cluster=etcd: a failed step (not run) when this instance no longer leads."""
        if self.confirm is None:
            return None
        started = time.monotonic()
        try:
            await self.confirm()
        except ClusterError as exc:
            error = f"lost leadership before step {index + 1}: {exc}"
            log.error("step %d %s: not run: %s", index + 1, step.describe(), error)
            result = StepResult(step, time.monotonic() - started, error)
            if self.on_step is not None:
                self.on_step(result)
            return result
        return None

    async def _progress(self, index: int) -> None:
        """cluster=etcd: record that step ``index`` completed (the operation intent)."""
        if self.progress is None:
            return
        try:
            await self.progress(index)
        except ClusterError as exc:  # the next step's fence says whether we still lead
            log.warning("recording the progress of step %d failed: %s", index + 1, exc)

    async def _run_step(self, step: Step, index: int, total: int) -> StepResult:
        label = f"step {index + 1}/{total}" if total >= 0 else f"rollback {index + 1}"
        started = time.monotonic()
        error: str | None = None
        try:
            async with asyncio.timeout(step.timeout + self.credentials.read_timeout):
                await _HANDLERS[step.kind](self, step)
        except StepError as exc:
            error = exc.reason
        except TimeoutError:
            error = f"timed out after {step.timeout:g}s"
        except backend.BackendRefused as exc:
            error = f"error {exc.code}: {exc.message}"
        except (errors.BackendError, MonitorError, OSError) as exc:
            error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        result = StepResult(step, time.monotonic() - started, error)
        if error is None:
            log.notice("%s %s: ok in %.3fs", label, step.describe(), result.seconds)
        else:
            log.error("%s %s: failed after %.3fs: %s", label, step.describe(), result.seconds,
                      error)
        if self.on_step is not None:
            self.on_step(result)
        return result

    async def close(self) -> None:
        links, self._links = self._links, {}
        for link in links.values():
            await link.close()

    # -- step handlers ------------------------------------------------------------------------

    async def _sql(self, step: Step) -> None:
        link = self._link(step.server)
        for sql in render_sql(step, self._context):
            log.info("[%s] %s", step.server, redact(sql))
            await link.query(sql, step.timeout)

    async def _kill_clients(self, step: Step) -> None:
        link = self._link(step.server)
        keep = [u for u in (*step.param("keep_users").split(","), *self.keep_users) if u]
        rounds = killed = 0
        while True:
            rows = await link.query(SQL_PROCESSLIST, step.timeout)
            victims = client_connections(parse_processlist(rows), keep)
            if not victims:
                break
            rounds += 1
            for entry in victims:
                try:
                    await link.query(f"KILL CONNECTION {entry.id}", step.timeout)
                    killed += 1
                except backend.BackendRefused as exc:
                    if exc.code != UNKNOWN_THREAD:  # already gone: not an error
                        raise
            await asyncio.sleep(KILL_ROUNDS_PAUSE)
        log.notice("[%s] fencing: killed %d connection(s) in %d round(s)", step.server, killed,
                   rounds)

    async def _drain(self, step: Step) -> None:
        """Poll until no client transaction is open on the server or the step's time is up;
        what is left is not an error (the fencing's KILL ends it)."""
        link = self._link(step.server)
        (sql,) = render_sql(step, self._context)
        started = time.monotonic()
        deadline = started + step.timeout
        polls = 0
        while True:
            rows = await link.query(sql, step.timeout + self.credentials.read_timeout)
            polls += 1
            value = next(iter(rows[0].values())) if rows else None
            left = int(value) if value is not None else 0
            if left == 0 or time.monotonic() + DRAIN_POLL > deadline:
                break
            await asyncio.sleep(DRAIN_POLL)
        took = time.monotonic() - started
        if left:
            log.notice("[%s] drain: %d client transaction(s) still open after %.3fs (limit "
                       "%gs, %d poll(s)): the fencing kills them", step.server, left, took,
                       step.timeout, polls)
        else:
            log.notice("[%s] drain: no client transaction open after %.3fs (%d poll(s))",
                       step.server, took, polls)

    async def _read_gtid(self, step: Step) -> None:
        rows = await self._link(step.server).query("SELECT @@gtid_binlog_pos AS pos",
                                                   step.timeout)
        value = (rows[0].get("pos") if rows else None) or ""
        if step.output:
            self._context[step.output] = value
        log.notice("[%s] gtid_binlog_pos is '%s'", step.server, value)

    async def _wait_gtid(self, step: Step) -> None:
        for sql in render_sql(step, self._context):
            rows = await self._link(step.server).query(sql, step.timeout + 1.0)
            result = next(iter(rows[0].values())) if rows else None
            if result != "0":
                raise StepError(step, f"MASTER_GTID_WAIT returned {result} (-1: timed out)")

    async def _slave(self, link: ServerLink, connection: str) -> SlaveStatus | None:
        rows = await link.query(SQL_SLAVES)
        for row in rows:
            status = parse_slave_status(row)
            if status.connection_name == connection:
                return status
        return None

    async def _wait_relay_applied(self, step: Step) -> None:
        link = self._link(step.server)
        status = await self._slave(link, step.param("connection"))
        if status is None:
            return  # nothing to apply
        if not status.sql_running:
            detail = status.last_sql_error or "no error"
            raise StepError(step, f"its SQL thread is stopped ({detail}): cannot apply")
        target = str(status.gtid_io_pos)
        if not target:
            return
        rows = await link.query(f"SELECT MASTER_GTID_WAIT('{target}', {step.timeout:g}) AS r",
                                step.timeout + 1.0)
        if not rows or rows[0].get("r") != "0":
            raise StepError(step, f"relay log not applied up to {target} within "
                                  f"{step.timeout:g}s")

    async def _check_replicating(self, step: Step) -> None:
        link = self._link(step.server)
        want_source = step.param("source")
        max_lag = float(step.param("max_lag")) if step.param("max_lag") else None
        deadline = time.monotonic() + step.timeout
        while True:
            status = await self._slave(link, step.param("connection"))
            problem = ("no replication connection" if status is None
                       else _replication_problem(status, want_source, max_lag))
            if not problem:
                return
            if status is not None and status.last_sql_errno and not status.sql_running:
                raise StepError(step, problem)
            if time.monotonic() + POLL > deadline:
                raise StepError(step, f"still not replicating after {step.timeout:g}s: "
                                      f"{problem}")
            await asyncio.sleep(POLL)

    async def _hold(self, step: Step) -> None:
        self.gate.hold(step.timeout)

    async def _release(self, step: Step) -> None:
        self.gate.release(step.server)

    async def _publish(self, step: Step) -> None:
        await self.publish(step.server, step.param("demoted") or None)

    async def _events(self, step: Step, want: Callable[[str, str], bool], action: str
                      ) -> list[tuple[str, str]]:
        """``ALTER EVENT `db`.`name` <action>`` for each event ``want(name, status)`` accepts,
        with the binary log off for the session (the change stays on this server)."""
        link = self._link(step.server)
        rows = await link.query(SQL_EVENTS, step.timeout)
        found = [(r["db"] or "", r["name"] or "", r["status"] or "") for r in rows]
        chosen = [(db, name) for db, name, status in found if want(f"{db}.{name}", status)]
        if not chosen:
            return chosen
        await link.query("SET SESSION sql_log_bin=0", step.timeout)
        try:
            for db, name in chosen:
                await link.query(f"ALTER EVENT {_ident(db)}.{_ident(name)} {action}",
                                 step.timeout)
        finally:
            await link.query("SET SESSION sql_log_bin=1", step.timeout)
        log.notice("[%s] %s: %s", step.server, action.lower(),
                   ", ".join(f"{db}.{name}" for db, name in chosen))
        return chosen

    async def _disable_events(self, step: Step) -> None:
        done = await self._events(step, lambda _, status: status == "ENABLED",
                                  "DISABLE ON SLAVE")
        if step.output:
            self._context[step.output] = json.dumps([f"{db}.{name}" for db, name in done])

    async def _enable_events(self, step: Step) -> None:
        names = {n for key in step.inputs for n in json.loads(self._context.get(key, "[]"))}
        await self._events(step, lambda name, status: name in names and status != "ENABLED",
                           "ENABLE")


SQL_EVENTS = ("SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name, STATUS AS status "
              "FROM information_schema.EVENTS")


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _replication_problem(status: SlaveStatus, source: str, max_lag: float | None) -> str:
    """What keeps ``status`` from being "replicating from ``source``" ('' when nothing)."""
    address = f"{status.master_host}:{status.master_port}"
    if source and address != source:
        return f"replicates from {address}, not {source}"
    if not status.connected:
        errs = "; ".join(status.errors)
        return (f"IO {status.io_state.value}, SQL {'Yes' if status.sql_running else 'No'}"
                + (f" ({errs})" if errs else ""))
    if max_lag is not None:
        lag = status.seconds_behind_master
        if lag is None or lag > max_lag:
            return f"lag {lag}s exceeds {max_lag:g}s"
    return ""


_HANDLERS: dict[StepKind, Callable[[Executor, Step], Awaitable[None]]] = {
    StepKind.SQL: Executor._sql,
    StepKind.KILL_CLIENTS: Executor._kill_clients,
    StepKind.DRAIN: Executor._drain,
    StepKind.READ_GTID: Executor._read_gtid,
    StepKind.WAIT_GTID: Executor._wait_gtid,
    StepKind.WAIT_RELAY_APPLIED: Executor._wait_relay_applied,
    StepKind.CHECK_REPLICATING: Executor._check_replicating,
    StepKind.HOLD_WRITES: Executor._hold,
    StepKind.RELEASE_WRITES: Executor._release,
    StepKind.PUBLISH: Executor._publish,
    StepKind.DISABLE_EVENTS: Executor._disable_events,
    StepKind.ENABLE_EVENTS: Executor._enable_events,
}

