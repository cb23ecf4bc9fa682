"""Small pure decisions of the monitor loop: what to publish, whom to rejoin, what to report.

Kept apart from :mod:`interlock.monitor.loop` (I/O) so they are unit-tested without servers.
"""

from __future__ import annotations

from dataclasses import replace

from interlock.config.model import MonitorConfig
from interlock.monitor.cluster import ClusterState
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.states import ServerState
from interlock.routing.topology import Topology

#: MaxScale's monitor-level connection parameters the probe uses (seconds)


def same_topology(a: Topology | None, b: Topology) -> bool:
    """Equal for routing (the generation number aside)."""
    return a is not None and a.servers == b.servers and a.global_gtid == b.global_gtid


_TRUE_WORDS = frozenset({"true", "on", "yes", "1", "safe"})


def settings_for(config: MonitorConfig) -> MonitorSettings:
    """The monitor's settings from its config section; without ``replication_user`` the
    monitor's own account is used for replication, as MaxScale does."""
    p = config.mariadbmon
    user = p.replication_user or config.user
    password = p.replication_password if p.replication_user else config.password
    return MonitorSettings(
        monitor_interval=config.monitor_interval, failcount=p.failcount,
        auto_failover=p.auto_failover.lower() in _TRUE_WORDS, auto_rejoin=p.auto_rejoin,
        failover_timeout=p.failover_timeout, switchover_timeout=p.switchover_timeout,
        verify_master_failure=p.verify_master_failure,
        master_failure_timeout=p.master_failure_timeout,
        servers_no_promotion=p.servers_no_promotion or (),
        promotion_sql_file=p.promotion_sql_file, demotion_sql_file=p.demotion_sql_file,
        enforce_read_only_slaves=p.enforce_read_only_slaves,
        enforce_writable_master=p.enforce_writable_master, replication_user=user,
        replication_password=password or "", replication_master_ssl=p.replication_master_ssl,
        failover_block=p.failover_block, switchover_max_lag=p.switchover_max_lag)


def rejoin_candidates(cluster: ClusterState) -> tuple[str, ...]:
    """Running servers that are neither the primary nor one of its replicas (standalone, or
    replicating from somewhere else): what ``auto_rejoin`` looks at."""
    primary = cluster.server(cluster.primary) if cluster.primary else None
    if primary is None or not primary.states & ServerState.MASTER:
        return ()
    return tuple(
        v.name for v in cluster.servers
        if v.running and v.name != primary.name
        and not v.states & (ServerState.SLAVE | ServerState.MAINTENANCE)
    )


def promoted(cluster: ClusterState, primary: str, demoted: str | None) -> ClusterState:
    """``cluster`` as the routers must see it right after ``primary`` was promoted, before the
    next probe confirms it: ``primary`` is the Master, ``demoted`` a replica when it runs."""
    views = []
    for view in cluster.servers:
        states = view.states & ~(ServerState.MASTER | ServerState.SLAVE
                                 | ServerState.RELAY_MASTER)
        if view.name == primary:
            states = (states | ServerState.MASTER | ServerState.RUNNING) & ~ServerState.DOWN
        elif view.running and (view.name == demoted or view.states & ServerState.SLAVE):
            states |= ServerState.SLAVE
        views.append(replace(view, states=states))
    return replace(cluster, servers=tuple(views), primary=primary,
                   primary_reason=f"{primary} promoted by a cluster operation")


def warnings_added(before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, ...]:
    """Warnings that are new in this tick (a warning is logged once while it lasts)."""
    old = set(before)
    return tuple(w for w in after if w not in old)
