"""Failover while ``sysbench oltp_read_write`` runs through the proxy (issue 6).

The primary mariadbd is killed with SIGKILL while 4 sysbench threads run their transactions
through a ``readwritesplit`` service with ``transaction_replay=true``; the monitor
(``auto_failover``, semi-sync on, so every commit a client could see is on a replica) promotes
a replica.  Every session that lost its primary connection reconnects to the new primary; a
transaction that was open is replayed there (checksums compared); a COMMIT that was in flight
has its outcome read back with the commit marker (``transaction_replay_commit_marker``,
docs/failover.md "A COMMIT whose outcome is unknown") and is answered OK or replayed.

The bar: sysbench sees no error at all (``--mysql-ignore-errors=none``: any error stops a
thread and is printed).  The counts come from the proxy: transactions replayed and replays
failed (the service's counters), COMMITs read back (its log lines); ``-s`` prints them.

Why 2 x 200000 rows: a replay fails, correctly, when a transaction the old primary committed
after the replayed transaction's first read (its snapshot) changed a row that it read; the
new primary can only show the newer row.  sysbench's four 100-row range reads make that
likely on small tables: measured on this sandbox, 7 of 58 replays failed with 2 x 2000 rows
(6 of 16 failovers had an error), 1 of about 53 with 2 x 10000, 1 of 118 with 2 x 50000, 1 of
98 with 2 x 200000 (prepared in about 7 s).  Scaled from the 2000-row rate (inversely to the
table size) a run of this test fails that way about once in 200; the 200000-row sample is too
small to confirm more than "rare".  Without the
marker, a COMMIT was in flight in 3 of 10 failovers (that client gets "the outcome of the
transaction is unknown").
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.monitor_support import LiveProxy
from tests.integration.sysbench_support import (
    MARKER_TABLE,
    SysbenchRun,
    create_marker_table,
    sysbench,
)
from tests.integration.test_failover_under_load import sql_files

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE

SECONDS = 14
TABLE_SIZE = 200000


def outcome_lines(lp: LiveProxy) -> list[str]:
    return [line for line in lp.log_text().splitlines() if "outcome of the COMMIT" in line]


def test_failover_under_sysbench(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2, semi_sync=True)
    create_marker_table(sb)
    subprocess.run(
        sysbench(sb.primary.host, sb.primary.port, "prepare", table_size=TABLE_SIZE),
        check=True,
        capture_output=True,
        timeout=300,
    )
    monitor = {
        "monitor_interval": "300ms",
        "failcount": "3",
        "auto_failover": "true",
        "master_failure_timeout": "2s",
        "backend_connect_timeout": "1s",
        "backend_read_timeout": "1s",
        **sql_files(tmp_path),
    }
    service = {
        "router": "readwritesplit",
        "transaction_replay": "true",
        "transaction_replay_commit_marker": MARKER_TABLE,
    }
    with LiveProxy(sb, tmp_path, monitor, {SERVICE: service}) as lp:
        command = sysbench(
            "127.0.0.1",
            lp.port,
            "run",
            seconds=SECONDS,
            table_size=TABLE_SIZE,
            extra=["--mysql-ignore-errors=none"],
        )
        bench = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        time.sleep(4)
        killed = time.monotonic()
        sb.kill("server1", signal.SIGKILL)
        lp.wait_for("a promoted primary", lambda: lp.primary() not in (None, "server1"))
        promoted = time.monotonic()
        new = lp.primary()
        output, _ = bench.communicate(timeout=SECONDS + 90)
        runtime = next(iter(lp.proxy.services.values()))
        counts = (runtime.reconnections, runtime.replays, runtime.replay_failures)
        outcomes = outcome_lines(lp)
    run = SysbenchRun(bench.returncode, output)
    print(
        f"\nfailover to {new} {promoted - killed:.2f}s after kill -9;"
        f" sysbench: {run.transactions} transactions, ignored errors {run.ignored_errors},"
        f" fatal {len(run.fatal)}, exit {run.returncode}"
    )
    print(
        f"proxy: primary reconnections {counts[0]}, transactions replayed {counts[1]},"
        f" replays failed {counts[2]}, COMMIT outcomes established {len(outcomes)}"
    )
    for line in outcomes:
        print("  " + line)
    assert run.returncode == 0 and not run.fatal, "\n".join(run.fatal[:10]) or run.tail()
    assert run.ignored_errors == 0, run.tail()
    assert counts[2] == 0
    assert counts[0] >= 1  # the sessions did lose their primary connection


pytestmark = pytest.mark.integration
