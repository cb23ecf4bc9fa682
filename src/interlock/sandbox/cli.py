"""``interlock sandbox up|status|down|destroy|demo``: a local cluster of real MariaDB servers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interlock import log as logging_setup
from interlock.errors import SandboxError
from interlock.sandbox.cluster import Sandbox
from interlock.sandbox.model import SPEC_FILE

DEFAULT_DIR = "./.sandbox"
DEFAULTS = {"replicas": 2, "base_port": 3310, "proxy_port": 4006, "semi_sync": False}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"sandbox directory ({DEFAULT_DIR})")


def _creation(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--replicas", type=int, help="number of replicas (2)")
    parser.add_argument(
        "--semi-sync", action="store_true", default=None, help="semi-synchronous replication"
    )
    parser.add_argument("--base-port", type=int, help="port of the primary; replicas follow (3310)")
    parser.add_argument("--proxy-port", type=int, help="Interlock listener port (4006)")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sandbox",
        help="local MariaDB replication cluster for trying Interlock",
        description=__doc__,
    )
    actions = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    commands: dict[str, tuple[str, Callable[[argparse.Namespace], int], bool]] = {
        "up": ("create or start the sandbox and wait until replication runs", cmd_up, True),
        "status": ("show the servers and their replication state", cmd_status, False),
        "down": ("stop the servers, keep their data", cmd_down, False),
        "destroy": ("stop the servers and delete the sandbox directory", cmd_destroy, False),
        "demo": ("sandbox up + Interlock in the foreground; Ctrl-C stops both", cmd_demo, True),
    }
    for name, (help_text, func, creates) in commands.items():
        action = actions.add_parser(name, help=help_text, description=help_text)
        (_creation if creates else _common)(action)
        action.set_defaults(func=_guarded(func))


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        logging_setup.setup()
        try:
            return func(args)
        except SandboxError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def sandbox_from_args(args: argparse.Namespace) -> Sandbox:
    """The existing sandbox in --dir (options given must match it), else a new one."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}
    if (Path(args.dir) / SPEC_FILE).exists():
        existing = Sandbox.open(args.dir)
        wanted = {key: given.get(key, getattr(existing.spec, key)) for key in DEFAULTS}
        return Sandbox.create(args.dir, **wanted)
    return Sandbox.create(args.dir, **{**DEFAULTS, **given})


def describe(sb: Sandbox) -> str:
    lines = [f"Sandbox in {sb.dir}:"]
    for server in sb.servers:
        role = "primary" if server.is_primary else "replica"
        lines.append(f"  {server.name:<9} {server.host}:{server.port:<6} {role}")
    lines.append("Accounts (fixed passwords, see sandbox.json):")
    for account in sb.spec.accounts:
        hosts = ",".join(account.hosts)
        lines.append(f"  {account.role.value:<12} {account.user}@{hosts} / {account.password}")
    lines.append(f"Interlock config: {sb.config_path}")
    lines.append(f"  start it:  interlock start -c {sb.config_path}")
    lines.append(f"  then:      {sb.proxy_params().command_line()}")
    lines.append(f"Directly:    {sb.params().command_line()}")
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace) -> int:
    sb = sandbox_from_args(args).up()
    print(describe(sb))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    sb = Sandbox.open(args.dir)
    print(f"{'server':<9} {'port':<6} {'role':<8} {'pid':<8} {'gtid':<14} replication")
    statuses = sb.status()
    for st in statuses:
        pid = str(st.pid) if st.running else "stopped"
        gtid = st.gtid or "-"
        print(f"{st.name:<9} {st.port:<6} {st.role:<8} {pid:<8} {gtid:<14} {st.replication}")
    return 0 if all(st.running for st in statuses) else 3


def cmd_down(args: argparse.Namespace) -> int:
    Sandbox.open(args.dir).down()
    directory = Path(args.dir).absolute()
    print(f"sandbox in {directory} stopped (data kept; `interlock sandbox up` starts it)")
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    directory = Path(args.dir).absolute()
    if not (directory / SPEC_FILE).exists():
        print(f"no sandbox in {directory}; nothing to do")
        return 0
    Sandbox.open(directory).destroy()
    print(f"sandbox in {directory} destroyed")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from interlock.sandbox.demo import run_demo

    return run_demo(sandbox_from_args(args))
