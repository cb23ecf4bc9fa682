"""Where the reads went: each server's share of the SELECTs of a sysbench run through Interlock.

``read_spread(sb, endpoint, data)`` runs ``oltp_read_only --skip_trx=on`` against
``endpoint`` (an Interlock listener with ``router=readwritesplit``) and returns, per sandbox
server, the share of the ``Com_select`` increments (MariaDB counts a prepared SELECT's
executions there too) seen on all servers during the run:
``{"server1": 0.0, "server2": 0.5, "server3": 0.5}`` when the replicas took every read.
Counters are read as root through each server's socket, so the measurement adds nothing to
the counted traffic but its own ``SHOW GLOBAL STATUS`` (not a SELECT).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import sysbench
from bench.sysbench import Dataset, Endpoint
from interlock.sandbox import Sandbox

COUNTER = "Com_select"


@dataclass(frozen=True, slots=True)
class Spread:
    """Per server: how many SELECTs it ran during the run, and its share of all of them."""

    selects: dict[str, int]
    report: sysbench.Report

    @property
    def shares(self) -> dict[str, float]:
        total = sum(self.selects.values())
        return {name: (n / total if total else 0.0) for name, n in self.selects.items()}


def counters(sb: Sandbox, variable: str = COUNTER) -> dict[str, int]:
    """``variable`` (a global status counter) on every server of the sandbox."""
    out = {}
    for server in sb.servers:
        rows = sb.sql(server, f"SHOW GLOBAL STATUS LIKE '{variable}'")
        out[server.name] = int(rows[0]["Value"]) if rows else 0
    return out


def measure(sb: Sandbox, endpoint: Endpoint, data: Dataset, threads: int = 8,
            seconds: int = 10, script: str = "oltp_read_only",
            skip_trx: bool = True) -> Spread:
    """Run ``script`` through ``endpoint`` and count each server's SELECTs meanwhile.

    ``skip_trx``: sysbench wraps each event in ``BEGIN``/``COMMIT`` unless told not to, and a
    read/write split (MaxScale's too) keeps everything inside ``BEGIN`` on the primary; reads
    only spread when they run in autocommit mode (or in ``START TRANSACTION READ ONLY``)."""
    args = sysbench.argv(script, endpoint, data, threads, seconds)
    if skip_trx:
        args.insert(-1, "--skip_trx=on")
    before = counters(sb)
    report = sysbench.parse(sysbench._execute(args, seconds + sysbench.SLACK))
    after = counters(sb)
    return Spread({name: after[name] - before[name] for name in before}, report)


def read_spread(sb: Sandbox, endpoint: Endpoint, data: Dataset, threads: int = 8,
                seconds: int = 10) -> dict[str, float]:
    """The share of ``oltp_read_only``'s SELECTs each server ran (sums to 1)."""
    return measure(sb, endpoint, data, threads, seconds).shares
