"""The monitor at run time: one :class:`MonitorRuntime` per ``type=monitor`` section (I/O).

Every ``monitor_interval`` a tick probes all servers concurrently, builds the cluster (sticky
primary, MaxScale states), folds the tick into the health state, records state changes as
events and publishes a new :class:`~interlock.routing.topology.Topology` into the monitor's
:class:`~interlock.server.topology_source.TopologySource` when it differs from the last one.
Then, unless a cluster operation runs, it acts: automatic failover (``failcount`` failed
probes *and* the replicas lost the primary too, at most once per ``failover_block`` unless
acknowledged), ``enforce_read_only_slaves`` / ``enforce_writable_master``, ``auto_rejoin``.

Cluster operations (:meth:`MonitorRuntime.switchover`, :meth:`~MonitorRuntime.failover`,
:meth:`~MonitorRuntime.rejoin`) run one at a time under a lock, on a fresh tick, through the
:class:`~interlock.monitor.executor.Executor`; a ``PUBLISH`` step re-probes and publishes at
once (routers do not wait for the next tick).  Maintenance and draining are per-server modes
a person sets; they take effect with an immediate tick.

With ``cluster=etcd`` a switchover or failover is recorded in etcd while it runs (its intent,
updated after each step); a new leader's first ticks complete or roll back an operation its
predecessor left, or leave it for a person (:mod:`interlock.cluster.operation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interlock.cluster.operation import (
    RECORDED,
    OperationIntent,
    OperationStore,
    Resolution,
    ServerFacts,
    TakeoverDecision,
    decide_takeover,
    intent_for,
)
from interlock.config.model import MonitorConfig, ServerConfig
from interlock.errors import ClusterError
from interlock.log import get_logger
from interlock.monitor.cluster import AdminMode, ClusterState, ServerSpec, build_cluster
from interlock.monitor.common import publish_step, read_only_step
from interlock.monitor.events import Event, EventHistory, EventKind, state_changes
from interlock.monitor.executor import (
    Executor,
    PlanOutcome,
    Progress,
    StepPause,
    StepResult,
    WriteGate,
)
from interlock.monitor.failover import FailoverHistory
from interlock.monitor.health import (
    HealthState,
    PrimaryJudgement,
    Verdict,
    judge_primary,
    update_health,
)
from interlock.monitor.observations import ServerObservation
from interlock.monitor.plans import (
    Plan,
    PlanKind,
    Refusal,
    plan_enforcement,
    plan_failover,
    plan_rejoin,
    plan_switchover,
)
from interlock.monitor.probe import Credentials, ServerLink, probe_all
from interlock.monitor.reset import busy_refusal, plan_reset_replication
from interlock.monitor.rules import (
    promoted,
    rejoin_candidates,
    same_topology,
    settings_for,
    warnings_added,
)
from interlock.monitor.sqltext import parse_sql_file
from interlock.monitor.states import ServerState
from interlock.routing.topology import Topology
from interlock.server.topology_source import TopologySource

if TYPE_CHECKING:
    from interlock.cluster.leadership import MonitorLeadership, Published

log = get_logger(__name__)

Outcome = PlanOutcome | Refusal


@dataclass(frozen=True, slots=True)
class ServerStatusView:
    """One server as the admin API / ``interlock ctl`` will show it."""

    name: str
    state: str
    failures: int
    gtid_current_pos: str
    note: str  # why it is not rejoined, the last probe error, ...


class MonitorRuntime:
    def __init__(self, config: MonitorConfig, servers: Mapping[str, ServerConfig],
                 source: TopologySource | None = None) -> None:
        self.name = config.name
        self.config = config
        self.settings = settings_for(config)
        self.credentials = Credentials(config.user, config.password,
                                       config.connect_timeout, config.read_timeout)
        self.servers = {n: servers[n] for n in config.servers if n in servers}
        self.specs = tuple(ServerSpec(s.name, s.address, s.port, s.priority)
                           for s in self.servers.values())
        self.links = {n: ServerLink(s, self.credentials) for n, s in self.servers.items()}
        self.source = source or TopologySource(config.name, Topology())
        self.gate = WriteGate()
        self.events = EventHistory()
        self.health: HealthState | None = None
        self.cluster: ClusterState | None = None
        self.judgement: PrimaryJudgement | None = None
        self.admin: dict[str, AdminMode] = {}
        self.failover_history = FailoverHistory()
        self.notes: dict[str, str] = {}  # per server: why it is not rejoined, ...
        self.fence = True  # False only in the test that shows what fencing prevents
        #: test-only: awaited before each step of a plan (a test holds a plan at a step)
        self.step_pause: StepPause | None = None
        self.ticks = 0
        self.last_tick_seconds = 0.0  # probe to publish of the latest tick (metrics)
        # cluster operations run, by (plan kind, succeeded) (metrics)
        self.outcomes: Counter[tuple[PlanKind, bool]] = Counter()
        self._generation = 0
        self._reported: dict[str, str] = {}  # decision key -> last text (log each once)
        self._rejoin_failed: dict[str, str] = {}  # server -> why its auto rejoin failed
        self._ops = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first_tick = asyncio.Event()
        #: cluster=etcd: this instance's leadership of the monitor (None: it always leads)
        self._leadership: MonitorLeadership | None = None
        self._followed: str | None = None  # the primary the leader published (followers)
        #: an operation a previous leader left unfinished (cluster/operation.py), and the term
        #: in which this instance last read the record
        self._intent: OperationIntent | None = None
        self._checked_term: int | None = None
        self._plans = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the first tick (so routers start with real roles), then tick in the background."""
        log.notice("Monitor '%s' started: %s every %gs", self.name, ", ".join(self.servers),
                   self.settings.monitor_interval)
        async with self._ops:
            await self._tick(act=True)
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.gate.release(self.cluster.primary if self.cluster else None)
        for link in self.links.values():
            await link.close()
        log.notice("Monitor '%s' stopped", self.name)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.monitor_interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._ops.locked():
                continue  # an operation runs; it ticks itself
            try:
                async with self._ops:
                    await self._tick(act=True)
            except Exception:  # the loop must survive anything one tick does
                log.exception("Monitor '%s': tick failed", self.name)

    @property
    def running(self) -> bool:
        """The background ticks run (between :meth:`start` and :meth:`stop`)."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Tick now instead of at the end of the interval."""
        self._wake.set()

    # -- one tick ----------------------------------------------------------------------------

    async def _probe(self) -> dict[str, ServerObservation]:
        budget = self.credentials.connect_timeout + 4 * self.credentials.read_timeout
        return await probe_all(self.links, budget)

    async def _tick(self, act: bool, force_primary: str | None = None) -> ClusterState:
        started = time.monotonic()
        observations = await self._probe()
        now = time.monotonic()
        self.health = update_health(self.health, observations, now)
        previous = self.cluster
        if force_primary is None and self._followed and not self.leads():
            force_primary = self._followed  # route by the leader's published decision
        seed = previous.with_primary(force_primary) if (previous and force_primary) else previous
        cluster = build_cluster(self.specs, observations, seed, self.settings, self.admin,
                                self.health.failures)
        if force_primary and cluster.primary == force_primary and (
                previous is None or previous.primary != force_primary):
            cluster = cluster.with_primary(force_primary, f"{force_primary} promoted by a "
                                                          "cluster operation")
        self.cluster = cluster
        self.ticks += 1
        wall = time.time()
        self._record_all(state_changes(previous, cluster, wall))
        before = previous.warnings if previous is not None else ()
        for text in warnings_added(before, cluster.warnings):
            self._record(Event(wall, None, ServerState.NONE, ServerState.NONE, text,
                               EventKind.WARNING))
        self._publish(cluster)
        self.last_tick_seconds = time.monotonic() - started
        self.judgement = judge_primary(cluster, self.health, self.settings, now)
        self._report("verdict", None, f"primary {self.judgement.primary}: "
                     f"{self.judgement.verdict.value}: {self.judgement.reason}",
                     quiet=self.judgement.verdict in (Verdict.HEALTHY, Verdict.SUSPECT))
        if act and self.leads() and await self._settle_takeover():
            await self._act(cluster, now)
        return cluster

    def _publish(self, cluster: ClusterState, force: bool = False) -> None:
        weights = {name: server.weight for name, server in self.servers.items()}
        topology = cluster.to_topology(self._generation + 1, weights)
        same = not force and same_topology(self.source.current, topology)
        if self.leadership is not None and self.leads() and (
                not same or self.leadership.term_unannounced()):
            self._announce(cluster)
        if same:
            return
        self._generation += 1
        self.source.publish(topology)
        primary = topology.primary.name if topology.primary else "none"
        log.info("Monitor '%s': published topology %d (primary %s)", self.name,
                 self._generation, primary)

    async def _act(self, cluster: ClusterState, now: float) -> None:
        judgement = self.judgement
        if judgement is not None and judgement.failed and self.settings.auto_failover:
            await self._auto_failover(cluster, now)
            return
        if judgement is not None and judgement.verdict is Verdict.UNREACHABLE_FROM_PROXY:
            self._report("unreachable", judgement.primary, judgement.reason,
                         kind=EventKind.WARNING)
        for plan in plan_enforcement(cluster, self.settings):
            await self._execute(plan)
        if self.settings.auto_rejoin:
            for name in rejoin_candidates(cluster):
                if name not in self._rejoin_failed:
                    await self._rejoin(cluster, name, force=False, automatic=True)
        for name in [n for n in self._rejoin_failed if not _running(cluster, n)]:
            del self._rejoin_failed[name]  # it went away: try again when it is back

    # -- events ------------------------------------------------------------------------------

    def _record(self, event: Event) -> None:
        self.events.append(event)
        level = log.warning if event.kind is EventKind.WARNING else log.notice
        level("Monitor '%s': %s", self.name, event)

    def _record_all(self, events: tuple[Event, ...]) -> None:
        for event in events:
            self._record(event)

    def _report(self, key: str, server: str | None, text: str, quiet: bool = False,
                kind: EventKind = EventKind.DECISION) -> None:
        """Record a decision once while it stays the same (no event per tick)."""
        if self._reported.get(key) == text:
            return
        self._reported[key] = text
        if not quiet:
            self._record(Event(time.time(), server, ServerState.NONE, ServerState.NONE, text,
                               kind))

    # -- leadership (cluster=etcd) -----------------------------------------------------------

    @property
    def leadership(self) -> MonitorLeadership | None:
        return self._leadership

    @leadership.setter
    def leadership(self, value: MonitorLeadership | None) -> None:
        """A new term wakes the monitor: its first tick checks for an operation the previous
        leader left (:meth:`_settle_takeover`)."""
        self._leadership = value
        if value is not None and hasattr(value, "on_elected"):
            value.on_elected = self.wake

    def leads(self) -> bool:
        """This instance may act on the cluster: no cluster store, or it holds the leadership."""
        return self.leadership is None or self.leadership.is_leader()

    def follow(self, decision: Published) -> None:
        """The leader published a decision: route by its primary from the next tick, at once,
        and keep its failover history (a new leader honours failover_block)."""
        self._followed = decision.primary
        to_mono = time.monotonic() - time.time()
        history = self.failover_history
        if decision.last_failover is not None and (
                history.last_failover_at is None
                or decision.last_failover + to_mono > history.last_failover_at):
            history = FailoverHistory(decision.last_failover + to_mono, history.acknowledged_at)
        if decision.acknowledged is not None and (
                history.acknowledged_at is None
                or decision.acknowledged + to_mono > history.acknowledged_at):
            history = history.acknowledge(decision.acknowledged + to_mono)
        self.failover_history = history
        self.wake()

    def _announce(self, cluster: ClusterState) -> None:
        if self.leadership is None:
            return
        to_wall = time.time() - time.monotonic()
        history = self.failover_history
        self.leadership.announce(
            cluster.primary, {v.name: v.state_text for v in cluster.servers},
            None if history.last_failover_at is None else history.last_failover_at + to_wall,
            None if history.acknowledged_at is None else history.acknowledged_at + to_wall)

    @property
    def standing_operation(self) -> OperationIntent | None:
        """Read only (admin API): the operation a previous leader left that this instance,
        leading, found at the start of its term and has not resolved yet (None: none, or this
        instance does not lead)."""
        return self._intent if self.leads() else None

    def judge_operation(self, intent: OperationIntent) -> TakeoverDecision | None:
        """Read only (admin API): what :func:`decide_takeover` says about ``intent`` from the
        servers as this instance's latest tick saw them (None: no tick yet)."""
        return decide_takeover(intent, _facts(self.cluster)) if self.cluster else None

    def _operations(self) -> OperationStore | None:
        store = getattr(self.leadership, "operations", None)
        return store if isinstance(store, OperationStore) else None

    async def _settle_takeover(self) -> bool:
        """cluster=etcd: at the first tick of a term, read the record of an operation a
        previous leader left; while one stands, decide from this tick's servers whether to
        complete it, roll it back, or leave it for a person (cluster/operation.py).  False:
        take no other automatic action on this tick."""
        store, leadership = self._operations(), self.leadership
        if store is None or leadership is None or self.cluster is None:
            return True
        term = leadership.term()
        if term is not None and term != self._checked_term:
            try:
                self._intent = await store.read()
            except ClusterError as exc:
                log.warning("Monitor '%s': reading the operation record: %s", self.name, exc)
                return False
            self._checked_term = term
        intent = self._intent
        if intent is None:
            return True
        decision = decide_takeover(intent, _facts(self.cluster))
        text = decision.describe(intent)
        if decision.verdict is Resolution.MANUAL:
            self._report("takeover", None, text, kind=EventKind.WARNING)
            return False
        self._record(Event(time.time(), decision.primary, ServerState.NONE, ServerState.NONE,
                           text, EventKind.DECISION))
        if decision.primary is not None and not await self._take_over(decision.primary,
                                                                      intent):
            return False
        try:
            await store.clear()
        except ClusterError as exc:
            log.warning("Monitor '%s': clearing the operation record: %s", self.name, exc)
            return False
        self._intent = None
        self._reported.pop("takeover", None)
        return decision.verdict is Resolution.CLEAR

    async def _take_over(self, primary: str, intent: OperationIntent) -> bool:
        """Make ``primary`` the (only) writable primary and point every other running server
        at it (the rejoin planner: only servers whose history is a prefix of its binlog)."""
        other = intent.new if primary == intent.old else intent.old
        view = self.cluster.server(primary) if self.cluster else None
        if view is None or view.observation is None:
            return False
        if view.observation.read_only:  # roll back: the only server made writable
            plan = Plan(PlanKind.SWITCHOVER, primary, other,
                        (read_only_step(primary, on=False, undo=False),
                         publish_step(primary, other)))
            if not (await self._execute(plan, record=False)).ok:
                return False
        else:
            await self._publish_primary(primary, other)
        cluster = self.cluster
        assert cluster is not None
        for server in cluster.servers:
            link = server.link_to(primary)
            if server.name == primary or not server.running or (
                    link is not None and link.running and len(server.links) == 1):
                continue
            await self._rejoin(cluster, server.name, force=False, automatic=True)
        return True

    def _not_leader(self, kind: PlanKind, server: str | None) -> Refusal | None:
        if self.leadership is None or self.leadership.is_leader():
            return None
        return self._refused(Refusal(kind, server, self.leadership.not_leader_reason(),
                                     remedies=("run it through the leader's admin API",)))

    # -- operations --------------------------------------------------------------------------

    def _sql_file(self, path: str | None) -> tuple[str, ...]:
        if not path:
            return ()
        with open(path, encoding="utf-8") as handle:
            return parse_sql_file(handle.read())

    def _on_step(self, result: StepResult) -> None:
        text = result.describe()
        self.events.append(Event(time.time(), result.step.server, ServerState.NONE,
                                 ServerState.NONE, text, EventKind.ACTION))

    async def _publish_primary(self, primary: str, demoted: str | None) -> None:
        """The executor's PUBLISH: re-probe now and route to ``primary``."""
        cluster = await self._tick(act=False, force_primary=primary)
        view = cluster.server(primary)
        if cluster.primary != primary or view is None or not view.states & ServerState.MASTER:
            cluster = promoted(cluster, primary, demoted)  # the probe lagged: trust the plan
            self.cluster = cluster
        self._publish(cluster, force=True)

    async def _execute(self, plan: Plan, record: bool = True) -> PlanOutcome:
        store = self._operations() if record and plan.kind in RECORDED else None
        progress = None
        if store is not None and self.leadership is not None:
            self._plans += 1
            who = self.leadership.instance
            intent = intent_for(plan, who, f"{who}#{self.leadership.term()}.{self._plans}",
                                time.time())
            try:
                await store.put(intent)
            except ClusterError as exc:
                failed = StepResult(plan.steps[0], 0.0, "not started: the operation could not "
                                    f"be recorded in etcd: {exc}")
                outcome = PlanOutcome(plan, (failed,))
                self._record(Event(time.time(), plan.target, ServerState.NONE,
                                   ServerState.NONE, outcome.describe(), EventKind.WARNING))
                return outcome
            done = [intent]

            async def progress(index: int) -> None:
                done[0] = done[0].advanced(index)
                await store.put(done[0])

        outcome = await self._run_plan(plan, progress)
        if store is not None:
            try:
                await store.clear()
                self._intent = None
                self._reported.pop("takeover", None)
            except ClusterError as exc:  # deposed: the next leader decides from the servers
                log.warning("Monitor '%s': the operation record stays in etcd: %s", self.name,
                            exc)
        return outcome

    async def _run_plan(self, plan: Plan, progress: Progress | None) -> PlanOutcome:
        keep = [self.credentials.user]
        if self.settings.replication_user:
            keep.append(self.settings.replication_user)
        executor = Executor(self.servers, self.credentials, self._publish_primary, self.gate,
                            keep, self._on_step,
                            confirm=self.leadership.confirm if self.leadership else None,
                            progress=progress, pause=self.step_pause)
        head = plan.describe()[0]
        if self.leadership is not None:  # cluster=etcd: which instance acted
            head += f" by instance '{self.leadership.instance}'"
        self._record(Event(time.time(), plan.target, ServerState.NONE, ServerState.NONE,
                           f"{head}: {len(plan.steps)} step(s)"
                           + "".join(f"; {n}" for n in plan.notes), EventKind.DECISION))
        outcome = await executor.run(plan)
        self.outcomes[(plan.kind, outcome.ok)] += 1
        self._record(Event(time.time(), plan.target, ServerState.NONE, ServerState.NONE,
                           outcome.describe(),
                           EventKind.ACTION if outcome.ok else EventKind.WARNING))
        return outcome

    def _refused(self, refusal: Refusal, key: str | None = None) -> Refusal:
        text = refusal.describe()
        if key is None:
            self._record(Event(time.time(), refusal.server, ServerState.NONE, ServerState.NONE,
                               text, EventKind.DECISION))
        else:
            self._report(key, refusal.server, text)
        return refusal

    async def _after(self, outcome: PlanOutcome) -> None:
        primary = outcome.plan.target if outcome.ok else None
        await self._tick(act=False, force_primary=primary)
        if not self.gate.held:
            return
        self.gate.release(self.cluster.primary if self.cluster else None)

    async def switchover(self, to: str | None = None, timeout: float | None = None) -> Outcome:
        """Planned change of primary (``interlock ctl switchover [--to] [--timeout]``)."""
        if (refusal := self._not_leader(PlanKind.SWITCHOVER, to)) is not None:
            return refusal
        async with self._ops:
            cluster = await self._tick(act=False)
            plan = plan_switchover(
                cluster, self.settings, to=to, timeout=timeout,
                monitor_user=self.credentials.user,
                promotion_sql=self._sql_file(self.settings.promotion_sql_file),
                demotion_sql=self._sql_file(self.settings.demotion_sql_file), fence=self.fence)
            if isinstance(plan, Refusal):
                return self._refused(plan)
            outcome = await self._execute(plan)
            await self._after(outcome)
            return outcome

    async def reset_replication(self, primary: str | None = None) -> Outcome:
        """MaxScale's ``reset-replication [primary]``: destructive (every server's binary logs
        and GTID history are deleted; docs/failover.md).  Refused at once while another cluster
        operation runs: the lock is waited for only as long as a plain tick can hold it."""
        if (refusal := self._not_leader(PlanKind.RESET_REPLICATION, primary)) is not None:
            return refusal
        budget = self.credentials.connect_timeout + 4 * self.credentials.read_timeout + 1.0
        try:
            async with asyncio.timeout(budget):
                await self._ops.acquire()
        except TimeoutError:
            return self._refused(busy_refusal(primary))
        try:
            cluster = await self._tick(act=False)
            plan = plan_reset_replication(cluster, self.settings, primary=primary,
                                          monitor_user=self.credentials.user)
            if isinstance(plan, Refusal):
                return self._refused(plan)
            outcome = await self._execute(plan)
            await self._after(outcome)
            return outcome
        finally:
            self._ops.release()

    async def failover(self, to: str | None = None) -> Outcome:
        """Manual failover of a failed primary (``interlock ctl failover [--to]``)."""
        if (refusal := self._not_leader(PlanKind.FAILOVER, to)) is not None:
            return refusal
        async with self._ops:
            cluster = await self._tick(act=False)
            return await self._failover(cluster, time.monotonic(), automatic=False, to=to)

    async def _auto_failover(self, cluster: ClusterState, now: float) -> None:
        await self._failover(cluster, now, automatic=True)

    async def _failover(self, cluster: ClusterState, now: float, automatic: bool,
                        to: str | None = None) -> Outcome:
        plan = plan_failover(cluster, self.settings, now=now, judgement=self.judgement,
                             automatic=automatic, history=self.failover_history,
                             promotion_sql=self._sql_file(self.settings.promotion_sql_file),
                             to=to)
        if isinstance(plan, Refusal):
            return self._refused(plan, "failover" if automatic else None)
        self.failover_history = self.failover_history.record(now)
        self._reported.pop("failover", None)
        outcome = await self._execute(plan)
        await self._after(outcome)
        return outcome

    def acknowledge_failover(self) -> None:
        """A person saw the last failover: automatic failover may happen again."""
        self.failover_history = self.failover_history.acknowledge(time.monotonic())
        if self.cluster is not None and self.leads():
            self._announce(self.cluster)  # the other instances learn it too
        self._record(Event(time.time(), None, ServerState.NONE, ServerState.NONE,
                           "failover acknowledged: automatic failover allowed again",
                           EventKind.DECISION))

    async def rejoin(self, server: str, force: bool = False) -> Outcome:
        """``interlock ctl rejoin server [--force]``."""
        if (refusal := self._not_leader(PlanKind.REJOIN, server)) is not None:
            return refusal
        async with self._ops:
            cluster = await self._tick(act=False)
            return await self._rejoin(cluster, server, force=force, automatic=False)

    async def _rejoin(self, cluster: ClusterState, server: str, force: bool,
                      automatic: bool) -> Outcome:
        plan = plan_rejoin(cluster, server, self.settings, force=force, automatic=automatic,
                           demotion_sql=self._sql_file(self.settings.demotion_sql_file))
        if isinstance(plan, Refusal):
            self.notes[server] = plan.describe()
            return self._refused(plan, f"rejoin:{server}" if automatic else None)
        self.notes.pop(server, None)
        self._reported.pop(f"rejoin:{server}", None)
        self._rejoin_failed.pop(server, None)
        outcome = await self._execute(plan)
        if not outcome.ok:
            # e.g. IO error 1236: its last GTID is not in the primary's binlog (positions
            # cannot tell that history apart): not retried automatically until it restarts
            self._rejoin_failed[server] = outcome.describe()
            self.notes[server] = (f"{outcome.describe()}. It may have diverged from "
                                  f"{plan.source}: `interlock ctl rejoin {server} --force` "
                                  "after checking, or rebuild it")
        if not automatic:
            await self._tick(act=False)
        return outcome

    # -- modes -------------------------------------------------------------------------------

    def _set_mode(self, server: str, **changes: bool) -> None:
        if server not in self.servers:
            raise KeyError(f"monitor '{self.name}' has no server {server!r}")
        mode = self.admin.get(server, AdminMode())
        values = {"maintenance": mode.maintenance, "draining": mode.draining, **changes}
        self.admin[server] = AdminMode(**values)
        words = ", ".join(f"{k}={'on' if v else 'off'}" for k, v in changes.items())
        self._record(Event(time.time(), server, ServerState.NONE, ServerState.NONE,
                           f"set {words}", EventKind.DECISION))
        self.wake()

    def set_maintenance(self, server: str, on: bool = True) -> None:
        self._set_mode(server, maintenance=on)

    def set_draining(self, server: str, on: bool = True) -> None:
        self._set_mode(server, draining=on)

    async def refresh(self) -> ClusterState:
        """Tick now (no automatic action) and return the cluster; for the API and tests."""
        async with self._ops:
            return await self._tick(act=False)

    # -- runtime changes ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No tick and no cluster operation runs inside; a tick follows at once.  Waits for a
        running one only as long as a plain tick can take (TimeoutError then: a switchover or
        failover is running)."""
        budget = self.credentials.connect_timeout + 4 * self.credentials.read_timeout + 1.0
        async with asyncio.timeout(budget):
            await self._ops.acquire()
        try:
            yield
        finally:
            self._ops.release()
            self.wake()  # after the release: a wake while locked only skips a tick

    def reconfigure(self, config: MonitorConfig, servers: Mapping[str, ServerConfig]
                    ) -> list[ServerLink]:
        """A runtime change, inside :meth:`exclusive`: new parameters (the tick that follows
        uses them) and servers.  A server whose address, port or TLS changed, or every
        server when the monitor's credentials or timeouts changed, gets a new connection;
        returns the old connections, for the caller to close.  A removed server is forgotten
        (its state, counters and modes)."""
        old_links = self.links
        self.config = config
        self.settings = settings_for(config)
        credentials = Credentials(config.user, config.password, config.connect_timeout,
                                  config.read_timeout)
        same = credentials == self.credentials
        self.credentials = credentials
        self.servers = {n: servers[n] for n in config.servers if n in servers}
        self.specs = tuple(ServerSpec(s.name, s.address, s.port, s.priority)
                           for s in self.servers.values())
        self.links = {}
        for name, server in self.servers.items():
            link = old_links.get(name)
            keep = link is not None and same and link.server == server
            self.links[name] = link if keep and link is not None else ServerLink(server,
                                                                                  credentials)
        self._forget({n for n in old_links if n not in self.servers})
        log.notice("Monitor '%s' reconfigured: %s every %gs", self.name,
                   ", ".join(self.servers), self.settings.monitor_interval)
        return [link for name, link in old_links.items() if self.links.get(name) is not link]

    def _forget(self, removed: set[str]) -> None:
        if not removed:
            return
        cluster = self.cluster
        if cluster is not None:
            primary = None if cluster.primary in removed else cluster.primary
            self.cluster = dataclasses.replace(
                cluster, servers=tuple(v for v in cluster.servers if v.name not in removed),
                primary=primary)
        for table in (self.admin, self.notes, self._rejoin_failed):
            for name in removed & set(table):
                del table[name]

    def status(self) -> tuple[ServerStatusView, ...]:
        cluster = self.cluster
        if cluster is None:
            return ()
        health = self.health or HealthState()
        found = []
        for view in cluster.servers:
            obs = view.observation
            note = self.notes.get(view.name, "")
            if not note and obs is not None and obs.error is not None:
                note = str(obs.error)
            found.append(ServerStatusView(
                view.name, view.state_text, health.failure_count(view.name),
                str(obs.gtid_current_pos) if obs is not None and obs.reachable else "", note))
        return tuple(found)


def _facts(cluster: ClusterState) -> dict[str, ServerFacts]:
    found = {}
    for view in cluster.servers:
        obs = view.observation
        if obs is None or not obs.reachable:
            found[view.name] = ServerFacts(view.name, False)
        else:
            found[view.name] = ServerFacts(view.name, True, obs.read_only, obs.gtid_binlog_pos,
                                           obs.gtid_current_pos)
    return found


def _running(cluster: ClusterState, name: str) -> bool:
    view = cluster.server(name)
    return view is not None and view.running
