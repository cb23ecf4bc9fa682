"""Hand-built observations for the monitor's unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from interlock.monitor.cluster import AdminMode, ClusterState, ServerSpec, build_cluster
from interlock.monitor.gtid import GtidList
from interlock.monitor.observations import (
    IoState,
    ProbeError,
    ProbeFailure,
    SemiSync,
    ServerObservation,
    SlaveStatus,
    UsingGtid,
)
from interlock.monitor.settings import MonitorSettings

HOST = "127.0.0.1"
PORTS = {f"server{i}": 3300 + i for i in range(1, 7)}


def specs(*names: str, priorities: Mapping[str, int] | None = None) -> tuple[ServerSpec, ...]:
    names = names or ("server1", "server2", "server3")
    prio = priorities or {}
    return tuple(ServerSpec(n, HOST, PORTS[n], prio.get(n, 0)) for n in names)


def link(source: str, *, io: str = "Yes", sql: bool = True, io_pos: str = "0-1-100",
         conn: str = "", lag: int | None = 0, host: str = HOST, port: int | None = None,
         master_id: int | None = None, heartbeats: int = 0, using: str = "Slave_Pos",
         io_error: str = "", sql_error: str = "") -> SlaveStatus:
    """A replication connection to ``source`` (a server name, or ``ext`` with ``port``)."""
    return SlaveStatus(
        connection_name=conn,
        master_host=host,
        master_port=port if port is not None else PORTS[source],
        io_state=IoState(io),
        sql_running=sql,
        seconds_behind_master=lag,
        gtid_io_pos=GtidList.parse(io_pos),
        using_gtid=UsingGtid(using),
        last_io_errno=2003 if io_error else 0,
        last_io_error=io_error,
        last_sql_errno=1062 if sql_error else 0,
        last_sql_error=sql_error,
        master_server_id=master_id,
        received_heartbeats=heartbeats,
    )


def up(name: str, *, read_only: bool = False, current: str = "0-1-100",
       binlog: str | None = None, slave_pos: str | None = None,
       slaves: Iterable[SlaveStatus] = (), log_bin: bool = True, log_slave_updates: bool = True,
       semi: SemiSync | None = None, version: str = "10.11.6-MariaDB-log", at: float = 0.0,
       server_id: int | None = None, domain: int = 0) -> ServerObservation:
    slaves = tuple(slaves)
    return ServerObservation(
        name=name,
        observed_at=at,
        version=version,
        server_id=server_id if server_id is not None else int(name.removeprefix("server")),
        read_only=read_only,
        log_bin=log_bin,
        log_slave_updates=log_slave_updates,
        gtid_domain_id=domain,
        gtid_current_pos=GtidList.parse(current),
        gtid_binlog_pos=GtidList.parse(binlog if binlog is not None else current),
        gtid_slave_pos=GtidList.parse(slave_pos if slave_pos is not None
                                      else (current if slaves else "")),
        gtid_strict_mode=True,
        semi_sync=semi or SemiSync(),
        slaves=slaves,
    )


def replica(name: str, source: str = "server1", *, pos: str = "0-1-100", **kw: object
            ) -> ServerObservation:
    """A read-only replica of ``source``, caught up at ``pos``; ``kw`` goes to :func:`link`."""
    return up(name, read_only=True, current=pos, slaves=[link(source, io_pos=pos, **kw)])  # type: ignore[arg-type]


def down(name: str, *, auth: bool = False, at: float = 0.0) -> ServerObservation:
    kind = ProbeFailure.AUTH if auth else ProbeFailure.DOWN
    code = 1045 if auth else 2003
    return ServerObservation(name=name, observed_at=at,
                             error=ProbeError(kind, "probe failed", code))


def cluster(*observations: ServerObservation, names: tuple[str, ...] = (),
            previous: ClusterState | None = None, settings: MonitorSettings | None = None,
            admin: Mapping[str, AdminMode] | None = None,
            failures: Mapping[str, int] | None = None,
            priorities: Mapping[str, int] | None = None) -> ClusterState:
    names = names or tuple(o.name for o in observations)
    return build_cluster(specs(*names, priorities=priorities),
                         {o.name: o for o in observations}, previous, settings, admin, failures)


def words(state: ClusterState, name: str) -> str:
    view = state.server(name)
    assert view is not None
    return view.state_text


REPL = MonitorSettings(replication_user="repl", replication_password="s3cret")
