"""``make bench``: Interlock against a direct connection and HAProxy, side by side in one run.

    uv run python -m bench.run [--quick] [--reps 3] [--duration 20] [--threads 1,8,32,128] ...

Brings up a sandbox (primary + 2 replicas; or uses ``--sandbox-dir``) and the *targets*
(``--targets``, default all of :data:`TARGETS`):

* ``direct``: the primary itself (every ratio is to it, so it is always measured);
* ``haproxy``: HAProxy in TCP mode in front of the primary (a proxy that does no SQL work);
* ``interlock``: Interlock with ``router=readconnroute``, ``router_options=master``: the same job
  as HAProxy (one backend connection per session, on the primary) with full protocol tracking;
  the target issue 3's ratios are about;
* ``interlock-rws``: Interlock with ``router=readwritesplit`` (the sandbox config's router): a
  different job (a primary and a replica connection per session, every statement classified and
  routed, reads on the replicas), so its numbers are not comparable to HAProxy's;
* ``forwarder``: a bare uvloop byte forwarder (``bench/forwarder.py``, the floor for a Python
  proxy; ``--no-forwarder`` leaves it out) in front of the primary;

then measures, in *sections*:

* ``sysbench``: every workload x thread count, the targets alternating inside each repetition
  (direct, HAProxy, Interlock, Interlock rws, forwarder, direct, ...), so machine noise hits all
  alike; per run
  the qps, median and p95 latency, how many queries each server executed (the per-server share,
  which the read/write split will move to the replicas) and, for the proxies, their own CPU time
  per query (``/proc/PID/stat``: unlike qps it hardly moves when other work loads the machine);
* ``connect``: connections per second (connect, ``SELECT 1``, disconnect) through each target,
  and each proxy's CPU time per connection;
* ``memory``: RSS of a fresh Interlock process with 0, 1,000 and 5,000 idle logged-in sessions,
  for each Interlock target;
* ``spread``: each server's share of the SELECTs of ``oltp_read_only`` (autocommit) through
  ``interlock-rws`` (``bench/spread.py``).

Writes ``bench/results/<date>-<sha>[-dirty][-quick].json`` (a ``.json.tmp`` is kept up to date
during the run), a ``.md`` with the table it prints, and a ``.png`` chart.  Later issues add
sections (failover and switchover timing) and targets (e.g. the query cache) to
:data:`SECTIONS`, :data:`TARGETS` and :meth:`Bench.start_targets`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import environment, forwarder, haproxy, idle, report, spread, sysbench
from bench.sysbench import BenchError, Dataset, Endpoint
from interlock.errors import SandboxError
from interlock.sandbox import Role, Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.sandbox.ports import find_free_block, find_free_port

DATABASE = "interlock_bench"
RESULTS_DIR = environment.ROOT / "bench" / "results"
HOST = "127.0.0.1"
SECTIONS = ("sysbench", "connect", "memory", "spread")
TARGETS = ("direct", "haproxy", "interlock", "interlock-rws", "forwarder")
# the service section of each Interlock target (the rest of the config is the sandbox's)
INTERLOCK_ROUTERS: dict[str, dict[str, str | None]] = {
    "interlock": {"router": "readconnroute", "router_options": "master"},
    "interlock-rws": {"router": "readwritesplit", "router_options": None},
}
Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    quick: bool
    reps: int
    duration: int
    workloads: tuple[str, ...]
    threads: tuple[int, ...]
    warmup: int
    connect_seconds: int
    connect_threads: int
    sessions: tuple[int, ...]
    settle: float
    tables: int
    table_size: int
    sections: tuple[str, ...]
    targets: tuple[str, ...]
    spread_threads: int
    sandbox_dir: str | None
    out: str


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="about a minute: 1 repetition of 1 s per run, 2 s connection test")
    p.add_argument("--reps", type=int, help="repetitions (default 3; quick: 1)")
    p.add_argument("--duration", type=int, help="seconds per sysbench run (default 20; quick: 1)")
    p.add_argument("--workloads", type=_names, default=sysbench.WORKLOADS)
    p.add_argument("--threads", type=_ints, default=(1, 8, 32, 128))
    p.add_argument("--warmup", type=int,
                   help="seconds of unrecorded oltp_point_select per target first (default 3;"
                   " quick: 1; 0: none)")
    p.add_argument("--connect-seconds", type=int, help="default 10; quick: 2")
    p.add_argument("--connect-threads", type=int, default=4)
    p.add_argument("--sessions", type=_ints, default=(0, 1000, 5000),
                   help="idle session counts for the memory section")
    p.add_argument("--settle", type=float, default=idle.SETTLE,
                   help=f"seconds between opening idle sessions and reading RSS (default"
                   f" {idle.SETTLE:g})")
    p.add_argument("--tables", type=int, default=8)
    p.add_argument("--table-size", type=int, default=10000)
    p.add_argument("--sections", type=_names, default=SECTIONS,
                   help=f"what to measure (default {','.join(SECTIONS)})")
    p.add_argument("--targets", type=_names, default=TARGETS,
                   help=f"what to measure through (default {','.join(TARGETS)}; direct is"
                   " always measured: every ratio is to it)")
    p.add_argument("--forwarder", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure bench/forwarder.py, a bare uvloop byte forwarder"
                   " (default: on; --no-forwarder drops it from --targets)")
    p.add_argument("--spread-threads", type=int, default=8,
                   help="sysbench threads of the spread section (default 8)")
    p.add_argument("--sandbox-dir", help="use this running sandbox instead of a new one")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results directory")
    a = p.parse_args(argv)
    unknown = [s for s in a.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    unknown = [t for t in a.targets if t not in TARGETS]
    if unknown:
        p.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    wanted = {"direct", *a.targets} - (set() if a.forwarder else {"forwarder"})
    targets = tuple(t for t in TARGETS if t in wanted)  # always in the alternation's order
    return Settings(
        quick=a.quick,
        reps=a.reps or (1 if a.quick else 3),
        duration=a.duration or (1 if a.quick else 20),
        workloads=a.workloads,
        threads=a.threads,
        warmup=a.warmup if a.warmup is not None else (1 if a.quick else 3),
        connect_seconds=a.connect_seconds or (2 if a.quick else 10),
        connect_threads=a.connect_threads,
        sessions=a.sessions,
        settle=a.settle,
        tables=a.tables,
        table_size=a.table_size,
        sections=a.sections,
        targets=targets,
        spread_threads=a.spread_threads,
        sandbox_dir=a.sandbox_dir,
        out=a.out,
    )


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


FD_WANTED = 65536


def raise_fd_limit() -> None:
    """5,000 idle sessions need 10,000 descriptors in a readconnroute proxy, 20,000 in a
    readwritesplit one (a client, a primary and two replica connections each) and 5,000 here;
    the proxies inherit this limit.  Root may raise the hard limit too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FD_WANTED:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (FD_WANTED, FD_WANTED))
            return
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ServerCounters:
    """``Questions`` of every sandbox server, through one admin connection each."""

    def __init__(self, sb: Sandbox) -> None:
        self.conns = {s.name: sb.connect(s.name, role=Role.ADMIN, autocommit=True)
                      for s in sb.servers}

    def sample(self) -> dict[str, int]:
        values = {}
        for name, conn in self.conns.items():
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
                values[name] = int(cur.fetchone()[1])
        return values

    @staticmethod
    def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        # minus 1: the SHOW STATUS of the "after" sample is a question too
        return {name: max(0, after[name] - before[name] - 1) for name in before}

    def close(self) -> None:
        for conn in self.conns.values():
            with contextlib.suppress(Exception):
                conn.close()


