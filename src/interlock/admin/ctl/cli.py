"""``interlock ctl``: the command line (argparse), built from the dispatch table
:data:`interlock.admin.ctl.commands.COMMANDS`.

The connection options (``-h``, ``-u``, ``-p``, ``-c``, ``--json``, ...) may come before the
verb or anywhere after it, as with maxctrl: every parser of the tree knows them, and only the
top one has defaults (the others leave the value alone unless the option is given).  ``-h`` is
the host, as maxctrl's, so help is ``--help`` only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from interlock.admin.ctl import settings
from interlock.admin.ctl.base import Command, Result
from interlock.admin.ctl.client import Client, CtlError, Exit
from interlock.admin.ctl.commands import COMMANDS, VERBS
from interlock.admin.ctl.tables import render

EXIT_CODES = """exit status:
  0  success
  1  the API refused or failed the request (its reason is printed on stderr)
  2  usage error (bad command line, unreadable -c FILE, several monitors and no --monitor)
  3  cannot connect: nothing listening, timeout, TLS failure, not an admin API
  4  authentication failed (401), or a read-only (basic) user asked for a change (403)"""

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def milliseconds(text: str) -> float:
    """maxctrl's ``-t``: plain milliseconds, or a duration with ``ms|s|m|h``."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected milliseconds or a duration "
                                         "such as 30s")
    return float(match.group(1)) * UNIT_MS[match.group(2) or "ms"]


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")


def connection_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """The options every command takes; ``top``: with their defaults (see the docstring)."""
    group = parser.add_argument_group("connection and output")
    add = _adder(group, top)
    add("--help", action="help", help="show this help and exit")
    add("-h", "--hosts", metavar="HOST:PORT[,...]",
        help="the admin API (default: from -c FILE, else 127.0.0.1:8989); several hosts: "
             "the command runs on each")
    add("-u", "--user", metavar="USER", help="admin API user (default: the generated admin)")
    add("-p", "--password", metavar="PASSWORD", help="its password (default: read from "
        "DATADIR/admin-password)")
    add("-c", "--config", metavar="FILE", help="the proxy's config: its [maxscale] "
        "admin_host, admin_port, admin_ssl_cert and datadir")
    add("--datadir", metavar="DIR", help="where the proxy keeps admin-password (default: "
        "the config's datadir, else /var/lib/interlock)")
    add("-t", "--timeout", type=milliseconds, metavar="MS", help="request timeout: "
        "milliseconds or 30s (default 10s; 130s for switchover/failover/rejoin)")
    add("-s", "--secure", action="store_true", default=False, help="HTTPS")
    add("--tls-ca-cert", metavar="FILE", help="CA of the API's certificate")
    add("--tls-verify-server-cert", "--tls-verify", type=boolean, default=True,
        metavar="BOOL", help="check the API's certificate (default true)")
    add("--tls-cert", metavar="FILE", help="client certificate")
    add("--tls-key", metavar="FILE", help="client certificate key")
    add("--json", action="store_true", default=False,
        help="print the API's JSON document instead of a table")
    add("--tsv", action="store_true", default=False,
        help="tab-separated values, no header (for scripts)")


def _adder(group: argparse._ArgumentGroup, top: bool) -> Any:
    def add(*flags: str, **options: Any) -> None:
        default = options.pop("default", None)
        if options.get("action") != "help":
            options["default"] = default if top else argparse.SUPPRESS
        group.add_argument(*flags, **options)
    return add


def _leaf(sub: argparse._SubParsersAction[Any], name: str, command: Command) -> None:
    parser = sub.add_parser(name, help=command.help, description=command.help,
                            add_help=False, epilog=EXIT_CODES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    for spec in command.args:
        parser.add_argument(*spec.flags, **spec.options)
    connection_options(parser, top=False)
    parser.set_defaults(handler=command.handler, **command.defaults)


def _verbs(commands: Iterable[Command]) -> dict[str, list[Command]]:
    grouped: dict[str, list[Command]] = {}
    for command in commands:
        grouped.setdefault(command.verb, []).append(command)
    return grouped


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "ctl", add_help=False, help="operate a running proxy through its REST API (maxctrl)",
        description="maxctrl's verbs against Interlock's admin REST API.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    connection_options(parser, top=True)
    parser.set_defaults(func=run)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, commands in _verbs(COMMANDS).items():
        if commands[0].noun is None:
            _leaf(verbs, verb, commands[0])
            continue
        verb_parser = verbs.add_parser(verb, help=VERBS.get(verb, ""), add_help=False,
                                       description=VERBS.get(verb, ""))
        connection_options(verb_parser, top=False)
        nouns = verb_parser.add_subparsers(dest="noun", metavar="WHAT", required=True)
        for command in commands:
            assert command.noun is not None
            _leaf(nouns, command.noun, command)


# -- running ----------------------------------------------------------------------------------


def emit(result: Result, args: argparse.Namespace) -> None:
    if args.json:
        if result.document is not None:
            print(json.dumps(result.document, indent=2))
        return
    texts = [view if isinstance(view, str) else render(view, tsv=args.tsv)
             for view in result.views]
    separator = "\n" if args.tsv else "\n\n"  # tables of `show servers`: a blank line apart
    text = separator.join(t for t in texts if t)
    if text:
        print(text)


def run_on(client: Client, args: argparse.Namespace) -> int:
    try:
        result: Result = args.handler(client, args)
    except CtlError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return int(exc.exit)
    except (KeyError, TypeError) as exc:  # a document without the expected members
        print(f"Error: {client.endpoint.address}: unexpected answer from the API (missing "
              f"{exc}); is it an Interlock admin API of this version?", file=sys.stderr)
        return int(Exit.API)
    emit(result, args)
    return int(Exit.OK)


def run(args: argparse.Namespace) -> int:
    if args.json and args.tsv:
        print("Error: --json and --tsv exclude each other", file=sys.stderr)
        return int(Exit.USAGE)
    try:
        clients = settings.clients(args)
    except CtlError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return int(exc.exit)
    status = int(Exit.OK)
    for client in clients:
        if len(clients) > 1 and not args.json:
            print(f"{client.endpoint.address}:")
        code = run_on(client, args)
        status = status or code
    return status
