"""Probe row parsers: the column dicts a DB-API dict cursor returns, as MariaDB names them."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.monitor.errors import ObservationError
from interlock.monitor.gtid import GtidList
from interlock.monitor.observations import (
    PROBE_QUERIES,
    SQL_VARIABLES,
    IoState,
    ProbeFailure,
    UsingGtid,
    build_observation,
    classify_error,
    client_connections,
    failed_observation,
    parse_processlist,
    parse_semisync,
    parse_slave_status,
)

# the shape of a real MariaDB 10.11 SHOW ALL SLAVES STATUS row via PyMySQL DictCursor
SLAVE_ROW: dict[str, Any] = {
    "Connection_name": "", "Slave_SQL_State": "Slave has read all relay log",
    "Slave_IO_State": "Waiting for master to send event", "Master_Host": "127.0.0.1",
    "Master_User": "repl", "Master_Port": 21052, "Slave_IO_Running": "Yes",
    "Slave_SQL_Running": "Yes", "Last_Errno": 0, "Last_Error": "",
    "Seconds_Behind_Master": 0, "Last_IO_Errno": 0, "Last_IO_Error": "", "Last_SQL_Errno": 0,
    "Last_SQL_Error": "", "Master_Server_Id": 1, "Using_Gtid": "Slave_Pos",
    "Gtid_IO_Pos": "0-1-28", "Slave_received_heartbeats": 3, "Gtid_Slave_Pos": "0-1-28",
    "Slave_SQL_Running_State": "Slave has read all relay log; waiting for more updates",
}
VARIABLES: dict[str, Any] = {
    "version": "10.11.19-MariaDB-0+deb12u1-log", "server_id": 2, "read_only": 1, "log_bin": 1,
    "log_slave_updates": 1, "gtid_domain_id": 0, "gtid_current_pos": "0-1-28",
    "gtid_binlog_pos": "0-1-28", "gtid_slave_pos": "0-1-28", "gtid_strict_mode": 1,
}


def _nv(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Variable_name": k, "Value": v} for k, v in pairs.items()]


def test_slave_row() -> None:
    st = parse_slave_status(SLAVE_ROW)
    assert (st.connection_name, st.master_host, st.master_port) == ("", "127.0.0.1", 21052)
    assert st.io_state is IoState.YES and st.sql_running and st.running and st.connected
    assert st.seconds_behind_master == 0 and st.master_server_id == 1
    assert st.gtid_io_pos == GtidList.parse("0-1-28") and st.using_gtid is UsingGtid.SLAVE_POS
    assert st.received_heartbeats == 3 and st.errors == ()


def test_slave_row_stopped_with_errors_and_strings() -> None:
    """The mariadb CLI / sandbox.sql gives every value as a string, NULL as 'NULL'."""
    row = {k: str(v) for k, v in SLAVE_ROW.items()}
    row.update({"Slave_IO_Running": "Connecting", "Slave_SQL_Running": "No",
                "Seconds_Behind_Master": "NULL", "Last_IO_Errno": "2003",
                "Last_IO_Error": "error reconnecting to master", "Last_SQL_Errno": "1062",
                "Last_SQL_Error": "Duplicate entry '1'", "Connection_name": "east",
                "Using_Gtid": "Current_Pos", "Master_Server_Id": "0"})
    st = parse_slave_status(row)
    assert st.io_state is IoState.CONNECTING and st.io_state.running
    assert not st.sql_running and not st.running and not st.connected
    assert st.seconds_behind_master is None and st.master_server_id is None
    assert st.connection_name == "east" and st.using_gtid is UsingGtid.CURRENT_POS
    assert st.errors == ("IO error 2003: error reconnecting to master",
                         "SQL error 1062: Duplicate entry '1'")


def test_slave_row_without_connection_name_and_bytes() -> None:
    row = dict(SLAVE_ROW)
    del row["Connection_name"]
    row["Master_Host"] = b"db1.example"
    row["Slave_IO_Running"] = "No"
    st = parse_slave_status(row)
    assert st.connection_name == "" and st.master_host == "db1.example"
    assert st.io_state is IoState.NO and not st.io_state.running


def test_bad_rows_raise_observation_errors() -> None:
    with pytest.raises(ObservationError, match="Master_Port"):
        parse_slave_status({**SLAVE_ROW, "Master_Port": "x"})
    with pytest.raises(ObservationError, match="Slave_IO_Running"):
        parse_slave_status({**SLAVE_ROW, "Slave_IO_Running": "Maybe"})
    with pytest.raises(ObservationError, match="no column 'Master_Host'"):
        parse_slave_status({k: v for k, v in SLAVE_ROW.items() if k != "Master_Host"})
    with pytest.raises(ObservationError, match="Gtid_IO_Pos"):
        parse_slave_status({**SLAVE_ROW, "Gtid_IO_Pos": "0-1"})
    with pytest.raises(ObservationError, match="read_only"):
        build_observation("s", 0.0, {**VARIABLES, "read_only": "perhaps"})


def test_semisync() -> None:
    semi = parse_semisync(
        _nv({"Rpl_semi_sync_master_status": "ON", "Rpl_semi_sync_master_clients": "2",
             "Rpl_semi_sync_slave_status": "OFF"}),
        _nv({"rpl_semi_sync_master_enabled": "ON", "rpl_semi_sync_slave_enabled": "OFF"}))
    assert semi.master_enabled and semi.master_status and semi.master_clients == 2
    assert not semi.slave_enabled and not semi.slave_status
    assert parse_semisync([], []).master_enabled is False


def test_build_observation() -> None:
    obs = build_observation("server2", 12.5, VARIABLES, [SLAVE_ROW],
                            _nv({"Rpl_semi_sync_slave_status": "ON"}),
                            _nv({"rpl_semi_sync_slave_enabled": "ON"}))
    assert obs.reachable and not obs.auth_error and obs.observed_at == 12.5
    assert obs.server_id == 2 and obs.read_only and obs.can_promote()
    assert obs.version_tuple == (10, 11, 19) and obs.is_mariadb
    assert str(obs.gtid_current_pos) == "0-1-28" and obs.gtid_strict_mode
    assert len(obs.slaves) == 1 and obs.semi_sync.slave_status
    # MySQL-style upper-case keys are found too
    upper = {k.upper(): v for k, v in VARIABLES.items()}
    assert build_observation("x", 0.0, upper).server_id == 2


def test_probe_sql_constants() -> None:
    assert PROBE_QUERIES[0] is SQL_VARIABLES
    for column in VARIABLES:
        assert f"AS {column}" in SQL_VARIABLES
    assert "SHOW ALL SLAVES STATUS" in PROBE_QUERIES


@pytest.mark.parametrize(("code", "timed_out", "kind"), [
    (1045, False, ProbeFailure.AUTH), (1130, False, ProbeFailure.AUTH),
    (2003, False, ProbeFailure.DOWN), (None, False, ProbeFailure.DOWN),
    (2013, True, ProbeFailure.TIMEOUT), (1227, False, ProbeFailure.QUERY),
])
def test_classify_error(code: int | None, timed_out: bool, kind: ProbeFailure) -> None:
    error = classify_error(code, "boom", timed_out)
    assert error.kind is kind
    obs = failed_observation("s", 1.0, error)
    assert not obs.reachable and obs.auth_error == (kind is ProbeFailure.AUTH)


def test_processlist_filter_keeps_replication_and_monitor() -> None:
    rows = [
        {"ID": 5, "USER": "repl", "HOST": "10.0.0.2:5", "COMMAND": "Binlog Dump", "TIME": 9,
         "STATE": "Master has sent all binlog", "INFO": None},
        {"ID": 6, "USER": "app", "HOST": "10.0.0.9:7", "COMMAND": "Query", "TIME": 3,
         "STATE": "User sleep", "INFO": "INSERT INTO t (v) VALUES (SLEEP(30))"},
        {"ID": 7, "USER": "monitor", "HOST": "10.0.0.1:1", "COMMAND": "Sleep", "TIME": 0,
         "STATE": "", "INFO": None},
        {"ID": 8, "USER": "system user", "HOST": "", "COMMAND": "Slave_SQL", "TIME": None,
         "STATE": "", "INFO": None},
        {"ID": 9, "USER": "admin", "HOST": "x", "COMMAND": "Sleep", "TIME": "1", "STATE": None,
         "INFO": None},
        {"ID": 10, "USER": "event_scheduler", "HOST": "localhost", "COMMAND": "Daemon",
         "TIME": 1, "STATE": "", "INFO": None},
    ]
    entries = parse_processlist(rows)
    assert [e.id for e in client_connections(entries, ["monitor"])] == [6, 9]
    assert entries[1].info.startswith("INSERT") and entries[3].time == 0
