"""The benchmark script end to end on a tiny budget, so it never rots.

Runs ``python -m bench.run`` for real (sysbench through HAProxy, Interlock with readconnroute,
Interlock with readwritesplit and the uvloop forwarder in front of the session sandbox, the
connection test, the memory test of both Interlock targets and the read spread) with one thread
count, two workloads, 1-second runs and a few idle sessions, then checks the results file it
wrote: its structure, non-zero throughput through every target, where the queries ran, and the
table and chart next to it.  Nothing here is a timing assertion: the figures only have to exist
and be positive.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interlock.sandbox import Sandbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("direct", "haproxy", "interlock", "interlock-rws", "forwarder")
INTERLOCKS = ("interlock", "interlock-rws")
# oltp_read_only runs in the spread section (through interlock-rws): 25 s for the whole module
WORKLOADS = ("oltp_point_select", "oltp_read_write")
THREADS = 2
SESSIONS = (0, 20)


@pytest.fixture(scope="module")
def results(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-results")
    argv = [
        sys.executable, "-m", "bench.run",
        "--sandbox-dir", str(sandbox.dir),
        "--out", str(out),
        "--targets", ",".join(TARGETS),
        "--workloads", ",".join(WORKLOADS),
        "--threads", str(THREADS),
        "--reps", "1",
        "--duration", "1",
        "--warmup", "0",
        "--connect-seconds", "1",
        "--connect-threads", "2",
        "--sessions", ",".join(map(str, SESSIONS)),
        "--settle", "0.2",
        "--tables", "1",
        "--table-size", "500",
        "--spread-threads", "2",
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, (list(out.iterdir()), done.stderr)
    doc: dict[str, Any] = json.loads(files[0].read_text())
    doc["_path"] = str(files[0])
    doc["_stdout"] = done.stdout
    return doc


def test_header(results: dict[str, Any]) -> None:
    assert results["schema"] == 2
    assert results["git"]["sha"] and "describe" in results["git"]
    assert results["machine"]["cpus"] >= 1 and results["machine"]["haproxy"]
    assert set(results["targets"]) == set(TARGETS)
    assert results["settings"]["threads"] == [THREADS]


def test_sysbench_runs_through_every_target(results: dict[str, Any]) -> None:
    runs = results["sysbench"]["runs"]
    assert {(r["workload"], r["target"]) for r in runs} == {
        (w, t) for w in WORKLOADS for t in TARGETS
    }
    # targets alternate inside the repetition: direct, HAProxy, Interlock, Interlock rws, ...
    assert [r["target"] for r in runs[: len(TARGETS)]] == list(TARGETS)
    for run in runs:
        assert run["qps"] > 0 and run["events"] > 0, run
        assert run["median_ms"] > 0 and run["p95_ms"] >= run["median_ms"], run
        if run["workload"] != "oltp_read_write":  # writers may deadlock (sysbench retries)
            assert run["errors"] == 0, run
        servers = run["server_queries"]
        if run["target"] == "interlock-rws" and run["workload"] == "oltp_point_select":
            # the read/write split sends the point selects to the replicas
            assert servers["server2"] + servers["server3"] > 0, run
        else:  # every other target is in front of the primary: it ran the queries
            assert servers["server1"] > 0, run
    summary = results["sysbench"]["summary"]
    for workload in WORKLOADS:
        cells = summary[workload][str(THREADS)]
        assert cells["direct"]["ratio"] == 1.0
        for target in TARGETS:
            assert cells[target]["qps"] > 0 and cells[target]["ratio"] > 0


def test_connection_rate_and_memory(results: dict[str, Any]) -> None:
    connect = results["connect"]["summary"]
    assert set(connect) == set(TARGETS)
    assert all(cell["per_sec"] > 0 for cell in connect.values())
    assert set(results["memory"]) == set(INTERLOCKS)
    for memory in results["memory"].values():
        points = memory["points"]
        assert [p["sessions"] for p in points] == list(SESSIONS)
        assert all(p["rss_kb"] > 0 for p in points)
        assert set(memory["kb_per_session"]) == {str(SESSIONS[1])}


def test_read_spread_over_the_replicas(results: dict[str, Any]) -> None:
    spread = results["spread"]
    assert spread["target"] == "interlock-rws" and spread["errors"] == 0
    assert spread["roles"] == {"server1": "primary", "server2": "replica",
                               "server3": "replica"}
    assert abs(sum(spread["shares"].values()) - 1.0) < 1e-9
    # both replicas took reads, and they took most of them
    assert spread["selects"]["server2"] > 0 and spread["selects"]["server3"] > 0, spread
    assert spread["shares"]["server1"] < 0.5, spread


def test_table_chart_and_checks(results: dict[str, Any]) -> None:
    path = Path(results["_path"])
    table = path.with_suffix(".md").read_text()
    assert table in results["_stdout"]
    for label in ("HAProxy ratio", "Interlock ratio", "Interlock rws ratio", "connections/s",
                  "Interlock rws KB per session", "Read spread", "not comparable to HAProxy"):
        assert label in table
    assert path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = [check["name"] for check in results["checks"]]
    assert any("added median latency" in name for name in names)
    assert any("connection set-up rate" in name for name in names)
