"""Attach replicas to the primary and wait until replication demonstrably runs."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from interlock.errors import SandboxError
from interlock.sandbox import sqlcli
from interlock.sandbox.accounts import quote_string
from interlock.sandbox.model import MARKER_SCHEMA, Account, SandboxServer


@dataclass(frozen=True, slots=True)
class ReplicaState:
    io_running: str
    sql_running: str
    last_io_error: str
    last_sql_error: str
    seconds_behind: str
    gtid_slave_pos: str

    @property
    def running(self) -> bool:
        return self.io_running == "Yes" and self.sql_running == "Yes"

    @property
    def error(self) -> str:
        return "; ".join(e for e in (self.last_io_error, self.last_sql_error) if e)


def change_master_sql(primary: SandboxServer, repl: Account) -> str:
    return (
        f"CHANGE MASTER TO MASTER_HOST={quote_string(primary.host)}, MASTER_PORT={primary.port},"
        f" MASTER_USER={quote_string(repl.user)}, MASTER_PASSWORD={quote_string(repl.password)},"
        " MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE"
    )


def replica_state(replica: SandboxServer) -> ReplicaState | None:
    rows = sqlcli.query(replica, "SHOW SLAVE STATUS")
    if not rows:
        return None
    row = rows[0]
    return ReplicaState(
        io_running=row.get("Slave_IO_Running", ""),
        sql_running=row.get("Slave_SQL_Running", ""),
        last_io_error=row.get("Last_IO_Error", ""),
        last_sql_error=row.get("Last_SQL_Error", ""),
        seconds_behind=row.get("Seconds_Behind_Master", "NULL"),
        gtid_slave_pos=row.get("Gtid_Slave_Pos", ""),
    )


def wait_threads_running(replicas: Sequence[SandboxServer], timeout: float) -> None:
    """Wait until the IO and SQL threads of every replica say Yes."""
    deadline = time.monotonic() + timeout
    pending = list(replicas)
    states: dict[str, ReplicaState | None] = {}
    while pending and time.monotonic() < deadline:
        for replica in list(pending):
            states[replica.name] = state = replica_state(replica)
            if state is not None and state.running:
                pending.remove(replica)
        if pending:
            time.sleep(0.1)
    if pending:
        details = ", ".join(f"{r.name}: {_describe(states.get(r.name))}" for r in pending)
        raise SandboxError(f"replication did not start within {timeout:.0f}s ({details})")


def _describe(state: ReplicaState | None) -> str:
    if state is None:
        return "no replication configured"
    text = f"IO={state.io_running} SQL={state.sql_running}"
    return f"{text}, {state.error}" if state.error else text


def write_marker(primary: SandboxServer) -> tuple[str, str]:
    """Insert a marker row on the primary; returns (token, the primary's gtid_binlog_pos)."""
    token = secrets.token_hex(8)
    rows = sqlcli.query(
        primary,
        f"INSERT INTO `{MARKER_SCHEMA}`.marker (token) VALUES ('{token}');"
        " SELECT @@GLOBAL.gtid_binlog_pos AS pos",
    )
    return token, rows[0]["pos"]


def wait_marker(replicas: Sequence[SandboxServer], token: str, gtid: str, timeout: float) -> None:
    for replica in replicas:
        waited = sqlcli.scalar(
            replica, f"SELECT MASTER_GTID_WAIT('{gtid}', {timeout:.0f}) AS w", timeout + 10
        )
        found = sqlcli.scalar(
            replica, f"SELECT COUNT(*) FROM `{MARKER_SCHEMA}`.marker WHERE token='{token}'"
        )
        if waited != "0" or found != "1":
            state = replica_state(replica)
            raise SandboxError(
                f"{replica.name} did not receive the marker row written on the primary within"
                f" {timeout:.0f}s ({_describe(state)})"
            )


def wait_replicating(
    primary: SandboxServer, replicas: Sequence[SandboxServer], timeout: float = 60.0
) -> None:
    """Threads running everywhere, and a row written on the primary visible on each replica."""
    if not replicas:
        return
    wait_threads_running(replicas, timeout)
    token, gtid = write_marker(primary)
    wait_marker(replicas, token, gtid, timeout)
