"""``sysbench oltp_read_write`` with prepared statements, and what its report says.

Uniform random ids over 2 x 10000 rows: with sysbench's default "special" distribution (hot
rows) and 1000-row tables, 4 threads deadlock each other now and then even on a direct
connection, and sysbench counts those as "ignored errors"; here a non-zero count means the
path under test lost or broke something.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from tests.integration.clients.target import Target

TABLES = 2
TABLE_SIZE = 10000
THREADS = 4
SECONDS = 10


def argv(t: Target, command: str) -> list[str]:
    return [
        "sysbench",
        "oltp_read_write",
        "--db-driver=mysql",
        f"--mysql-host={t.host}",
        f"--mysql-port={t.port}",
        f"--mysql-user={t.user}",
        f"--mysql-password={t.password}",
        "--mysql-db=test",
        f"--tables={TABLES}",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        f"--time={SECONDS}",
        "--db-ps-mode=auto",
        "--rand-type=uniform",
        "--report-interval=0",
        command,
    ]


@dataclass(frozen=True, slots=True)
class SysbenchReport:
    returncode: int
    output: str
    transactions: int | None
    queries: int | None
    ignored_errors: int | None
    reconnects: int | None


def _count(label: str, text: str) -> int | None:
    match = re.search(rf"^\s*{label}:\s+(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def run(t: Target, command: str, timeout: float = SECONDS + 60) -> SysbenchReport:
    proc = subprocess.run(
        argv(t, command), capture_output=True, text=True, timeout=timeout, check=False
    )
    text = proc.stdout + proc.stderr
    return SysbenchReport(
        proc.returncode,
        text,
        _count("transactions", text),
        _count("queries", text),
        _count("ignored errors", text),
        _count("reconnects", text),
    )
