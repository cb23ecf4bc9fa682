"""The shape of a ``ctl`` command: its place in the command line, its arguments (as data, for
``cli`` to build the parser) and its handler ``(client, args) -> Result``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from interlock.admin.ctl.client import Client, CtlError, Exit
from interlock.admin.ctl.tables import Fields, Table

View = Table | Fields | str  # a string is a message (maxctrl prints "OK" after an action)


@dataclass(frozen=True, slots=True)
class Result:
    views: tuple[View, ...] = ()  # what is printed (tables, or TSV with --tsv)
    document: Any = None  # what --json prints (the API's document); None: nothing


OK = Result(("OK",))

Handler = Callable[[Client, argparse.Namespace], Result]


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``parser.add_argument(*flags, **options)``."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # list, show, set, ..., or a shortcut: switchover
    noun: str | None  # servers, server, ...; None for a verb without one
    help: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)  # parser.set_defaults(...)


def segment(name: str) -> str:
    """``name`` as one path segment (a server named ``a/b`` stays one segment)."""
    return quote(name, safe="")


def only_monitor(client: Client) -> str:
    """The monitor of a command that names none: the only one there is."""
    names = [m["id"] for m in client.get("/v1/monitors")["data"]]
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise CtlError(Exit.API, "there is no monitor: cluster operations need a mariadbmon")
    raise CtlError(Exit.USAGE, f"there are {len(names)} monitors ({', '.join(names)}): "
                               "name one with --monitor")


def monitor_of(client: Client, server: str) -> str:
    """The monitor watching ``server`` (else the only monitor)."""
    data = client.get(f"/v1/servers/{segment(server)}")["data"]
    found = data.get("relationships", {}).get("monitors", {}).get("data", [])
    return str(found[0]["id"]) if found else only_monitor(client)
