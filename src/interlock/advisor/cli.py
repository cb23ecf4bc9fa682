"""``interlock advise``: timeout and capacity advice from a server's counters (Method 1).

Three ways in:

* live: ``--host H --port P --user U [--password PW | -p] [--sample 60s]`` samples
  ``Connections`` every second over the window (a progress bar on a terminal), then reads
  ``SHOW GLOBAL STATUS`` and ``SHOW GLOBAL VARIABLES``;
* saved output: ``--status-file F [--variables-file F]`` (``mysqladmin extended-status``,
  ``SHOW GLOBAL STATUS`` / ``VARIABLES``, table or tab-separated; several readings in one
  file give a measured peak);
* what-if: ``--max-connections 100 --max-used-connections 92 --avg-cps 0.8 [--max-cps 1.1]
  --cpq 7``.

Exit status 0 with a report, 1 when the input is unusable (the message says what is missing),
2 for usage errors.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from interlock.advisor import figures
from interlock.advisor.analysis import Analysis, analyze, analyze_load
from interlock.advisor.dump import StatusDump, load_dump
from interlock.advisor.errors import AdvisorError
from interlock.advisor.method1 import Policy
from interlock.advisor.report import render_json, render_text
from interlock.advisor.units import parse_duration, parse_size

PROMPT = object()  # ``-p`` without a value: ask for the password


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "advise",
        help="recommend wait_timeout, max_connections and keepalive from a server's counters",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    live = parser.add_argument_group("live server")
    live.add_argument("--host", help="server address (live mode)")
    live.add_argument("--port", type=int, default=3306, help="server port (3306)")
    live.add_argument("--user", "-u", help="account to read the counters as")
    live.add_argument(
        "--password", "-p", nargs="?", const=PROMPT, default=None,
        help="password (-p alone prompts; default: $MYSQL_PWD, else none)",
    )
    live.add_argument("--sample", default="60s", help="sampling window for the peak (60s)")
    files = parser.add_argument_group("saved output")
    files.add_argument("--status-file", metavar="F", help="saved SHOW GLOBAL STATUS output")
    files.add_argument("--variables-file", metavar="F", help="saved SHOW GLOBAL VARIABLES output")
    what_if = parser.add_argument_group("what-if")
    what_if.add_argument("--max-connections", type=int)
    what_if.add_argument("--max-used-connections", type=int)
    what_if.add_argument("--avg-cps", type=Fraction, help="average connections per second")
    what_if.add_argument("--max-cps", type=Fraction, help="peak connections per second")
    what_if.add_argument("--cpq", type=Fraction, help="queries per connection")
    parser.add_argument("--policy", choices=[p.value for p in Policy], default="strict")
    parser.add_argument(
        "--memory", metavar="SIZE", help="the machine's memory (16G), or 'local' for this host's"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a report")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        analysis, source = _analysis(args)
    except AdvisorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(render_json(analysis, source), indent=2))
    else:
        print(render_text(analysis, source), end="")
    return 0


def _analysis(args: argparse.Namespace) -> tuple[Analysis, str]:
    policy = Policy(args.policy)
    memory = _memory(args.memory)
    if args.status_file:
        return _from_files(args, policy, memory)
    if args.host:
        return _from_server(args, policy, memory)
    if args.avg_cps is not None:
        return _what_if(args, policy), "what-if"
    raise AdvisorError(
        "say where the counters come from: --host H --user U (live), --status-file F (saved"
        " output), or --max-connections/--max-used-connections/--avg-cps/--cpq (what-if)"
    )


def _memory(text: str | None) -> int | None:
    if text is None:
        return None
    if text == "local":
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
        raise AdvisorError("/proc/meminfo has no MemTotal line")
    return parse_size(text)


def _what_if(args: argparse.Namespace, policy: Policy) -> Analysis:
    needed = {"--max-connections": args.max_connections, "--cpq": args.cpq,
              "--max-used-connections": args.max_used_connections}
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise AdvisorError("a what-if needs " + ", ".join(missing))
    load = figures.Load(
        args.max_connections, args.max_used_connections, args.avg_cps, args.cpq, args.max_cps
    )
    return analyze_load(load, policy)


def _dump_samples(dump: StatusDump) -> list[tuple[float, int]]:
    samples = []
    for snap in dump.snapshots:
        uptime, connections = snap.get("uptime"), snap.get("connections")
        if uptime and connections and uptime.isdigit() and connections.isdigit():
            samples.append((float(uptime), int(connections)))
    return samples


def _from_files(
    args: argparse.Namespace, policy: Policy, memory: int | None
) -> tuple[Analysis, str]:
    status = load_dump(args.status_file)
    values = status.merged()
    source = args.status_file
    if args.variables_file:
        values.update(load_dump(args.variables_file).merged())
        source += f" + {args.variables_file}"
    samples = _dump_samples(status)
    peak = args.max_cps if args.max_cps is not None else figures.peak_from_samples(samples)
    counters = figures.counters_from(values)
    variables = figures.variables_from(values)
    used = len(samples) if peak is not None and args.max_cps is None else 0
    return analyze(counters, variables, peak, policy, memory, used), source


def _password(value: object) -> str:
    if value is PROMPT:
        return getpass.getpass("Enter password: ")
    if isinstance(value, str):
        return value
    return os.environ.get("MYSQL_PWD", "")


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(1, total)
    end = "\n" if done >= total else ""
    print(f"\rsampling [{'#' * filled}{'.' * (width - filled)}] {done}/{total} s",
          end=end, file=sys.stderr, flush=True)


def _from_server(
    args: argparse.Namespace, policy: Policy, memory: int | None
) -> tuple[Analysis, str]:
    from interlock.advisor import live  # the I/O half, only for live mode

    if not args.user:
        raise AdvisorError("--user is required with --host")
    target = live.Target(args.host, args.port, args.user, _password(args.password))
    seconds = parse_duration(args.sample)
    progress = _progress_bar if sys.stderr.isatty() and seconds >= 1 else None
    reading = live.read_live(target, seconds, progress)
    counters = figures.counters_from(reading.status)
    variables = figures.variables_from(reading.variables)
    peak = args.max_cps if args.max_cps is not None else figures.peak_from_samples(
        list(reading.samples)
    )
    used = len(reading.samples) if args.max_cps is None and peak is not None else 0
    source = f"{target.label}, sampled {seconds:g} s ({len(reading.samples)} readings)"
    return analyze(counters, variables, peak, policy, memory, used), source
