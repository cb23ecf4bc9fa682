"""The read verbs (``list``, ``show``) and the dispatch table of every ``ctl`` command.

``COMMANDS`` is the one table: ``cli`` builds the parser from it (verb, noun, arguments) and
calls the handler of the command the user named.  Adding a verb is adding a row.
"""

from __future__ import annotations

import argparse
from typing import Any

from interlock.admin.ctl import actions, advise, cluster, fields, health, objects
from interlock.admin.ctl.base import Command, Handler, Result, arg, segment
from interlock.admin.ctl.client import Client
from interlock.admin.ctl.fields import Spec

LISTS: dict[str, tuple[str, Spec, str]] = {  # noun -> (path, columns, help)
    "servers": ("/v1/servers", fields.LIST_SERVERS, "servers, their state and GTID"),
    "services": ("/v1/services", fields.LIST_SERVICES, "services and their targets"),
    "listeners": ("/v1/listeners", fields.LIST_LISTENERS, "listeners"),
    "monitors": ("/v1/monitors", fields.LIST_MONITORS, "monitors"),
    "sessions": ("/v1/sessions", fields.LIST_SESSIONS, "client sessions"),
    "users": ("/v1/users", fields.LIST_USERS, "admin API users"),
}
SHOWS: dict[str, tuple[str, Spec]] = {  # noun -> (collection path, fields)
    "server": ("/v1/servers", fields.SHOW_SERVER),
    "service": ("/v1/services", fields.SHOW_SERVICE),
    "monitor": ("/v1/monitors", fields.SHOW_MONITOR),
    "session": ("/v1/sessions", fields.SHOW_SESSION),
}


def lister(path: str, spec: Spec) -> Handler:
    def run(client: Client, args: argparse.Namespace) -> Result:
        document = client.get(path)
        return Result((fields.table(spec, document["data"]),), document)
    return run


def list_events(client: Client, args: argparse.Namespace) -> Result:
    document = client.get("/v1/events")
    data: list[Any] = document["data"]
    if args.last is not None:
        data = data[-args.last:] if args.last > 0 else []
        document = {**document, "data": data}
    return Result((fields.table(fields.LIST_EVENTS, data),), document)


def shower(path: str, spec: Spec) -> Handler:
    def run(client: Client, args: argparse.Namespace) -> Result:
        document = client.get(f"{path}/{segment(args.name)}")
        return Result((fields.fields(spec, document["data"]),), document)
    return run


def show_all(path: str, spec: Spec) -> Handler:
    """``show servers``: every resource of a collection as its own key/value table."""
    def run(client: Client, args: argparse.Namespace) -> Result:
        document = client.get(path)
        return Result(tuple(fields.fields(spec, r) for r in document["data"]), document)
    return run


def show_maxscale(client: Client, args: argparse.Namespace) -> Result:
    document = client.get("/v1/maxscale")
    return Result((fields.fields(fields.SHOW_MAXSCALE, document["data"]),), document)


READS: tuple[Command, ...] = (
    *(Command("list", noun, f"list {text}", lister(path, spec))
      for noun, (path, spec, text) in LISTS.items()),
    Command("list", "events", "recent monitor events (state changes, decisions, actions)",
            list_events, (arg("--last", type=int, metavar="N",
                              help="only the N most recent events"),)),
    *(Command("show", noun, f"show one {noun}", shower(path, spec),
              (arg("name", metavar="ID" if noun == "session" else "NAME"),))
      for noun, (path, spec) in SHOWS.items()),
    *(Command("show", f"{noun}s", f"show every {noun}", show_all(path, spec))
      for noun, (path, spec) in SHOWS.items()),
    Command("show", "maxscale", "the proxy: version, uptime, threads, global parameters",
            show_maxscale),
)

COMMANDS: tuple[Command, ...] = (READS + actions.COMMANDS + objects.COMMANDS + health.COMMANDS
                                  + advise.COMMANDS + cluster.COMMANDS)

#: what each verb does (for ``interlock ctl --help``)
VERBS: dict[str, str] = {
    "list": "list objects (a table)",
    "show": "show one object (a key/value table)",
    "set": "set maintenance or drain on a server",
    "clear": "clear maintenance or drain on a server",
    "call": "call a module command (mariadbmon switchover|failover|rejoin|reset-replication)",
    "switchover": "planned change of primary (call command mariadbmon switchover)",
    "failover": "promote a replica after the primary failed",
    "rejoin": "make a server replicate from the primary again",
    "reload": "reload database users of services, or the TLS certificates",
    "rotate": "rotate the log file",
    "create": "create a server, service, monitor, listener or admin user",
    "alter": "change parameters of a server, service, monitor or listener",
    "destroy": "remove a server, service, monitor, listener, admin user or session",
    "link": "add servers to a service or monitor",
    "unlink": "remove servers from a service or monitor",
    "api": "raw REST API requests",
    "advise": "wait_timeout / connection advice from this proxy's sessions",
    "cluster": "the Interlock cluster (cluster=etcd): instances, leaders, revision",
}
