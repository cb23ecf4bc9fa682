"""The proxy's own CPU per client connection (connect, ``SELECT 1``, quit), A/B between trees.

    uv run python -m bench.connrate_cpu --sandbox-dir DIR [-n 2000] [--rounds 3]
        [--variant NAME=SRC_DIR ...] [--threads 4] [--forwarder] [--haproxy]

Starts one Interlock per variant (``--variant base=/tmp/base/src`` runs the proxy with that
source tree first on ``PYTHONPATH``; without ``--variant`` only the working tree is measured) in
front of the sandbox's primary, and optionally the bare uvloop forwarder (``bench/forwarder.py``)
and HAProxy as references, then, rounds alternating between them, opens ``-n``
connections through each with ``bench/connect.lua`` (sysbench, ``--events``) and reads the proxy
process's ``utime + stime`` from ``/proc/PID/stat`` before and after: CPU microseconds per
connection.  Unlike a connection *rate*, this figure hardly moves when other work loads the
machine, so it is the one to compare versions with.  The rate of the same round is printed too
(noisy; the alternation keeps the comparison fair).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench import environment, forwarder, haproxy, sysbench
from bench.sysbench import CONNECT_LUA, BenchError, Endpoint
from interlock.sandbox import Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.ports import find_free_port

HOST = "127.0.0.1"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` (all its threads), in seconds."""
    return environment.cpu_times(pid)


class Target(Protocol):
    """A started process in front of the primary: where to connect, whose CPU to read."""

    @property
    def pid(self) -> int: ...

    @property
    def port(self) -> int: ...

    def stop(self) -> object: ...


@dataclass(slots=True)
class Variant:
    name: str
    src: str | None
    handle: Target | None = None


def start(variant: Variant, sb: Sandbox, work: Path) -> Target:
    primary = sb.primary
    if variant.name == "forwarder":
        return forwarder.start(HOST, find_free_port(), primary.host, primary.port)
    if variant.name == "haproxy":
        return haproxy.start(work, HOST, find_free_port(), primary.host, primary.port)
    port = find_free_port()
    config = work / f"interlock-{variant.name}.cnf"
    config.write_text(sb.render_config(listener_port=port, tls=False))
    saved = os.environ.get("PYTHONPATH")
    if variant.src:
        os.environ["PYTHONPATH"] = variant.src + (os.pathsep + saved if saved else "")
    try:
        return proxy_process.start(config, HOST, port, work / f"interlock-{variant.name}.log")
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def connect_events(ep: Endpoint, threads: int, events: int) -> float:
    """Run ``events`` connections through ``ep``; returns the wall time taken."""
    args = ["sysbench", str(CONNECT_LUA), *sysbench.connection_args(ep),
            f"--threads={threads}", "--time=0", f"--events={events}", "--report-interval=0", "run"]
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    took = time.perf_counter() - began
    report = sysbench.parse(done.stdout + done.stderr)
    if done.returncode != 0 or report.errors or report.events != events:
        raise BenchError(f"connection run failed ({done.returncode}, {report.errors} errors,"
                         f" {report.events} events):\n{done.stdout[-1500:]}{done.stderr[-500:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.connrate_cpu",
                                description=__doc__.split("\n")[0])
    p.add_argument("--sandbox-dir", required=True, help="a running sandbox (interlock sandbox up)")
    p.add_argument("-n", "--connections", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=4, help="sysbench client threads")
    p.add_argument("--variant", action="append", default=[],
                   help="NAME=SRC_DIR: a source tree to run the proxy from (repeatable)")
    p.add_argument("--forwarder", action="store_true", help="measure bench/forwarder.py too")
    p.add_argument("--haproxy", action="store_true", help="measure HAProxy too")
    a = p.parse_args(argv)
    variants = [Variant(*spec.split("=", 1)) for spec in a.variant] or [Variant("tree", None)]
    variants += [Variant(name, None) for name, wanted in
                 (("forwarder", a.forwarder), ("haproxy", a.haproxy)) if wanted]
    sb = Sandbox.open(a.sandbox_dir).up()
    per_conn: dict[str, list[float]] = {v.name: [] for v in variants}
    users: dict[str, list[float]] = {v.name: [] for v in variants}
    rates: dict[str, list[float]] = {v.name: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="connrate-", dir="/tmp") as tmp:
        work = Path(tmp)
        try:
            for v in variants:
                v.handle = start(v, sb, work)
            eps = {}
            for v in variants:
                assert v.handle is not None
                eps[v.name] = Endpoint(v.name, HOST, v.handle.port, sb.app_user,
                                       sb.app_password, "app")
                connect_events(eps[v.name], a.threads, min(200, a.connections))  # warm-up
            for rnd in range(1, a.rounds + 1):
                for v in variants:
                    assert v.handle is not None
                    user0, sys0 = cpu_seconds(v.handle.pid)
                    took = connect_events(eps[v.name], a.threads, a.connections)
                    user1, sys1 = cpu_seconds(v.handle.pid)
                    user = (user1 - user0) / a.connections * 1e6
                    kernel = (sys1 - sys0) / a.connections * 1e6
                    per_conn[v.name].append(user + kernel)
                    users[v.name].append(user)
                    rates[v.name].append(a.connections / took)
                    print(f"round {rnd} {v.name:<10} {user + kernel:7.1f} us CPU/connection"
                          f" (user {user:5.1f}, system {kernel:5.1f})"
                          f"  {rates[v.name][-1]:7.0f} connections/s"
                          f"  (load {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            for v in variants:
                if v.handle is not None:
                    with contextlib.suppress(Exception):
                        v.handle.stop()
    for v in variants:
        print(f"median {v.name:<10} {statistics.median(per_conn[v.name]):7.1f} us CPU/connection"
              f" (user {statistics.median(users[v.name]):5.1f})"
              f"  {statistics.median(rates[v.name]):7.0f} connections/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
