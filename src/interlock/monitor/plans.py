"""The planners' public face: failover, switchover, rejoin and enforcement plans (pure).

Every planner returns a :class:`Plan` (steps for the executor) or a :class:`Refusal` (why
not, with details and remedies); none performs I/O.  The plan model lives in
:mod:`interlock.monitor.steps`, the planners in :mod:`~interlock.monitor.failover`,
:mod:`~interlock.monitor.switchover` and :mod:`~interlock.monitor.rejoin`.
"""

from __future__ import annotations

from interlock.monitor.cluster import ClusterState
from interlock.monitor.common import read_only_step
from interlock.monitor.failover import FailoverHistory, failover_block, plan_failover
from interlock.monitor.rejoin import plan_rejoin
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.states import ServerState
from interlock.monitor.steps import (
    Plan,
    PlanKind,
    Refusal,
    Step,
    StepKind,
    render_sql,
    rollback_steps,
)
from interlock.monitor.switchover import OLD_PRIMARY_GTID, plan_switchover

__all__ = [
    "OLD_PRIMARY_GTID",
    "FailoverHistory",
    "Plan",
    "PlanKind",
    "Refusal",
    "Step",
    "StepKind",
    "failover_block",
    "plan_enforcement",
    "plan_failover",
    "plan_rejoin",
    "plan_switchover",
    "render_sql",
    "rollback_steps",
]


def plan_enforcement(cluster: ClusterState, settings: MonitorSettings) -> tuple[Plan, ...]:
    """One-step plans for ``enforce_read_only_slaves`` (writable replicas get ``read_only=1``)
    and ``enforce_writable_master`` (a read-only primary gets ``read_only=0``).  Servers in
    maintenance are left alone."""
    plans: list[Plan] = []
    for view in cluster.servers:
        obs = view.observation
        if obs is None or not obs.reachable or view.states & ServerState.MAINTENANCE:
            continue
        if (settings.enforce_read_only_slaves and view.states & ServerState.SLAVE
                and not obs.read_only):
            plans.append(Plan(PlanKind.ENFORCE, view.name, cluster.primary,
                              (read_only_step(view.name, on=True, undo=False),)))
        if (settings.enforce_writable_master and view.name == cluster.primary
                and obs.read_only):
            plans.append(Plan(PlanKind.ENFORCE, view.name, None,
                              (read_only_step(view.name, on=False, undo=False),)))
    return tuple(plans)
