"""Switchover planning (pure): the planned change of primary, with fencing on the server.

Steps (issue 5), each with its undo where one exists:

1. check: the candidate still replicates from the primary, lag <= ``switchover_max_lag``;
2. hold new writes at the proxy (undo: release them to the old primary): new transactions and
   autocommit writes wait there, statements of transactions already open go on;
3. drain: wait until the old primary has no open client transaction (``INNODB_TRX`` joined
   with the process list, the monitor's and replication users' threads and the executor's own
   connection left out), at most ``min(DRAIN_MAX_SECONDS, DRAIN_SHARE x timeout)``, so the
   transactions that were open when the hold began finish on the old primary instead of being
   killed and replayed (a replay fails when other sessions changed the rows it read); what is
   left when the time is up is killed by the next step, exactly as without the drain;
4. fencing on the old primary: ``KILL CONNECTION`` of every client connection, repeated until
   the process list holds none (replication and the monitor's own sessions are kept); then
   ``read_only=1`` (undo: ``read_only=0``); then the kill loop again for whatever connected in
   between.  This is what stops a statement already running there (``INSERT ... SLEEP(30)``)
   from committing after the switch: killed, it rolls back instead of reaching the binlog.
   The kill comes first because ``SET GLOBAL read_only=1`` waits for running writes to finish
   (it takes the global read lock; measured on MariaDB 10.11: it waited out the whole
   ``SLEEP``), so read-only first would let exactly that statement commit;
5. ``demotion_sql_file``; ``FLUSH NO_WRITE_TO_BINLOG TABLES``; ``FLUSH BINARY LOGS``;
6. read the old primary's final ``gtid_binlog_pos``; ``MASTER_GTID_WAIT`` for it on the
   candidate;
7. promote the candidate (stop/remove its connection, ``read_only=0``, promotion SQL; undo:
   re-create the connection, read-only again); point the old primary (``MASTER_DEMOTE_TO_SLAVE=1``
   on MariaDB >= 10.10, else ``MASTER_USE_GTID=current_pos``) and the other replicas at it
   (undo: point them back);
8. publish the topology (undo: route to the old primary again); release the held writes to the
   new primary: the point of no return; then check that the others replicate.

Dual master (the two servers replicate from each other, one writable): the same fencing, then
only the writable role moves: no CHANGE MASTER.
"""

from __future__ import annotations

from interlock.monitor.candidates import (
    Candidate,
    best_candidate,
    explain_rejections,
    rank_candidates,
)
from interlock.monitor.cluster import ClusterState, Link, ServerView
from interlock.monitor.common import (
    SQL_TIMEOUT,
    check_replicating,
    promote_steps,
    publish_step,
    read_only_step,
    redirect_steps,
    script_step,
    source_of,
    sql_step,
)
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.sqltext import (
    DEMOTE_TO_SLAVE_VERSION,
    GtidMode,
    change_master,
    quote,
    reset_slave_all,
    start_slave,
    stop_slave,
)
from interlock.monitor.states import ServerState
from interlock.monitor.steps import Plan, PlanKind, Refusal, Step, StepKind

OLD_PRIMARY_GTID = "old_primary_gtid"
#: the drain before the fencing waits at most this long (seconds) ...
DRAIN_MAX_SECONDS = 2.0
#: ... and at most this share of the switchover timeout (the write hold's time limit)
DRAIN_SHARE = 0.25
#: server threads that are not client sessions (never counted by the drain)
_SERVER_USERS = ("system user", "event_scheduler")


def drain_sql(keep_users: tuple[str, ...]) -> str:
    """One row, one column ``open_trx``: the client transactions open on the server, except those
    of ``keep_users`` (the monitor, replication), server threads and the asking connection."""
    users = ", ".join(quote(u) for u in (*keep_users, *_SERVER_USERS))
    return ("SELECT COUNT(*) AS open_trx FROM information_schema.INNODB_TRX t"
            " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
            f" WHERE p.ID <> CONNECTION_ID() AND p.USER NOT IN ({users})")


def drain_step(server: str, keep_users: tuple[str, ...], limit: float) -> Step:
    """Wait (bounded) until ``server`` has no open client transaction."""
    timeout = max(0.0, min(DRAIN_MAX_SECONDS, DRAIN_SHARE * limit))
    return Step(StepKind.DRAIN, server,
                f"let the open transactions on {server} finish (at most {timeout:g}s)", timeout,
                sql=(drain_sql(keep_users),))


def plan_switchover(cluster: ClusterState, settings: MonitorSettings, *, to: str | None = None,
                    timeout: float | None = None, monitor_user: str = "",
                    promotion_sql: tuple[str, ...] = (), demotion_sql: tuple[str, ...] = (),
                    fence: bool = True) -> Plan | Refusal:
    """Plan a switchover to ``to`` (default: the best candidate).  ``monitor_user``: the
    account the executor connects as (its sessions survive fencing).  ``fence=False`` leaves out
    the server-side fencing (the KILL loops and ``read_only=1`` on the old primary), as a
    proxy-only switchover does: only for the test that shows what fencing prevents."""
    limit = settings.switchover_timeout if timeout is None else timeout
    primary = cluster.primary
    pview = cluster.server(primary) if primary is not None else None
    if primary is None or pview is None or not pview.states & ServerState.MASTER:
        return Refusal(PlanKind.SWITCHOVER, to, "there is no running primary",
                       remedies=("use `interlock ctl failover` when the primary is down",))
    if to == primary:
        return Refusal(PlanKind.SWITCHOVER, to, f"{to} is already the primary")
    if to is not None and cluster.server(to) is None:
        return Refusal(PlanKind.SWITCHOVER, to, f"{to} is not a monitored server")
    ranking = rank_candidates(cluster, primary, settings, max_lag=settings.switchover_max_lag,
                              only=to)
    chosen = best_candidate(ranking)
    if chosen is None or chosen.link is None:
        return Refusal(PlanKind.SWITCHOVER, to, "no server can take over as primary",
                       details=explain_rejections(ranking))
    back = pview.link_to(chosen.name)
    dual = back is not None and back.running
    if not dual and settings.replication_user is None:
        return Refusal(PlanKind.SWITCHOVER, chosen.name,
                       "replication_user is not set: the old primary cannot be pointed at the "
                       "new one", remedies=("set replication_user/replication_password",))
    keep = tuple(u for u in (monitor_user, settings.replication_user or "") if u)
    head = _fence_steps(cluster, pview, chosen, limit, keep, demotion_sql, fence, settings)
    if dual and back is not None:
        return _dual_plan(cluster, pview, chosen, back, head, limit, promotion_sql)
    return _plan(cluster, pview, chosen, head, limit, promotion_sql, settings)


