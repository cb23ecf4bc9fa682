"""Verbs that change things: server states, mariadbmon's cluster operations, user reload, log
rotation, sessions, admin users, and the raw ``api`` requests.

Each one is a single REST request in MaxScale's form, so a maxctrl habit maps onto the same
request; on success it prints ``OK`` (``--json``: the API's answer, if it has a body).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from interlock.admin.ctl.base import Command, Result, arg, monitor_of, only_monitor, segment
from interlock.admin.ctl.client import CLUSTER_TIMEOUT, Client, CtlError, Exit, Reply
from interlock.admin.ctl.fields import pluck

STATES = ("maintenance", "drain")
MARIADBMON_COMMANDS = ("switchover", "failover", "rejoin", "reset-replication")
ACCOUNTS = ("admin", "basic")


def done(reply: Reply) -> Result:
    return Result(("OK",), reply.body)


# -- server states ------------------------------------------------------------------------


def set_server(client: Client, args: argparse.Namespace) -> Result:
    query: list[str | tuple[str, str]] = [("state", args.state)]
    if args.force:
        query.append(("force", "yes"))
    return done(client.request("PUT", f"/v1/servers/{segment(args.name)}/set", query=query))


def clear_server(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("PUT", f"/v1/servers/{segment(args.name)}/clear",
                               query=[("state", args.state)]))


# -- cluster operations -------------------------------------------------------------------


def module_command(client: Client, module: str, command: str, params: list[str]) -> Result:
    """``POST /v1/maxscale/modules/MODULE/COMMAND?ARG1&ARG2...`` (MaxScale's form)."""
    path = f"/v1/maxscale/modules/{segment(module)}/{segment(command)}"
    return done(client.request("POST", path, query=params, timeout=CLUSTER_TIMEOUT))


def call_command(client: Client, args: argparse.Namespace) -> Result:
    return module_command(client, args.module, args.command_name, list(args.params))


def switchover(client: Client, args: argparse.Namespace) -> Result:
    monitor = args.monitor or only_monitor(client)
    return module_command(client, "mariadbmon", "switchover",
                          [monitor, *([args.to] if args.to else [])])


def failover(client: Client, args: argparse.Namespace) -> Result:
    return module_command(client, "mariadbmon", "failover",
                          [args.monitor or only_monitor(client)])


def rejoin(client: Client, args: argparse.Namespace) -> Result:
    monitor = args.monitor or monitor_of(client, args.server)
    return module_command(client, "mariadbmon", "rejoin", [monitor, args.server])


# -- reload, rotate -------------------------------------------------------------------------


def reload_users(client: Client, args: argparse.Namespace) -> Result:
    names = list(args.services) or [s["id"] for s in client.get("/v1/services")["data"]]
    for name in names:
        client.request("POST", f"/v1/services/{segment(name)}/reload")
    return Result(("OK",))


def reload_service(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("POST", f"/v1/services/{segment(args.name)}/reload"))


def reload_tls(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("POST", "/v1/maxscale/tls/reload"))


def rotate_logs(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("POST", "/v1/maxscale/logs/rotate"))


# -- sessions and users ---------------------------------------------------------------------


def destroy_session(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("DELETE", f"/v1/sessions/{segment(args.id)}"))


def create_user(client: Client, args: argparse.Namespace) -> Result:
    body = {"data": {"id": args.name, "type": "inet",
                     "attributes": {"password": args.new_password, "account": args.type}}}
    return done(client.request("POST", "/v1/users/inet", body=body))


def destroy_user(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request("DELETE", f"/v1/users/inet/{segment(args.name)}"))


# -- api --------------------------------------------------------------------------------------


def _pretty(reply: Reply, value: Any) -> str:
    """JSON as JSON (a string field too, quoted, as maxctrl prints it); other text as is."""
    return json.dumps(value, indent=2) if reply.body is not None else str(value)


def api_get(client: Client, args: argparse.Namespace) -> Result:
    reply = client.request("GET", args.path, raw=True)
    value = reply.body if reply.body is not None else reply.text
    if args.field:
        if not isinstance(value, dict):
            raise CtlError(Exit.API, f"{args.path} is not a JSON object: no field {args.field}")
        value = pluck(value, args.field)
    return Result((_pretty(reply, value),), value)


def api_write(client: Client, args: argparse.Namespace) -> Result:
    body = None
    if args.body is not None:
        try:
            body = json.loads(args.body)
        except ValueError as exc:
            raise CtlError(Exit.USAGE, f"the request body is not JSON: {exc}") from exc
    reply = client.request(args.method, args.path, body=body, raw=True)
    if reply.body is None and not reply.text.strip():
        return Result(("OK",))
    value = reply.body if reply.body is not None else reply.text
    return Result((_pretty(reply, value),), value)


MONITOR_OPTION = arg("--monitor", metavar="MONITOR",
                     help="the monitor (default: the only one, or the server's)")
STATE = arg("state", choices=STATES, help="maintenance or drain")

COMMANDS: tuple[Command, ...] = (
    Command("set", "server", "set maintenance or drain (not on the primary)", set_server,
            (arg("name", metavar="NAME"), STATE,
             arg("--force", action="store_true",
                 help="maintenance: close the server's sessions now"))),
    Command("clear", "server", "clear maintenance or drain", clear_server,
            (arg("name", metavar="NAME"), STATE)),
    Command("call", "command", "call a module command, e.g. mariadbmon switchover MONITOR "
            "[NEW [OLD]]", call_command,
            (arg("module", metavar="MODULE", help="mariadbmon"),
             arg("command_name", metavar="COMMAND",
                 help="switchover, failover, rejoin or reset-replication"),
             arg("params", nargs="*", metavar="ARG", help="MONITOR, then the command's "
                 "arguments: switchover MON [NEW [OLD]], failover MON, rejoin MON SERVER, "
                 "reset-replication MON [PRIMARY]"))),
    Command("switchover", None, "planned change of primary", switchover,
            (arg("--to", metavar="SERVER", help="the new primary (default: the monitor's "
                 "choice)"), MONITOR_OPTION)),
    Command("failover", None, "promote a replica when the primary is down", failover,
            (MONITOR_OPTION,)),
    Command("rejoin", None, "make SERVER replicate from the current primary", rejoin,
            (arg("server", metavar="SERVER"), MONITOR_OPTION)),
    Command("reload", "users", "reload the database users of SERVICE (all services when "
            "omitted)", reload_users, (arg("services", nargs="*", metavar="SERVICE"),)),
    Command("reload", "service", "reload the database users of one service (maxctrl's form)",
            reload_service, (arg("name", metavar="SERVICE"),)),
    Command("reload", "tls", "reload the TLS certificates", reload_tls),
    Command("rotate", "logs", "reopen the log file (after it was moved away)", rotate_logs),
    Command("destroy", "session", "kill a client session", destroy_session,
            (arg("id", metavar="ID"),)),
    Command("create", "user", "create an admin API user", create_user,
            (arg("name", metavar="NAME"), arg("new_password", metavar="PASSWORD"),
             arg("--type", choices=ACCOUNTS, default="basic",
                 help="admin (read-write) or basic (read-only, the default, as maxctrl)"))),
    Command("destroy", "user", "remove an admin API user", destroy_user,
            (arg("name", metavar="NAME"),)),
    Command("api", "get", "GET a REST path; FIELD picks a value (data.attributes.state)",
            api_get, (arg("path", metavar="PATH"), arg("field", nargs="?", metavar="FIELD"))),
    *(Command("api", method.lower(), f"{method} a REST path with an optional JSON body",
              api_write, (arg("path", metavar="PATH"), arg("body", nargs="?", metavar="JSON")),
              defaults={"method": method})
      for method in ("POST", "PUT", "PATCH", "DELETE")),
)
