"""sysbench ``oltp_read_write`` in the integration tests: the command line and what its output
says about client errors (shared by the switchover and failover tests under load); and the
commit marker's table (``transaction_replay_commit_marker``), which the failover tests use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from interlock.sandbox import Sandbox
from interlock.server.rwtrx import create_statement

THREADS = 4
SECONDS = 12


def sysbench(
    host: str,
    port: int,
    command: str,
    threads: int = THREADS,
    seconds: int = SECONDS,
    table_size: int = 2000,
    extra: Sequence[str] = (),
) -> list[str]:
    """``sysbench oltp_read_write`` as the sandbox's ``app`` user on ``test`` (2 tables)."""
    return [
        "sysbench",
        "oltp_read_write",
        "--db-driver=mysql",
        f"--mysql-host={host}",
        f"--mysql-port={port}",
        "--mysql-user=app",
        "--mysql-password=app-secret",
        "--mysql-db=test",
        "--tables=2",
        f"--table-size={table_size}",
        f"--threads={threads}",
        f"--time={seconds}",
        "--rand-type=uniform",
        "--report-interval=1",
        *extra,
        command,
    ]


@dataclass(frozen=True, slots=True)
class SysbenchRun:
    """A finished ``sysbench ... run``: exit status and output."""

    returncode: int
    output: str

    @property
    def ignored_errors(self) -> int | None:
        """sysbench's "ignored errors" (errors it retried, e.g. 1213); None: not reported."""
        found = re.search(r"ignored errors:\s+(\d+)", self.output)
        return int(found.group(1)) if found is not None else None

    @property
    def transactions(self) -> int | None:
        found = re.search(r"transactions:\s+(\d+)", self.output)
        return int(found.group(1)) if found is not None else None

    @property
    def fatal(self) -> list[str]:
        """Lines reporting an error that stopped a sysbench thread."""
        return [
            line
            for line in self.output.splitlines()
            if "FATAL" in line or ("error" in line.lower() and "ignored errors:" not in line)
        ]

    @property
    def client_errors(self) -> int:
        """Every error a client saw: retried ones and fatal ones."""
        return (self.ignored_errors or 0) + len(self.fatal)

    def clean(self) -> bool:
        return self.returncode == 0 and self.ignored_errors == 0 and not self.fatal

    def tail(self, chars: int = 2000) -> str:
        return self.output[-chars:]


# -- the commit marker ----------------------------------------------------------------------

MARKER_TABLE = "interlock.trx_marker"


def create_marker_table(sb: Sandbox, user: str = "app") -> None:
    """The commit marker's table (as docs/failover.md gives it) and the grants the
    application user needs on it, created on the primary (they replicate)."""
    primary = sb.primary.name
    sb.sql(primary, "CREATE DATABASE IF NOT EXISTS interlock")
    sb.sql(primary, create_statement(MARKER_TABLE))
    sb.sql(primary, f"GRANT SELECT, INSERT, UPDATE ON {MARKER_TABLE} TO '{user}'@'%'")
