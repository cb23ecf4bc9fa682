"""Rejoin planning (pure): a server that came back becomes a replica of the primary.

It rejoins only when its ``gtid_current_pos`` is a prefix of the primary's ``gtid_binlog_pos``
(:func:`~interlock.monitor.gtid.prefix_check`).  When it has diverged (transactions the
cluster does not have: an old primary's unreplicated commits) or the primary has no usable
``gtid_binlog_pos``, the answer is a :class:`Refusal` naming the exact GTIDs and what a person
can do: ``interlock ctl rejoin <server> --force`` after deciding those transactions may stay
(replication may then stop on a conflict), or rebuild the server from the primary.
"""

from __future__ import annotations

from interlock.monitor.cluster import ClusterState, Link, ServerView
from interlock.monitor.common import (
    check_replicating,
    read_only_step,
    script_step,
    source_of,
    sql_step,
)
from interlock.monitor.gtid import prefix_check
from interlock.monitor.observations import ServerObservation
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.sqltext import (
    DEMOTE_TO_SLAVE_VERSION,
    GtidMode,
    change_master,
    reset_slave_all,
    start_slave,
    stop_slave,
)
from interlock.monitor.states import ServerState
from interlock.monitor.steps import Plan, PlanKind, Refusal, Step

#: how long a rejoin waits for the server to replicate (the monitor does not tick meanwhile)
REJOIN_CHECK_TIMEOUT = 15.0


def _remedies(server: str) -> tuple[str, ...]:
    return (f"`interlock ctl rejoin {server} --force` once you decide its extra transactions may "
            "stay (replication can then stop on a conflict)",
            f"rebuild {server} from a backup of the primary (mariabackup) and rejoin it")


def gtid_mode_for(obs: ServerObservation) -> str:
    """How a rejoining server should start: ``slave_pos`` when it was a replica (its slave
    position covers everything it has); an old primary keeps what it wrote itself."""
    if obs.gtid_slave_pos.covers(obs.gtid_current_pos):
        return GtidMode.SLAVE_POS
    if obs.is_mariadb and obs.version_tuple >= DEMOTE_TO_SLAVE_VERSION:
        return GtidMode.DEMOTE
    return GtidMode.CURRENT_POS


def plan_rejoin(cluster: ClusterState, server: str, settings: MonitorSettings, *,
                force: bool = False, automatic: bool = True,
                demotion_sql: tuple[str, ...] = ()) -> Plan | Refusal:
    primary = cluster.primary
    pview = cluster.server(primary) if primary is not None else None
    view = cluster.server(server)
    refusal = _preconditions(cluster, server, view, pview)
    if refusal is not None or view is None or pview is None or primary is None:
        return refusal or Refusal(PlanKind.REJOIN, server, "not possible")
    obs, pobs = view.observation, pview.observation
    assert obs is not None and pobs is not None
    notes: tuple[str, ...] = ()
    if not obs.gtid_current_pos and automatic:
        return Refusal(PlanKind.REJOIN, server, "it has no GTID position (empty "
                       "gtid_current_pos): it would replay the primary's whole binlog",
                       remedies=(f"`interlock ctl rejoin {server}` by hand",))
    if not pobs.gtid_binlog_pos and obs.gtid_current_pos:
        return Refusal(PlanKind.REJOIN, server, f"the primary {primary} has no usable "
                       "gtid_binlog_pos", details=(f"{server} has {obs.gtid_current_pos}",),
                       remedies=_remedies(server))
    check = prefix_check(obs.gtid_current_pos, pobs.gtid_binlog_pos)
    if not check.ok:
        details = tuple(f"{server} has {d}" for d in check.extra)
        if not force:
            return Refusal(PlanKind.REJOIN, server,
                           f"{server} has diverged from {primary}: {check.describe()}",
                           details=details, remedies=_remedies(server))
        notes = (f"forced although diverged: {'; '.join(details)}",)
    return _plan(cluster, view, primary, settings, demotion_sql, notes)


def _preconditions(cluster: ClusterState, server: str, view: ServerView | None,
                   pview: ServerView | None) -> Refusal | None:
    if pview is None or not pview.running:
        return Refusal(PlanKind.REJOIN, server, "there is no running primary to join")
    if view is None:
        return Refusal(PlanKind.REJOIN, server, f"{server} is not a monitored server")
    if server == pview.name:
        return Refusal(PlanKind.REJOIN, server, f"{server} is the primary")
    if not view.running:
        return Refusal(PlanKind.REJOIN, server, f"{server} is not running")
    if view.states & ServerState.MAINTENANCE:
        return Refusal(PlanKind.REJOIN, server, f"{server} is in maintenance")
    link = view.link_to(pview.name)
    if link is not None and link.running and len(view.links) == 1:
        return Refusal(PlanKind.REJOIN, server, f"{server} already replicates from {pview.name}")
    return None


def _plan(cluster: ClusterState, view: ServerView, primary: str, settings: MonitorSettings,
          demotion_sql: tuple[str, ...], notes: tuple[str, ...]) -> Plan | Refusal:
    server = view.name
    assert view.observation is not None
    wrong = [lk for lk in view.links if not lk.external]
    steps: list[Step] = []
    if not view.links:
        steps += script_step(server, "demotion_sql_file", demotion_sql)
    steps.append(read_only_step(server, on=True, undo=False))
    reuse: Link | None = wrong[0] if wrong else None
    for extra in wrong[1:]:
        steps.append(sql_step(server, f"remove {server}'s connection to "
                              f"{extra.source or extra.address}",
                              stop_slave(extra.connection_name),
                              reset_slave_all(extra.connection_name)))
    if reuse is None and settings.replication_user is None:
        return Refusal(PlanKind.REJOIN, server, "replication_user is not set: a new "
                       "replication connection needs credentials",
                       remedies=("set replication_user/replication_password",))
    conn = reuse.connection_name if reuse is not None else ""
    mode = gtid_mode_for(view.observation)
    stop = (stop_slave(conn),) if reuse is not None else ()
    steps.append(sql_step(server, f"point {server} at {primary}", *stop,
                          change_master(conn, source_of(cluster, primary), settings, mode),
                          start_slave(conn)))
    steps.append(check_replicating(cluster, server, conn, primary,
                                   min(settings.switchover_timeout, REJOIN_CHECK_TIMEOUT)))
    return Plan(PlanKind.REJOIN, server, primary, tuple(steps), None, notes)
