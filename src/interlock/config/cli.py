"""``interlock check -c FILE``: validate a configuration without starting anything.

Exit status: 0 when the file is valid (warnings are printed, then an ``OK:`` summary line),
1 when it has errors (all printed, one per line, on stderr), 2 for usage errors (argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from interlock.config.loader import parse_config
from interlock.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "check",
        help="validate a configuration file",
        description="Validate a maxscale.cnf-style configuration file without starting.",
    )
    parser.add_argument(
        "-c", "--config", required=True, metavar="FILE", help="the configuration file"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = parse_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        count = len(getattr(exc, "errors", ())) or 1
        print(f"{args.config}: {count} error{'s' if count > 1 else ''}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}")
    print(
        f"OK: {args.config}: {_count(config.servers, 'server')}, "
        f"{_count(config.services, 'service')}, {_count(config.listeners, 'listener')}, "
        f"{_count(config.monitors, 'monitor')}"
    )
    return 0


def _count(objects: dict[str, Any], noun: str) -> str:
    return f"{len(objects)} {noun}{'' if len(objects) == 1 else 's'}"
