"""The one `interlock` command: a thin dispatcher to each package's subcommands.

Each subcommand lives next to the code it drives and exposes
``register(subparsers: argparse._SubParsersAction) -> None``, which adds its parser and sets
``func`` (``(args) -> int``, the exit code) as the parser default.  Modules are imported only
when their command is named, so ``interlock sandbox status`` never loads the proxy.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from interlock import __version__

#: subcommand name -> module providing ``register``
SUBCOMMANDS: dict[str, str] = {
    "start": "interlock.server.cli",
    "check": "interlock.config.cli",
    "sandbox": "interlock.sandbox.cli",
    "advise": "interlock.advisor.cli",
    "keys": "interlock.config.keys_cli",
    "passwd": "interlock.config.keys_cli",
    "ctl": "interlock.admin.ctl.cli",
    "keepalived-config": "interlock.admin.keepalived",
}


def build_parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interlock", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"interlock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in names if names is not None else SUBCOMMANDS:
        importlib.import_module(SUBCOMMANDS[name]).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = [a for a in argv if a in SUBCOMMANDS][:1]
    parser = build_parser(wanted or None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