def _fence_steps(cluster: ClusterState, pview: ServerView, chosen: Candidate, limit: float,
                 keep: tuple[str, ...], demotion_sql: tuple[str, ...], fence: bool,
                 settings: MonitorSettings) -> list[Step]:
    old, new = pview.name, chosen.name
    assert chosen.link is not None
    steps = [
        check_replicating(cluster, new, chosen.link.connection_name, old, min(limit, SQL_TIMEOUT),
                          settings.switchover_max_lag,
                          f"check that {new} replicates from {old} with lag <= "
                          f"{settings.switchover_max_lag:g}s"),
        Step(StepKind.HOLD_WRITES, old, "hold new writes at the proxy", limit,
             undo=Step(StepKind.RELEASE_WRITES, old, f"release the held writes to {old}",
                       SQL_TIMEOUT)),
    ]
    if fence:
        kill = Step(StepKind.KILL_CLIENTS, old,
                    f"kill every client connection on {old} until none remain", limit,
                    params=(("keep_users", ",".join(keep)),))
        steps += [drain_step(old, keep, limit), kill, read_only_step(old, on=True), kill]
    steps += script_step(old, "demotion_sql_file", demotion_sql)
    steps.append(sql_step(old, "flush tables and binary logs", "FLUSH NO_WRITE_TO_BINLOG TABLES",
                          "FLUSH BINARY LOGS", timeout=limit))
    steps.append(Step(StepKind.READ_GTID, old, f"read {old}'s final gtid_binlog_pos",
                      SQL_TIMEOUT, output=OLD_PRIMARY_GTID))
    steps.append(Step(StepKind.WAIT_GTID, new, f"wait until {new} has applied all of it", limit,
                      sql=(f"SELECT MASTER_GTID_WAIT(${{{OLD_PRIMARY_GTID}}}, {limit:g}) "
                           "AS result",), inputs=(OLD_PRIMARY_GTID,)))
    return steps


def _finish(plan_steps: list[Step], new: str, old: str) -> int:
    plan_steps.append(publish_step(new, old, undo_to=old))
    plan_steps.append(Step(StepKind.RELEASE_WRITES, new, f"release the held writes to {new}",
                           SQL_TIMEOUT))
    return len(plan_steps) - 1


def _old_primary_mode(pview: ServerView) -> str:
    obs = pview.observation
    if obs is not None and obs.is_mariadb and obs.version_tuple >= DEMOTE_TO_SLAVE_VERSION:
        return GtidMode.DEMOTE
    return GtidMode.CURRENT_POS


def _plan(cluster: ClusterState, pview: ServerView, chosen: Candidate, steps: list[Step],
          limit: float, promotion_sql: tuple[str, ...], settings: MonitorSettings) -> Plan:
    old, new = pview.name, chosen.name
    steps += promote_steps(cluster, new, chosen.link, old, settings, promotion_sql, undo=True)
    conn = "" if not any(link.connection_name == "" for link in pview.links) else "interlock"
    undo = sql_step(old, f"remove {old}'s connection to {new}", stop_slave(conn),
                    reset_slave_all(conn))
    steps.append(sql_step(old, f"point {old} at {new}",
                          change_master(conn, source_of(cluster, new), settings,
                                        _old_primary_mode(pview)),
                          start_slave(conn), undo=undo))
    others = [lk for lk in cluster.replica_links(old) if lk.replica != new]
    for link in others:
        steps += redirect_steps(cluster, link, new, old, settings, undo=True)
    ponr = _finish(steps, new, old)
    steps.append(check_replicating(cluster, old, conn, new, limit))
    steps += [check_replicating(cluster, lk.replica, lk.connection_name, new, limit)
              for lk in others]
    return Plan(PlanKind.SWITCHOVER, new, old, tuple(steps), ponr)


def _dual_plan(cluster: ClusterState, pview: ServerView, chosen: Candidate, back: Link,
               steps: list[Step], limit: float, promotion_sql: tuple[str, ...]) -> Plan:
    old, new = pview.name, chosen.name
    steps.append(read_only_step(new, on=False))
    steps += script_step(new, "promotion_sql_file", promotion_sql)
    ponr = _finish(steps, new, old)
    steps.append(check_replicating(cluster, old, back.connection_name, new, limit))
    return Plan(PlanKind.SWITCHOVER, new, old, tuple(steps), ponr,
                notes=(f"{old} and {new} replicate from each other: only the writable role "
                       "moves (no CHANGE MASTER)",))
