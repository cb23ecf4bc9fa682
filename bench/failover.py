"""Failover time and switchover write pause on a local sandbox (issue 5's numbers).

``uv run python -m bench.failover [--runs 3] [--interval 1s] [--failcount 3]``

- **Failover time**: a writer commits one row every ~10 ms through the proxy; the primary is
  killed with SIGKILL; the time from the kill to the writer's first acknowledged commit after
  it.  The killed server is restarted and rejoins (``auto_rejoin``) before the next run.
- **Switchover pause**: the same writer during ``MonitorRuntime.switchover()``: the longest
  gap between two acknowledged commits around the switchover, the time writes were held at
  the proxy, and the switchover's own duration.

The proxy runs in this process (the monitor's actions are Python calls; the REST API comes
with issue 7); the sandbox is created in a temporary directory and destroyed at the end.
Today's single-backend session does not wait at the write hold yet: the writer reconnects
after its connection is killed by the fencing, so the pause includes a reconnect.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pymysql

from interlock import log as ilog
from interlock.config.loader import parse_config
from interlock.config.values import parse_duration
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_block, find_free_port
from interlock.server.app import Proxy


class Writer(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.commits: list[float] = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.halt.is_set():
            try:
                conn = conn or pymysql.connect(host="127.0.0.1", port=self.port, user="app",
                                               password="app-secret", database="app",
                                               autocommit=True, connect_timeout=2,
                                               read_timeout=30)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO bench_failover (at) VALUES (NOW(6))")
                self.commits.append(time.monotonic())
            except pymysql.MySQLError:
                self.errors += 1
                conn = None
            time.sleep(0.01)

    def first_after(self, moment: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.commits if t > moment]
            if later:
                return later[0]
            time.sleep(0.01)
        raise RuntimeError("no write succeeded after the failover")

    def longest_gap(self, start: float, end: float) -> float:
        times = [t for t in self.commits if start <= t <= end]
        return max((b - a for a, b in itertools.pairwise(times)), default=end - start)


class Bench:
    def __init__(self, sb: Sandbox, directory: Path, interval: str, failcount: int) -> None:
        self.sb = sb
        self.port = find_free_port()
        config = directory / "interlock.cnf"
        config.write_text(sb.render_config(listener_port=self.port, tls=False, overrides={
            MONITOR: {"monitor_interval": interval, "failcount": str(failcount),
                      "auto_failover": "true", "auto_rejoin": "true", "failover_block": "0s",
                      "backend_connect_timeout": "1s", "backend_read_timeout": "1s"},
            SERVICE: {"router": "readconnroute", "router_options": "master"}}))
        self.loop = asyncio.new_event_loop()
        self.proxy = Proxy(parse_config(config))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro, timeout: float = 300):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def monitor(self):  # type: ignore[no-untyped-def]
        return next(iter(self.proxy.monitors.values()))

    def primary(self) -> str | None:
        info = self.monitor.source.current.primary
        return info.name if info is not None else None

    def wait(self, check, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for the cluster")
            time.sleep(0.05)

    def failover(self, writer: Writer) -> float:
        old = self.primary()
        assert old is not None
        time.sleep(1.0)
        killed = time.monotonic()
        self.sb.kill(old, signal.SIGKILL)
        first = writer.first_after(killed)
        new = self.primary()
        self.sb.start(old)
        self.wait(lambda: any(s.name == old and s.state == "Slave, Running"
                              for s in self.monitor.status()))
        print(f"  failover {old} -> {new}: {first - killed:.2f} s from kill -9 to the first "
              "acknowledged write")
        return first - killed

    def switchover(self, writer: Writer) -> tuple[float, float, float]:
        current = self.primary()
        target = next(s.name for s in self.sb.servers if s.name != current)
        time.sleep(1.0)
        holds = len(self.monitor.gate.holds)
        started = time.monotonic()
        outcome = self.call(self.monitor.switchover(to=target))
        ended = time.monotonic()
        if not outcome.ok:
            raise RuntimeError(outcome.describe())
        writer.first_after(ended)
        time.sleep(0.5)
        gap = writer.longest_gap(started - 0.2, ended + 0.5)
        held = self.monitor.gate.holds[holds] if len(self.monitor.gate.holds) > holds else 0.0
        print(f"  switchover {current} -> {target}: {outcome.seconds * 1000:.0f} ms, writes held "
              f"{held * 1000:.0f} ms, longest gap between commits {gap * 1000:.0f} ms")
        return outcome.seconds, held, gap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--failcount", type=int, default=3)
    args = parser.parse_args(argv)
    parse_duration(args.interval)
    with tempfile.TemporaryDirectory(prefix="ilk-fo-") as tmp, open(
            Path(tmp) / "stdout.log", "w") as quiet:
        ilog.setup(str(Path(tmp) / "interlock.log"), level=logging.NOTICE, stream=quiet)
        base = find_free_block(3)
        sb = Sandbox.create(Path(tmp) / "sb", replicas=2, base_port=base,
                            proxy_port=find_free_port(), die_with_parent=True).up()
        try:
            sb.sql("server1", "CREATE TABLE app.bench_failover (id BIGINT AUTO_INCREMENT "
                              "PRIMARY KEY, at TIMESTAMP(6))")
            bench = Bench(sb, Path(tmp), args.interval, args.failcount)
            bench.thread.start()
            bench.call(bench.proxy.start())
            writer = Writer(bench.port)
            writer.start()
            print(f"monitor_interval={args.interval} failcount={args.failcount}")
            fails = [bench.failover(writer) for _ in range(args.runs)]
            switches = [bench.switchover(writer) for _ in range(args.runs)]
            writer.halt.set()
            bench.call(bench.proxy.stop())
            bench.loop.call_soon_threadsafe(bench.loop.stop)
        finally:
            sb.destroy()
    print(f"failover, kill to first write: median {statistics.median(fails):.2f} s "
          f"(min {min(fails):.2f}, max {max(fails):.2f})")
    print(f"switchover: median {statistics.median(s[0] for s in switches) * 1000:.0f} ms; "
          f"writes held median {statistics.median(s[1] for s in switches) * 1000:.0f} ms; "
          f"longest commit gap median {statistics.median(s[2] for s in switches) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
