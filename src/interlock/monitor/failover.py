"""Failover planning and anti-flapping (pure).

:func:`plan_failover` answers a failed primary with a :class:`Plan` or a :class:`Refusal`:

1. wait (up to ``failover_timeout``) until the candidate's relay log is applied;
2. stop and remove its connection to the failed primary, ``read_only=0``, promotion SQL;
3. publish the topology (the routers write to the new primary from here on);
4. point every other replica of the failed primary at it (``MASTER_USE_GTID=slave_pos``: each
   keeps what it has) and check that they replicate.

Nothing is undone: the old primary is gone, so the plan only goes forward (a failed step is
reported; the monitor then holds off automatic operations).

**Semi-sync.**  With ``rpl_semi_sync_master_enabled`` and the master status ON when the primary
was last seen, a commit was acknowledged to the client only after at least one semi-sync
replica had written it to its relay log; a relay-log write moves that replica's
``Gtid_IO_Pos``.  So the replica with the highest ``Gtid_IO_Pos`` in the primary's domain holds
every acknowledged commit *provided every replica that could have acknowledged is observed*.
The planner therefore (a) ranks by ``Gtid_IO_Pos`` (the sequence after the relay log is
applied), (b) refuses an automatic failover while a semi-sync replica of the failed primary
is unreachable (it may hold the only copy of an acknowledged commit), and (c) waits for the
relay log to be applied before the candidate takes writes.  When semi-sync had stopped
(fallen back to asynchronous) the plan says that commits since then may be lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.monitor.candidates import (
    Candidate,
    best_candidate,
    explain_rejections,
    primary_domain,
    rank_candidates,
)
from interlock.monitor.cluster import ClusterState, ServerView
from interlock.monitor.common import check_replicating, promote_steps, publish_step, redirect_steps
from interlock.monitor.health import PrimaryJudgement
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.steps import Plan, PlanKind, Refusal, Step, StepKind

ACK_REMEDY = "acknowledge the last failover with `interlock ctl failover-ack` to allow another"


@dataclass(frozen=True, slots=True)
class FailoverHistory:
    """When the last automatic failover of the cluster happened (monotonic or wall seconds,
    whichever clock the loop uses consistently) and when a person last acknowledged."""

    last_failover_at: float | None = None
    acknowledged_at: float | None = None

    def record(self, now: float) -> FailoverHistory:
        return FailoverHistory(now, self.acknowledged_at)

    def acknowledge(self, now: float) -> FailoverHistory:
        return FailoverHistory(self.last_failover_at, now)


def failover_block(history: FailoverHistory, now: float,
                   settings: MonitorSettings) -> Refusal | None:
    """Anti-flapping: a Refusal while the last failover is less than ``failover_block`` ago
    and nobody acknowledged it since."""
    last = history.last_failover_at
    if last is None or now - last >= settings.failover_block:
        return None
    if history.acknowledged_at is not None and history.acknowledged_at >= last:
        return None
    left = settings.failover_block - (now - last)
    return Refusal(PlanKind.FAILOVER, None,
                   f"a failover already happened {now - last:.0f}s ago; automatic failover is "
                   f"blocked for another {left:.0f}s (failover_block="
                   f"{settings.failover_block:g}s)", remedies=(ACK_REMEDY,))


def _semisync(cluster: ClusterState, primary: ServerView) -> tuple[tuple[str, ...], str | None]:
    """(unreachable semi-sync replicas of the primary, a note)."""
    last = primary.last_good
    if last is None or not last.semi_sync.master_enabled:
        return (), None
    if not last.semi_sync.master_status:
        return (), (f"semi-sync was enabled on {primary.name} but had stopped when it was last "
                    "seen: commits since then may be lost")
    missing = tuple(v.name for v in cluster.servers if not v.running and v.last_good is not None
                    and v.last_good.semi_sync.slave_enabled
                    and _was_replica_of(v, primary))
    note = ("semi-sync was on: the candidate has the highest Gtid_IO_Pos of all reachable "
            "replicas and waits for its relay log, so it holds every acknowledged commit")
    return missing, note


def plan_failover(cluster: ClusterState, settings: MonitorSettings, *, now: float,
                  judgement: PrimaryJudgement | None = None, automatic: bool = True,
                  history: FailoverHistory = FailoverHistory(),
                  promotion_sql: tuple[str, ...] = (), to: str | None = None) -> Plan | Refusal:
    """Plan the failover of the cluster's failed primary.  Automatic failovers need
    ``auto_failover``, a FAILED ``judgement`` and no active failover block; a manual one
    (``automatic=False``, ``interlock ctl failover [--to server]``) skips those checks but
    never the candidate rules."""
    primary = cluster.primary
    refusal = _preconditions(cluster, settings, now, judgement, automatic, history)
    if refusal is not None or primary is None:
        return refusal or Refusal(PlanKind.FAILOVER, None, "there is no primary")
    pview = cluster.server(primary)
    assert pview is not None
    missing, semi_note = _semisync(cluster, pview)
    if missing and automatic:
        return Refusal(PlanKind.FAILOVER, primary,
                       f"semi-sync replica(s) {', '.join(missing)} unreachable: they may hold "
                       "acknowledged commits no reachable replica has",
                       remedies=("bring them back", "run `interlock ctl failover` by hand "
                                 "after deciding those commits may be lost"))
    ranking = rank_candidates(cluster, primary, settings, only=to)
    chosen = best_candidate(ranking)
    if chosen is None:
        return Refusal(PlanKind.FAILOVER, primary, "no server can be promoted",
                       details=explain_rejections(ranking))
    notes = tuple(n for n in (semi_note, _pending_note(chosen)) if n)
    return _failover_plan(cluster, settings, primary, chosen, promotion_sql, notes)


def _preconditions(cluster: ClusterState, settings: MonitorSettings, now: float,
                   judgement: PrimaryJudgement | None, automatic: bool,
                   history: FailoverHistory) -> Refusal | None:
    primary = cluster.primary
    if primary is None:
        return Refusal(PlanKind.FAILOVER, None, "there is no primary to fail over from")
    view = cluster.server(primary)
    if view is not None and view.running:
        return Refusal(PlanKind.FAILOVER, primary, f"the primary {primary} is running",
                       remedies=("use `interlock ctl switchover` for a planned change",))
    if not automatic:
        return None
    if not settings.auto_failover:
        return Refusal(PlanKind.FAILOVER, primary, "auto_failover is off")
    if judgement is None or not judgement.failed:
        reason = judgement.reason if judgement is not None else "no failure verdict"
        return Refusal(PlanKind.FAILOVER, primary, f"the primary is not declared failed: {reason}")
    return failover_block(history, now, settings)


def _pending_note(chosen: Candidate) -> str | None:
    if not chosen.relay_log_pending:
        return None
    return (f"{chosen.name} has {chosen.sequence - chosen.applied_sequence} relay-log "
            "transaction(s) to apply before promotion")


def _failover_plan(cluster: ClusterState, settings: MonitorSettings, primary: str,
                   chosen: Candidate, promotion_sql: tuple[str, ...],
                   notes: tuple[str, ...]) -> Plan:
    name = chosen.name
    link = chosen.link
    steps: list[Step] = []
    if link is not None:
        steps.append(Step(StepKind.WAIT_RELAY_APPLIED, name,
                          f"wait until {name} has applied its relay log", settings.failover_timeout,
                          params=(("connection", link.connection_name),
                                  ("domain", str(primary_domain(cluster, primary))))))
    steps += promote_steps(cluster, name, link, primary, settings, promotion_sql, undo=False)
    steps.append(publish_step(name, primary))
    ponr = len(steps) - 1
    others = [lk for lk in cluster.replica_links(primary) if lk.replica != name]
    for other in others:
        steps += redirect_steps(cluster, other, name, None, settings, undo=False)
    for other in others:
        steps.append(check_replicating(cluster, other.replica, other.connection_name, name,
                                       settings.failover_timeout))
    return Plan(PlanKind.FAILOVER, name, primary, tuple(steps), ponr, notes)


def _was_replica_of(view: ServerView, primary: ServerView) -> bool:
    """Did ``view``, when last seen, have a connection to ``primary``'s address?"""
    last = view.last_good
    spec = primary.spec
    return last is not None and any(
        st.master_host.lower() == spec.address.lower() and st.master_port == spec.port
        for st in last.slaves)
