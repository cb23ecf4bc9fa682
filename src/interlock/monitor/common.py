"""Step builders shared by the failover, switchover and rejoin planners (pure)."""

from __future__ import annotations

from interlock.monitor.cluster import ClusterState, Link
from interlock.monitor.settings import MonitorSettings
from interlock.monitor.sqltext import (
    GtidMode,
    ReplicationSource,
    change_master,
    reset_slave_all,
    set_read_only,
    start_slave,
    stop_slave,
)
from interlock.monitor.steps import Step, StepKind

#: SQL statements (short, local) get this timeout; waits get the operation's timeout
SQL_TIMEOUT = 10.0


def source_of(cluster: ClusterState, name: str) -> ReplicationSource:
    view = cluster.server(name)
    if view is None:
        raise KeyError(name)
    return ReplicationSource(view.spec.address, view.spec.port)


def sql_step(server: str, description: str, *sql: str, undo: Step | None = None,
             timeout: float = SQL_TIMEOUT) -> Step:
    return Step(StepKind.SQL, server, description, timeout, tuple(sql), undo=undo)


def read_only_step(server: str, on: bool, undo: bool = True) -> Step:
    word = "read-only" if on else "writable"
    back = sql_step(server, f"make {server} {'writable' if on else 'read-only'} again",
                    set_read_only(not on)) if undo else None
    return sql_step(server, f"make {server} {word}", set_read_only(on), undo=back)


def script_step(server: str, label: str, lines: tuple[str, ...]) -> tuple[Step, ...]:
    if not lines:
        return ()
    return (sql_step(server, f"run {label} ({len(lines)} statement(s))", *lines),)


def check_replicating(cluster: ClusterState, server: str, connection: str, source: str,
                      timeout: float, max_lag: float | None = None,
                      description: str | None = None) -> Step:
    address = source_of(cluster, source)
    params = [("connection", connection), ("source", f"{address.host}:{address.port}"),
              ("source_name", source)]
    if max_lag is not None:
        params.append(("max_lag", f"{max_lag:g}"))
    text = description or f"check that {server} replicates from {source}"
    return Step(StepKind.CHECK_REPLICATING, server, text, timeout, params=tuple(params))


def redirect_steps(cluster: ClusterState, link: Link, new_source: str, old_source: str | None,
                   settings: MonitorSettings, undo: bool) -> tuple[Step, ...]:
    """Point ``link``'s replica (same connection name) at ``new_source``; the undo points it
    back at ``old_source``."""
    conn, server = link.connection_name, link.replica
    back = None
    if undo and old_source is not None:
        back = sql_step(server, f"point {server} back at {old_source}", stop_slave(conn),
                        change_master(conn, source_of(cluster, old_source), settings),
                        start_slave(conn))
    return (sql_step(server, f"point {server} at {new_source} (keeps its GTID position)",
                     stop_slave(conn),
                     change_master(conn, source_of(cluster, new_source), settings,
                                   GtidMode.SLAVE_POS),
                     start_slave(conn), undo=back),)


def promote_steps(cluster: ClusterState, candidate: str, link: Link | None, old_primary: str,
                  settings: MonitorSettings, promotion_sql: tuple[str, ...],
                  undo: bool) -> tuple[Step, ...]:
    """Stop and remove the candidate's connection to the old primary, make it writable, run the
    promotion SQL.  With ``undo``: re-create the connection and make it read-only again."""
    steps: list[Step] = []
    if link is not None:
        conn = link.connection_name
        restart = sql_step(candidate, f"restart {candidate}'s replication",
                           start_slave(conn)) if undo else None
        steps.append(sql_step(candidate, f"stop {candidate}'s replication from {old_primary}",
                              stop_slave(conn), undo=restart))
        recreate = sql_step(candidate, f"re-create {candidate}'s connection to {old_primary}",
                            change_master(conn, source_of(cluster, old_primary), settings)
                            ) if undo else None
        steps.append(sql_step(candidate, f"remove {candidate}'s replication connection",
                              reset_slave_all(conn), undo=recreate))
    steps.append(read_only_step(candidate, on=False, undo=undo))
    steps += script_step(candidate, "promotion_sql_file", promotion_sql)
    return tuple(steps)


def publish_step(primary: str, demoted: str | None, undo_to: str | None = None) -> Step:
    back = Step(StepKind.PUBLISH, undo_to, f"route to {undo_to} again", SQL_TIMEOUT,
                params=(("demoted", primary),)) if undo_to is not None else None
    return Step(StepKind.PUBLISH, primary, f"publish the topology: {primary} is the primary",
                SQL_TIMEOUT, params=(("demoted", demoted or ""),), undo=back)
