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

``--plot FILE.png`` draws the model (and the sampled curves) with matplotlib, a development
dependency imported only then.  ``--apply`` (live mode only) runs ``SET GLOBAL wait_timeout``
on the same connection after the report and a confirmation (``--yes`` skips it).

Exit status 0 with a report, 1 when the input is unusable (the message says what is missing)
or ``--apply`` failed, 2 for usage errors (and ``--plot`` without matplotlib).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.advisor import figures
from interlock.advisor.analysis import Analysis, analyze, analyze_load
from interlock.advisor.dump import StatusDump, load_dump
from interlock.advisor.errors import AdvisorError, UsageError
from interlock.advisor.method1 import Policy
from interlock.advisor.plotdata import Sampled, plot_data, sampled_of
from interlock.advisor.report import render_json, render_text
from interlock.advisor.units import parse_duration, parse_size

if TYPE_CHECKING:
    from interlock.advisor.live import LiveSession

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
    parser.add_argument(
        "--plot", metavar="FILE.png",
        help="draw connections over time against max_connections (needs matplotlib)",
    )
    apply = parser.add_argument_group("apply (live mode)")
    apply.add_argument(
        "--apply", action="store_true",
        help="after the report, SET GLOBAL wait_timeout on the server (asks first)",
    )
    apply.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    apply.add_argument(
        "--apply-value", choices=("strict", "middle", "lenient"), default=None,
        help="which recommendation to apply (middle)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        _check_usage(args)
        if args.status_file or not args.host:
            analysis, source, sampled = _analysis(args)
            _emit(args, analysis, source, sampled)
            return 0
        return asyncio.run(_live(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AdvisorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # e.g. Ctrl-C at the --apply question
        print("\ninterrupted", file=sys.stderr)
        return 130


def _check_usage(args: argparse.Namespace) -> None:
    if args.apply:
        if args.status_file or not args.host:
            raise UsageError(
                "--apply changes a live server, so it needs --host (live mode); it cannot apply"
                " a recommendation computed from --status-file or a what-if: run the"
                " SET GLOBAL the report prints instead"
            )
        if not args.yes and not sys.stdin.isatty():
            raise UsageError(
                "--apply asks for confirmation on a terminal, and stdin is not one: add --yes"
                " to apply without asking"
            )
    elif args.yes or args.apply_value is not None:
        raise UsageError("--yes and --apply-value only go with --apply")
    if args.plot:
        from interlock.advisor import plot  # matplotlib is checked before any sampling

        plot.require_matplotlib()


def _emit(
    args: argparse.Namespace, analysis: Analysis, source: str, sampled: Sampled | None
) -> None:
    if args.json:
        print(json.dumps(render_json(analysis, source), indent=2), flush=True)
    else:
        print(render_text(analysis, source), end="", flush=True)
    if args.plot:
        from interlock.advisor import plot

        plot.render_png(plot_data(analysis, source, sampled), args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)


def _analysis(args: argparse.Namespace) -> tuple[Analysis, str, Sampled | None]:
    policy = Policy(args.policy)
    memory = _memory(args.memory)
    if args.status_file:
        return _from_files(args, policy, memory)
    if args.avg_cps is not None:
        return _what_if(args, policy), "what-if", None
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


def _dump_samples(dump: StatusDump, name: str = "connections") -> list[tuple[float, int]]:
    """``(Uptime, value)`` of the counter ``name`` in every snapshot that has both."""
    samples = []
    for snap in dump.snapshots:
        uptime, value = snap.get("uptime"), snap.get(name)
        if uptime and value and uptime.isdigit() and value.isdigit():
            samples.append((float(uptime), int(value)))
    return samples


def _from_files(
    args: argparse.Namespace, policy: Policy, memory: int | None
) -> tuple[Analysis, str, Sampled | None]:
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
    sampled = sampled_of(samples, _dump_samples(status, "threads_connected"))
    return analyze(counters, variables, peak, policy, memory, used), source, sampled


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


async def _live(args: argparse.Namespace) -> int:
    """Live mode on one connection: read, report (and plot), then ``--apply``."""
    from interlock.advisor import live  # the I/O half, only for live mode

    policy = Policy(args.policy)
    memory = _memory(args.memory)
    if not args.user:
        raise UsageError("--user is required with --host")
    target = live.Target(args.host, args.port, args.user, _password(args.password))
    seconds = parse_duration(args.sample)
    progress = _progress_bar if sys.stderr.isatty() and seconds >= 1 else None
    async with live.open_session(target) as session:
        reading = await session.read(seconds, progress)
        counters = figures.counters_from(reading.status)
        variables = figures.variables_from(reading.variables)
        peak = args.max_cps if args.max_cps is not None else figures.peak_from_samples(
            list(reading.samples)
        )
        used = len(reading.samples) if args.max_cps is None and peak is not None else 0
        source = f"{target.label}, sampled {seconds:g} s ({len(reading.samples)} readings)"
        analysis = analyze(counters, variables, peak, policy, memory, used)
        _emit(args, analysis, source, sampled_of(reading.samples, reading.threads))
        if not args.apply:
            return 0
        return await _apply(args, session, analysis)


async def _apply(
    args: argparse.Namespace, session: LiveSession, analysis: Analysis
) -> int:
    from interlock.advisor import apply

    value = apply.chosen_value(analysis.result, apply.ApplyValue(args.apply_value or "middle"))
    label = session.target.label
    out = sys.stderr if args.json else sys.stdout  # stdout stays one JSON object
    await apply.check_privilege(session, value)
    if not args.yes and not apply.confirm(apply.question(value, label), sys.stdin, out):
        print(f"not applied: wait_timeout on {label} is unchanged", file=out)
        return 0
    applied = await apply.apply_wait_timeout(session, value)
    for line in apply.describe(applied, label):
        print(line, file=out)
    return 0 if applied.exact else 1
