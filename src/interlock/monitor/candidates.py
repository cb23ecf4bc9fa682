"""Promotion candidates: who may replace a primary, and in which order (pure).

A candidate (issue 5): a running replica of the old primary, not in maintenance or draining,
not in ``servers_no_promotion``, with ``log_bin`` and ``log_slave_updates`` (others must be
able to replicate from it), replicating with GTID and with a running SQL thread (it must be
able to apply its relay log).  Order: the highest sequence of the old primary's GTID domain
*after its relay log is applied*, i.e. the larger of its ``Gtid_IO_Pos`` (what it received)
and ``gtid_current_pos`` (what it applied) in that domain; then the configured ``priority``
(a lower positive value first, unset after every positive value); then the name.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.monitor.cluster import ClusterState, Link, ServerView
from interlock.monitor.observations import UsingGtid
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.states import ServerState


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    link: Link | None  # its connection to the old primary
    sequence: int  # domain sequence after the relay log is applied
    applied_sequence: int  # domain sequence of gtid_current_pos now
    priority: int
    rejected: tuple[str, ...] = ()  # why it may not be promoted (empty: eligible)

    @property
    def eligible(self) -> bool:
        return not self.rejected

    @property
    def relay_log_pending(self) -> bool:
        return self.applied_sequence < self.sequence

    def sort_key(self) -> tuple[int, int, str]:
        priority = self.priority if self.priority > 0 else 2**62
        return (-self.sequence, priority, self.name)


def primary_domain(cluster: ClusterState, primary: str) -> int:
    """The GTID domain the primary writes in: its ``gtid_domain_id`` when it was ever seen; else
    the only domain its replicas received; else 0."""
    view = cluster.server(primary)
    if view is not None and view.last_good is not None:
        return view.last_good.gtid_domain_id
    links = cluster.replica_links(primary)
    domains = {d for link in links for d in link.status.gtid_io_pos.domains}
    return domains.pop() if len(domains) == 1 else 0


def _rejections(view: ServerView, link: Link | None, settings: MonitorSettings,
                max_lag: float | None) -> list[str]:
    obs = view.observation
    if obs is None or not obs.reachable:
        return ["not running"]
    found: list[str] = []
    if link is None:
        found.append("does not replicate from the primary")
    if view.states & ServerState.MAINTENANCE:
        found.append("in maintenance")
    if view.states & ServerState.DRAINING:
        found.append("draining")
    if view.name in settings.servers_no_promotion:
        found.append("listed in servers_no_promotion")
    if not obs.log_bin:
        found.append("binary logging is off (log_bin)")
    if not obs.log_slave_updates:
        found.append("log_slave_updates is off")
    if link is not None:
        found += _link_rejections(link, max_lag)
    return found


def _link_rejections(link: Link, max_lag: float | None) -> list[str]:
    found: list[str] = []
    status = link.status
    if status.using_gtid is UsingGtid.NO:
        found.append("replicates without GTID")
    if not status.sql_running:
        found.append("SQL thread not running" + (f" ({status.last_sql_error})"
                                                 if status.last_sql_error else ""))
    if max_lag is not None:
        lag = status.seconds_behind_master
        if not status.connected:
            found.append(f"not connected to the primary (IO {status.io_state.value})")
        elif lag is None or lag > max_lag:
            found.append(f"lag {lag if lag is not None else 'unknown'}s exceeds {max_lag:g}s")
    return found


def rank_candidates(cluster: ClusterState, primary: str, settings: MonitorSettings,
                    domain: int | None = None, max_lag: float | None = None,
                    only: str | None = None) -> tuple[Candidate, ...]:
    """Every other server as a candidate to replace ``primary``, eligible ones first in
    promotion order, then the rejected ones (with reasons) by name.  ``max_lag``: also require
    a connected IO thread and at most this lag (switchover); ``only``: rank just that server."""
    dom = primary_domain(cluster, primary) if domain is None else domain
    found = [_candidate(view, primary, settings, dom, max_lag) for view in cluster.servers
             if view.name != primary and (only is None or view.name == only)]
    eligible = sorted((c for c in found if c.eligible), key=Candidate.sort_key)
    rejected = sorted((c for c in found if not c.eligible), key=lambda c: c.name)
    return (*eligible, *rejected)


def _candidate(view: ServerView, primary: str, settings: MonitorSettings, domain: int,
               max_lag: float | None) -> Candidate:
    link = view.link_to(primary) if view.running else None
    obs = view.observation
    applied = obs.gtid_current_pos.sequence(domain) if obs is not None and obs.reachable else 0
    received = link.status.gtid_io_pos.sequence(domain) if link is not None else 0
    return Candidate(view.name, link, max(applied, received), applied, view.spec.priority,
                     tuple(_rejections(view, link, settings, max_lag)))


def best_candidate(ranking: tuple[Candidate, ...]) -> Candidate | None:
    return ranking[0] if ranking and ranking[0].eligible else None


def explain_rejections(ranking: tuple[Candidate, ...]) -> tuple[str, ...]:
    return tuple(f"{c.name}: {', '.join(c.rejected)}" for c in ranking if not c.eligible)
