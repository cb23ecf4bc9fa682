"""sysbench runs: the command lines, running them, and what their reports say.

Throughput comes from the report's ``queries: N (X per sec.)`` line.  Latency comes from the
histogram sysbench prints with ``--histogram=on`` (per-event latencies in log-spaced buckets
about 1.7 % wide), not from the summary, whose ``95th percentile`` has a resolution of 10 us:
the median and the 95th percentile are read off the histogram.  With ``oltp_point_select`` an
event is one query, so at 1 thread the median is the round trip of one query.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONNECT_LUA = Path(__file__).with_name("connect.lua")
WORKLOADS = ("oltp_point_select", "oltp_read_only", "oltp_read_write")
SLACK = 120.0  # seconds a run may take beyond its --time (thread start-up, prepare...)


class BenchError(Exception):
    """Something the benchmark needs did not work (the message says what)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where sysbench connects (a target of the benchmark)."""

    name: str
    host: str
    port: int
    user: str
    password: str
    database: str


@dataclass(frozen=True, slots=True)
class Dataset:
    tables: int
    table_size: int


@dataclass(frozen=True, slots=True)
class Report:
    """What one ``sysbench ... run`` measured."""

    qps: float
    events_per_sec: float
    median_ms: float | None
    p95_ms: float | None
    errors: int
    reconnects: int
    events: int
    queries: int = 0

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "qps": self.qps,
            "events_per_sec": self.events_per_sec,
            "median_ms": self.median_ms,
            "p95_ms": self.p95_ms,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "events": self.events,
            "queries": self.queries,
        }


def connection_args(ep: Endpoint) -> list[str]:
    return [
        "--db-driver=mysql",
        f"--mysql-host={ep.host}",
        f"--mysql-port={ep.port}",
        f"--mysql-user={ep.user}",
        f"--mysql-password={ep.password}",
        f"--mysql-db={ep.database}",
    ]


def argv(
    script: str,
    ep: Endpoint,
    data: Dataset,
    threads: int,
    seconds: int,
    command: str = "run",
) -> list[str]:
    return [
        "sysbench",
        script,
        *connection_args(ep),
        f"--tables={data.tables}",
        f"--table-size={data.table_size}",
        f"--threads={threads}",
        f"--time={seconds}",
        "--rand-type=uniform",  # no hot rows: fewer deadlocks in oltp_read_write
        "--report-interval=0",
        "--histogram=on",
        command,
    ]


def _execute(args: Sequence[str], timeout: float) -> str:
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise BenchError("sysbench is not installed (scripts/install-deps.sh bench)") from exc
    except subprocess.TimeoutExpired as exc:
        command = " ".join(args)
        raise BenchError(f"sysbench did not finish within {timeout:.0f}s: {command}") from exc
    text = done.stdout + done.stderr
    if done.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise BenchError(f"sysbench failed ({done.returncode}): {' '.join(args[:2])}\n{tail}")
    return text


def prepare(ep: Endpoint, data: Dataset) -> None:
    """(Re)create the sbtest tables (``cleanup`` first: a previous run may have left some)."""
    script = WORKLOADS[0]
    _execute(argv(script, ep, data, 4, 0, "cleanup"), SLACK)
    _execute(argv(script, ep, data, 4, 0, "prepare"), SLACK + data.tables * data.table_size / 1e4)


def run(script: str, ep: Endpoint, data: Dataset, threads: int, seconds: int) -> Report:
    text = _execute(argv(script, ep, data, threads, seconds), seconds + SLACK)
    return parse(text)


def run_connect(ep: Endpoint, threads: int, seconds: int) -> Report:
    """Connections per second (``events_per_sec``; ``events`` connections in all): each event
    connects, runs ``SELECT 1`` and disconnects."""
    args = [
        "sysbench",
        str(CONNECT_LUA),
        *connection_args(ep),
        f"--threads={threads}",
        f"--time={seconds}",
        "--report-interval=0",
        "run",
    ]
    report = parse(_execute(args, seconds + SLACK))
    if report.errors:
        raise BenchError(f"{report.errors} errors in the connection test against {ep.name}")
    return report


# -- parsing ------------------------------------------------------------------------------------

_QUERIES = re.compile(r"^\s*queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.MULTILINE)
_TRANSACTIONS = re.compile(r"^\s*transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)", re.MULTILINE)
_COUNTER = r"^\s*{}:\s+(\d+)"
_BUCKET = re.compile(r"^\s*([\d.]+)\s+\|[*\s]*?\s(\d+)\s*$", re.MULTILINE)


def _counter(label: str, text: str) -> int:
    match = re.search(_COUNTER.format(label), text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def parse(text: str) -> Report:
    queries = _QUERIES.search(text)
    events = _TRANSACTIONS.search(text)
    if queries is None or events is None:
        raise BenchError("no statistics in the sysbench output:\n" + text[-2000:])
    hist = histogram(text)
    return Report(
        qps=float(queries.group(2)),
        events_per_sec=float(events.group(2)),
        median_ms=percentile(hist, 0.50),
        p95_ms=percentile(hist, 0.95),
        errors=_counter("ignored errors", text),
        reconnects=_counter("reconnects", text),
        events=int(events.group(1)),
        queries=int(queries.group(1)),
    )


def histogram(text: str) -> list[tuple[float, int]]:
    """``(bucket value in ms, count)`` pairs of the latency histogram, in order."""
    start = text.find("Latency histogram")
    if start < 0:
        return []
    end = text.find("SQL statistics", start)
    section = text[start : end if end >= 0 else len(text)]
    return [(float(value), int(count)) for value, count in _BUCKET.findall(section)]


def percentile(hist: list[tuple[float, int]], q: float) -> float | None:
    """The smallest bucket value with at least ``q`` of the events at or below it."""
    total = sum(count for _, count in hist)
    if not total:
        return None
    wanted = q * total
    seen = 0
    for value, count in hist:
        seen += count
        if seen >= wanted:
            return value
    return hist[-1][0]