class CpuMeter:
    """A process's CPU time (user + system) from now until :meth:`per_item_us` is called."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.start = sum(environment.cpu_times(pid)) if pid is not None else 0.0

    def per_item_us(self, items: int) -> float | None:
        """Microseconds of CPU per item (query, connection); None without a process."""
        if self.pid is None or items <= 0:
            return None
        try:
            used = sum(environment.cpu_times(self.pid)) - self.start
        except OSError:
            return None
        return round(used / items * 1e6, 2)


class Bench:
    def __init__(self, settings: Settings, work: Path) -> None:
        self.s = settings
        self.work = work
        self.data = Dataset(settings.tables, settings.table_size)
        self.sb: Sandbox | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.pids: dict[str, int] = {}  # the proxies' processes (CPU time per query/connection)
        self.stops: list[Callable[[], object]] = []
        self.doc: Doc = {}
        self.tmp_path: Path | None = None
        self.prepared = False

    # -- set-up ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def sandbox(self) -> Iterator[Sandbox]:
        if self.s.sandbox_dir:
            say(f"using the sandbox in {self.s.sandbox_dir}")
            yield Sandbox.open(self.s.sandbox_dir).up()
            return
        last: SandboxError | None = None
        for _ in range(3):  # a free port can be taken between choosing and binding it
            sb = Sandbox.create(self.work / "sb", replicas=2, base_port=find_free_block(3),
                                proxy_port=find_free_port(), die_with_parent=True)
            try:
                say(f"starting a sandbox on 127.0.0.1:{sb.primary.port}..")
                sb.up()
                break
            except SandboxError as exc:
                last = exc
                sb.destroy()
        else:
            raise BenchError(f"could not start a sandbox: {last}")
        try:
            yield sb
        finally:
            say("destroying the sandbox")
            sb.destroy()

    def endpoint(self, name: str, host: str, port: int) -> Endpoint:
        assert self.sb is not None
        return Endpoint(name, host, port, self.sb.app_user, self.sb.app_password, DATABASE)

    def start_interlock(self, target: str, tag: str) -> proxy_process.ProxyHandle:
        """Interlock in front of the sandbox, its service's router set as ``target`` wants."""
        assert self.sb is not None
        port = find_free_port()
        config = self.work / f"{target}-{tag}.cnf"
        config.write_text(self.sb.render_config(
            listener_port=port, tls=False, overrides={SERVICE: INTERLOCK_ROUTERS[target]}))
        handle = proxy_process.start(config, HOST, port, self.work / f"{target}-{tag}.log")
        self.stops.append(handle.stop)
        return handle

    def start_targets(self) -> None:
        sb = self.sb
        assert sb is not None
        primary = sb.primary
        for name in self.s.targets:  # the order of the alternation
            if name == "direct":
                self.endpoints[name] = self.endpoint(name, primary.host, primary.port)
                continue
            if name == "haproxy":
                proc: haproxy.HAProxy | forwarder.Forwarder | proxy_process.ProxyHandle = (
                    haproxy.start(self.work, HOST, find_free_port(), primary.host, primary.port))
                self.stops.append(proc.stop)
            elif name == "forwarder":
                proc = forwarder.start(HOST, find_free_port(), primary.host, primary.port)
                self.stops.append(proc.stop)
            else:
                proc = self.start_interlock(name, "sysbench")
            self.endpoints[name] = self.endpoint(name, proc.host, proc.port)
            self.pids[name] = proc.pid
        say("targets: " + ", ".join(f"{e.name} {e.host}:{e.port}"
                                    for e in self.endpoints.values()))

    def prepare_schema(self) -> None:
        assert self.sb is not None
        self.sb.sql(self.sb.primary, f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`;"
                    f" GRANT ALL ON `{DATABASE}`.* TO '{self.sb.app_user}'@'%'")

    def prepare_dataset(self) -> None:
        """The sbtest tables (once per run), on the replicas too before anything reads them."""
        if self.prepared:
            return
        sb = self.sb
        assert sb is not None
        s = self.s
        say(f"sysbench prepare: {s.tables} tables of {s.table_size} rows")
        sysbench.prepare(self.endpoints["direct"], self.data)
        position = sb.sql(sb.primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
        for replica in sb.replicas:
            waited = sb.sql(replica, f"SELECT MASTER_GTID_WAIT('{position}', 120) AS w")
            if waited[0]["w"] != "0":
                raise BenchError(f"{replica.name} did not catch up with the sbtest tables")
        self.prepared = True

    def drop_schema(self) -> None:
        if self.sb is not None:
            with contextlib.suppress(SandboxError):
                self.sb.sql(self.sb.primary, f"DROP DATABASE IF EXISTS `{DATABASE}`")

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> Doc:
        s = self.s
        self.doc = {
            "schema": 2,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "loadavg_at_start": os.getloadavg(),
            "git": environment.git_state(),
            "machine": environment.machine(),
            "settings": {k: v for k, v in asdict(s).items() if k not in ("sandbox_dir", "out")},
            "targets": {},
        }
        with self.sandbox() as sb:
            self.sb = sb
            try:
                self.prepare_schema()
                self.start_targets()
                self.doc["targets"] = {name: {"host": e.host, "port": e.port}
                                       for name, e in self.endpoints.items()}
                for section in s.sections:
                    self.doc[section] = getattr(self, f"section_{section}")()
                    self.save_progress()
            finally:
                for stop in reversed(self.stops):
                    with contextlib.suppress(Exception):
                        stop()
                if s.sandbox_dir:
                    self.drop_schema()
        self.doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.doc["loadavg_at_end"] = os.getloadavg()
        self.doc["checks"] = report.checks(self.doc)
        return self.doc

    def section_sysbench(self) -> Doc:
        s = self.s
        self.prepare_dataset()
        if s.warmup > 0:
            for ep in self.endpoints.values():  # warm-up, not recorded
                sysbench.run("oltp_point_select", ep, self.data, 4, s.warmup)
        assert self.sb is not None
        counters = ServerCounters(self.sb)
        runs: list[Doc] = []
        self.doc["sysbench"] = {"runs": runs}
        try:
            for rep in range(1, s.reps + 1):
                for workload in s.workloads:
                    for threads in s.threads:
                        for name, ep in self.endpoints.items():
                            before = counters.sample()
                            cpu = CpuMeter(self.pids.get(name))
                            result = sysbench.run(workload, ep, self.data, threads, s.duration)
                            cpu_us = cpu.per_item_us(result.queries)
                            servers = counters.delta(before, counters.sample())
                            runs.append({"rep": rep, "workload": workload, "threads": threads,
                                         "target": name, **result.as_dict(),
                                         "proxy_cpu_us_per_query": cpu_us,
                                         "server_queries": servers,
                                         "loadavg_1m": round(os.getloadavg()[0], 2)})
                            cpu_text = f"  proxy CPU {cpu_us:.1f} us/query" if cpu_us else ""
                            say(f"rep {rep}/{s.reps} {workload} {threads:>3} thr {name:<9}"
                                f" {result.qps:>9.0f} qps  median {result.median_ms} ms"
                                f"  p95 {result.p95_ms} ms{cpu_text}")
                    self.save_progress()
        finally:
            counters.close()
        return {"runs": runs, "summary": report.summarise_sysbench(runs)}

    def section_connect(self) -> Doc:
        s = self.s
        runs: list[Doc] = []
        for rep in range(1, s.reps + 1):
            for name, ep in self.endpoints.items():
                cpu = CpuMeter(self.pids.get(name))
                result = sysbench.run_connect(ep, s.connect_threads, s.connect_seconds)
                cpu_us = cpu.per_item_us(result.events)
                rate = result.events_per_sec
                runs.append({"rep": rep, "target": name, "per_sec": rate,
                             "connections": result.events, "proxy_cpu_us_per_connection": cpu_us,
                             "loadavg_1m": round(os.getloadavg()[0], 2)})
                cpu_text = f"  proxy CPU {cpu_us:.0f} us/connection" if cpu_us else ""
                say(f"rep {rep}/{s.reps} connect {name:<9} {rate:>8.0f} connections/s{cpu_text}")
        return {"runs": runs, "summary": report.summarise_connect(runs)}

    def section_memory(self) -> Doc:
        """``{target: {points, kb_per_session}}`` for each Interlock target measured."""
        out: Doc = {}
        for target in self.s.targets:
            if target in INTERLOCK_ROUTERS:
                out[target] = self.memory_of(target)
        return out

    def memory_of(self, target: str) -> Doc:
        sb = self.sb
        assert sb is not None
        # readwritesplit sessions hold a connection to every replica too
        servers = sb.servers if target == "interlock-rws" else (sb.primary,)
        levels, capped = self.session_levels(1 + len(servers))
        wanted = max(levels) + 200
        old = {srv.name: int(sb.sql(srv, "SELECT @@max_connections AS v")[0]["v"])
               for srv in servers}
        raised = [srv for srv in servers if old[srv.name] < wanted]
        for srv in raised:
            sb.sql(srv, f"SET GLOBAL max_connections = {wanted}")
        handle = self.start_interlock(target, "memory")
        try:
            ep = self.endpoint(target, handle.host, handle.port)
            points = idle.measure(ep, handle.pid, levels, self.s.settle)
        finally:
            handle.stop()
            for srv in raised:
                sb.sql(srv, f"SET GLOBAL max_connections = {old[srv.name]}")
        for point in points:
            say(f"memory: {target:<13} {point.sessions:>5} idle sessions, RSS {point.rss_kb} KB")
        per = idle.per_session_kb(points)
        out: Doc = {
            "points": [asdict(p) for p in points],
            "kb_per_session": {str(k): v for k, v in per.items()},
        }
        if capped:
            out["capped"] = capped
        return out

    def session_levels(self, fds_per_session: int) -> tuple[tuple[int, ...], str | None]:
        """The idle-session levels that fit in the proxy's descriptor limit (inherited from
        this process), and why some were lowered."""
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if limit == resource.RLIM_INFINITY:
            return self.s.sessions, None
        most = (limit - 200) // fds_per_session // 100 * 100
        levels = tuple(sorted({min(level, most) for level in self.s.sessions}))
        if levels == tuple(sorted(self.s.sessions)):
            return levels, None
        why = (f"{max(self.s.sessions)} sessions need {fds_per_session} descriptors each in the"
               f" proxy; the limit is {limit}: measured up to {most}")
        say(f"memory: {why}")
        return levels, why

    def section_spread(self) -> Doc:
        """Each server's share of ``oltp_read_only``'s SELECTs through ``interlock-rws``."""
        target = "interlock-rws"
        ep = self.endpoints.get(target)
        if ep is None:
            say("spread: skipped (interlock-rws is not among the targets)")
            return {"skipped": "interlock-rws is not among the targets"}
        sb = self.sb
        assert sb is not None
        self.prepare_dataset()
        seconds = max(1, self.s.duration)
        result = spread.measure(sb, ep, self.data, threads=self.s.spread_threads,
                                seconds=seconds)
        shares = result.shares
        roles = {srv.name: "primary" if srv.name == sb.primary.name else "replica"
                 for srv in sb.servers}
        say("spread: " + ", ".join(f"{name} ({roles[name]}) {share:.1%}"
                                   for name, share in shares.items()))
        return {
            "target": target,
            "script": "oltp_read_only",
            "skip_trx": True,
            "threads": self.s.spread_threads,
            "seconds": seconds,
            "counter": spread.COUNTER,
            "roles": roles,
            "selects": result.selects,
            "shares": shares,
            "qps": result.report.qps,
            "errors": result.report.errors,
        }

    # -- output ------------------------------------------------------------------------------

    def stem(self) -> str:
        date = self.doc["started"][:10]
        return f"{date}-{self.doc['git']['describe']}{'-quick' if self.s.quick else ''}"

    def save_progress(self) -> None:
        out = Path(self.s.out)
        out.mkdir(parents=True, exist_ok=True)
        self.tmp_path = out / f"{self.stem()}.json.tmp"
        self.tmp_path.write_text(json.dumps(self.doc, indent=1) + "\n")

    def write(self) -> Path:
        out = Path(self.s.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.stem()}.json"
        path.write_text(json.dumps(self.doc, indent=1) + "\n")
        table = report.markdown(self.doc)
        path.with_suffix(".md").write_text(table)
        report.chart(self.doc, path.with_suffix(".png"))
        if self.tmp_path is not None and self.tmp_path.exists():
            self.tmp_path.unlink()
        print(table)
        say(f"wrote {path}, {path.with_suffix('.md').name}, {path.with_suffix('.png').name}")
        return path


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="ilbench-", dir="/tmp") as work:
        bench = Bench(settings, Path(work))
        try:
            bench.run()
        except (BenchError, SandboxError) as exc:
            say(f"failed: {exc}")
            return 1
        bench.write()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
