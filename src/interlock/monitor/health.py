"""Failure counting and the holistic "primary failed" verdict (pure).

:func:`update_health` folds one tick's observations into a :class:`HealthState`: consecutive
failed probes per server, and per replication connection the last time its ``Gtid_IO_Pos`` or
heartbeat counter moved (the replica still *receives* from its source).  :func:`judge_primary`
then decides whether the primary failed:

1. the proxy's own probes failed ``failcount`` times in a row (otherwise ``SUSPECT``), and
2. the replicas agree (``verify_master_failure``, as MaxScale and Orchestrator require): no
   reachable replica's IO thread is connected to the primary *and* receiving.  A replica whose
   IO thread says ``Yes`` and whose ``Gtid_IO_Pos`` or heartbeat count moved within
   ``master_failure_timeout`` still replicates from the primary: the primary is then only
   unreachable from the proxy (``UNREACHABLE_FROM_PROXY``: no failover, a warning).  ``Yes``
   without movement for the whole timeout counts as lost (a half-open connection); ``Yes`` seen
   for less than the timeout without movement is ``VERIFYING``.  Connecting/No: lost.

An idle primary sends no events, only heartbeats (every ``MASTER_HEARTBEAT_PERIOD``, by default
half of ``slave_net_timeout``, i.e. 30 s): the heartbeat period must be shorter than
``master_failure_timeout`` for an idle but live primary to be told from a half-open connection.
The plans set it on every connection they create (:data:`heartbeat_period`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from interlock.monitor.cluster import ClusterState, Link
from interlock.monitor.gtid import GtidList
from interlock.monitor.observations import IoState, ServerObservation
from interlock.monitor.settings import MonitorSettings


@dataclass(frozen=True, slots=True)
class Progress:
    """What one replication connection has received, and since when it has not changed."""

    gtid_io_pos: GtidList
    heartbeats: int
    io_state: IoState
    first_seen: float  # when this connection (to this address) was first seen
    changed_at: float  # when position or heartbeats last moved (first_seen at first)


ProgressKey = tuple[str, str, str]  # replica, connection name, "host:port"


@dataclass(frozen=True, slots=True)
class HealthState:
    failures: Mapping[str, int] = field(default_factory=dict)  # consecutive failed probes
    last_error: Mapping[str, str] = field(default_factory=dict)
    progress: Mapping[ProgressKey, Progress] = field(default_factory=dict)

    def failure_count(self, name: str) -> int:
        return self.failures.get(name, 0)


def update_health(previous: HealthState | None, observations: Mapping[str, ServerObservation],
                  now: float) -> HealthState:
    """Fold one tick in.  Servers missing from ``observations`` keep their counts."""
    prev = previous or HealthState()
    failures = dict(prev.failures)
    errors = dict(prev.last_error)
    progress = dict(prev.progress)
    for name, obs in observations.items():
        if obs.reachable:
            failures[name] = 0
            errors.pop(name, None)
            for key in [k for k in progress if k[0] == name]:
                del progress[key]
            for st in obs.slaves:
                key = (name, st.connection_name, f"{st.master_host}:{st.master_port}")
                old = prev.progress.get(key)
                moved = old is None or (old.gtid_io_pos, old.heartbeats) != (
                    st.gtid_io_pos, st.received_heartbeats)
                progress[key] = Progress(
                    st.gtid_io_pos, st.received_heartbeats, st.io_state,
                    old.first_seen if old is not None else now,
                    now if moved or old is None else old.changed_at)
        else:
            failures[name] = prev.failures.get(name, 0) + 1
            errors[name] = str(obs.error)
    return HealthState(failures, errors, progress)


class Verdict(Enum):
    NO_PRIMARY = "no primary"
    HEALTHY = "healthy"
    SUSPECT = "suspect"  # probes failing, fewer than failcount
    VERIFYING = "verifying"  # failcount reached; replicas' view not conclusive yet
    UNREACHABLE_FROM_PROXY = "unreachable from the proxy only"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PrimaryJudgement:
    verdict: Verdict
    primary: str | None
    reason: str
    still_replicating: tuple[str, ...] = ()  # replicas that still receive from the primary

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAILED


def _link_evidence(link: Link, health: HealthState, settings: MonitorSettings,
                   now: float) -> str:
    """"alive", "lost" or "unsure" for one replica connection to the primary."""
    if link.status.io_state is not IoState.YES:
        return "lost"
    if not settings.verify_master_failure:
        return "lost"
    key = (link.replica, link.connection_name, link.address)
    seen = health.progress.get(key)
    if seen is None:
        return "unsure"
    timeout = settings.master_failure_timeout
    if seen.changed_at > seen.first_seen and now - seen.changed_at <= timeout:
        return "alive"
    if now - seen.first_seen < timeout:
        return "unsure"
    return "lost"


def judge_primary(cluster: ClusterState, health: HealthState, settings: MonitorSettings,
                  now: float) -> PrimaryJudgement:
    primary = cluster.primary
    if primary is None:
        return PrimaryJudgement(Verdict.NO_PRIMARY, None, cluster.primary_reason)
    view = cluster.server(primary)
    if view is not None and view.running:
        return PrimaryJudgement(Verdict.HEALTHY, primary, f"{primary} answers the monitor")
    count = health.failure_count(primary)
    if count < settings.failcount:
        return PrimaryJudgement(Verdict.SUSPECT, primary,
                                f"{primary}: {count} of {settings.failcount} probes failed")
    links = cluster.replica_links(primary)
    if not settings.verify_master_failure:
        return PrimaryJudgement(Verdict.FAILED, primary,
                                f"{primary}: {count} probes failed (verify_master_failure=off)")
    evidence = {link: _link_evidence(link, health, settings, now) for link in links}
    alive = tuple(sorted({link.replica for link, e in evidence.items() if e == "alive"}))
    if alive:
        return PrimaryJudgement(
            Verdict.UNREACHABLE_FROM_PROXY, primary,
            f"{primary} is unreachable from the proxy but {', '.join(alive)} still "
            f"replicate(s) from it: no failover", alive)
    if any(e == "unsure" for e in evidence.values()):
        return PrimaryJudgement(Verdict.VERIFYING, primary,
                                f"{primary}: {count} probes failed; waiting up to "
                                f"{settings.master_failure_timeout:g}s for the replicas' view")
    if not links:
        return PrimaryJudgement(Verdict.FAILED, primary,
                                f"{primary}: {count} probes failed; no reachable replica "
                                f"replicates from it to confirm")
    states = ", ".join(f"{link.replica}: IO {link.status.io_state.value}" for link in links)
    return PrimaryJudgement(Verdict.FAILED, primary,
                            f"{primary}: {count} probes failed and its replicas lost it too "
                            f"({states})")
