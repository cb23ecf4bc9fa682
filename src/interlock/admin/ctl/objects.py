"""``create``, ``alter``, ``destroy``, ``link`` and ``unlink`` of servers, services,
monitors and listeners, as maxctrl sends them to MaxScale's REST API:

- create: ``POST /v1/servers`` with ``{"data": {"id", "type", "attributes": {"parameters":
  {...}}, "relationships": {...}}}`` (services and monitors also carry ``router`` /
  ``module``);
- alter: ``PATCH /v1/servers/NAME`` with ``attributes.parameters``;
- destroy: ``DELETE /v1/servers/NAME`` (``?force=yes`` unlinks it first); a listener:
  ``DELETE /v1/services/SERVICE/listeners/NAME`` (maxctrl's ``destroy listener SERVICE NAME``);
- link/unlink: read the relationship, then ``PATCH /v1/services/NAME/relationships/servers``
  with the whole new list.

Parameters are given as ``key=value`` (or ``key value`` pairs for ``alter``, maxctrl's older
form) and sent as strings, which the API parses as the configuration file would.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from interlock.admin.ctl.actions import done
from interlock.admin.ctl.base import Command, Handler, Result, arg, segment
from interlock.admin.ctl.client import Client, CtlError, Exit

KINDS = {"server": "servers", "service": "services", "monitor": "monitors",
         "listener": "listeners"}


def key_values(items: Sequence[str], pairs: bool = False) -> dict[str, str]:
    """``["a=1", "b=2"]`` as a dict; with ``pairs`` an item without ``=`` takes the next item
    as its value (maxctrl's older ``alter server S port 3307`` form), so both forms mix."""
    found: dict[str, str] = {}
    rest = list(items)
    while rest:
        item = rest.pop(0)
        key, sep, value = item.partition("=")
        if not sep and pairs:
            if not rest:
                raise CtlError(Exit.USAGE, f"parameter {item!r} has no value")
            key, value = item, rest.pop(0)
        elif not sep:
            raise CtlError(Exit.USAGE, f"parameter {item!r}: expected KEY=VALUE")
        if not key.strip():
            raise CtlError(Exit.USAGE, f"parameter {item!r}: the name is empty")
        found[key.strip()] = value.strip()
    return found


def links(kind: str, names: Sequence[str] | None) -> dict[str, Any]:
    return {"data": [{"id": name, "type": kind} for name in names or ()]}


def resource(kind: str, name: str, attributes: dict[str, Any],
             relationships: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": name, "type": kind, "attributes": attributes}
    if relationships:
        data["relationships"] = relationships
    return {"data": data}


# -- create ---------------------------------------------------------------------------------


def create_server(client: Client, args: argparse.Namespace) -> Result:
    rest = list(args.params)
    parameters: dict[str, Any] = {}
    if args.host.startswith("/"):
        parameters["socket"] = args.host
    else:
        parameters["address"] = args.host
        if rest and rest[0].isdigit():
            parameters["port"] = int(rest.pop(0))
    if args.protocol:
        parameters["protocol"] = args.protocol
    parameters.update(key_values(rest))
    relationships = {kind: links(kind, names) for kind, names in
                     (("services", args.services), ("monitors", args.monitors)) if names}
    body = resource("servers", args.name, {"parameters": parameters}, relationships)
    return done(client.request("POST", "/v1/servers", body=body))


def create_service(client: Client, args: argparse.Namespace) -> Result:
    relationships = {"servers": links("servers", args.servers)} if args.servers else None
    body = resource("services", args.name, {"router": args.router,
                                            "parameters": key_values(args.params)},
                    relationships)
    return done(client.request("POST", "/v1/services", body=body))


def create_monitor(client: Client, args: argparse.Namespace) -> Result:
    parameters = key_values(args.params)
    if args.monitor_user:
        parameters["user"] = args.monitor_user
    if args.monitor_password:
        parameters["password"] = args.monitor_password
    relationships = {"servers": links("servers", args.servers)} if args.servers else None
    body = resource("monitors", args.name, {"module": args.module, "parameters": parameters},
                    relationships)
    return done(client.request("POST", "/v1/monitors", body=body))


def create_listener(client: Client, args: argparse.Namespace) -> Result:
    """maxctrl's ``create listener SERVICE NAME PORT [--interface] [--protocol]``."""
    parameters: dict[str, Any] = {"port": args.port}
    if args.interface:
        parameters["address"] = args.interface
    if args.protocol:
        parameters["protocol"] = args.protocol
    parameters.update(key_values(args.params))
    body = resource("listeners", args.name, {"parameters": parameters},
                    {"services": links("services", [args.service])})
    return done(client.request("POST", "/v1/listeners", body=body))


def destroy_listener(client: Client, args: argparse.Namespace) -> Result:
    return done(client.request(
        "DELETE", f"/v1/services/{segment(args.service)}/listeners/{segment(args.name)}"))


# -- alter, destroy -------------------------------------------------------------------------


def alterer(noun: str) -> Handler:
    kind = KINDS[noun]

    def run(client: Client, args: argparse.Namespace) -> Result:
        body = resource(kind, args.name, {"parameters": key_values(args.params, pairs=True)})
        return done(client.request("PATCH", f"/v1/{kind}/{segment(args.name)}", body=body))
    return run


def destroyer(noun: str) -> Handler:
    kind = KINDS[noun]

    def run(client: Client, args: argparse.Namespace) -> Result:
        query = [("force", "yes")] if args.force else []
        return done(client.request("DELETE", f"/v1/{kind}/{segment(args.name)}", query=query))
    return run


# -- link, unlink ---------------------------------------------------------------------------


def relinker(noun: str, add: bool) -> Handler:
    kind = KINDS[noun]

    def run(client: Client, args: argparse.Namespace) -> Result:
        path = f"/v1/{kind}/{segment(args.name)}"
        data = client.get(path)["data"]
        current = [str(r["id"]) for r in
                   data.get("relationships", {}).get("servers", {}).get("data", [])]
        if add:
            wanted = current + [t for t in args.targets if t not in current]
        else:
            missing = [t for t in args.targets if t not in current]
            if missing:
                raise CtlError(Exit.API, f"{noun} '{args.name}' does not use "
                                         f"{', '.join(missing)}")
            wanted = [t for t in current if t not in args.targets]
        reply = client.request("PATCH", f"{path}/relationships/servers",
                               body=links("servers", wanted))
        return done(reply)
    return run


NAME = arg("name", metavar="NAME")
PARAMS = arg("params", nargs="*", metavar="KEY=VALUE", help="parameters, as in the config file")
SERVERS = arg("--servers", nargs="+", metavar="SERVER", help="servers to link to it")

COMMANDS: tuple[Command, ...] = (
    Command("create", "server", "create a server: NAME HOST [PORT] [KEY=VALUE...]",
            create_server,
            (NAME, arg("host", metavar="HOST", help="address, or a socket path"),
             arg("params", nargs="*", metavar="[PORT] KEY=VALUE",
                 help="the port (default 3306), then parameters"),
             arg("--protocol", metavar="PROTOCOL", help="MariaDBBackend (the default)"),
             arg("--services", nargs="+", metavar="SERVICE", help="link to these services"),
             arg("--monitors", nargs="+", metavar="MONITOR", help="link to these monitors"))),
    Command("create", "service", "create a service: NAME ROUTER [KEY=VALUE...]",
            create_service,
            (NAME, arg("router", metavar="ROUTER", help="readwritesplit or readconnroute"),
             PARAMS, SERVERS)),
    Command("create", "monitor", "create a monitor: NAME MODULE [KEY=VALUE...]",
            create_monitor,
            (NAME, arg("module", metavar="MODULE", help="mariadbmon"), PARAMS, SERVERS,
             arg("--monitor-user", metavar="USER", help="the monitor's database user"),
             arg("--monitor-password", metavar="PASSWORD", help="its password"))),
    Command("create", "listener", "create a listener: SERVICE NAME PORT [KEY=VALUE...]",
            create_listener,
            (arg("service", metavar="SERVICE", help="the service it serves"), NAME,
             arg("port", metavar="PORT", help="the port to listen on"), PARAMS,
             arg("--interface", metavar="ADDRESS", help="the address to listen on (:: when "
                 "not given: every address)"),
             arg("--protocol", metavar="PROTOCOL", help="MariaDBClient (the default)"))),
    Command("destroy", "listener", "remove a listener: SERVICE NAME", destroy_listener,
            (arg("service", metavar="SERVICE", help="the service it serves"), NAME)),
    *(Command("alter", noun, f"change parameters of a {noun}: NAME KEY=VALUE... (or KEY "
              "VALUE...)", alterer(noun),
              (NAME, arg("params", nargs="+", metavar="KEY=VALUE")))
      for noun in KINDS),
    *(Command("destroy", noun, f"remove a {noun}", destroyer(noun),
              (NAME, arg("--force", action="store_true",
                         help="unlink it from everything first")))
      for noun in KINDS if noun != "listener"),
    *(Command(verb, noun, f"{verb} servers {'to' if add else 'from'} a {noun}",
              relinker(noun, add),
              (NAME, arg("targets", nargs="+", metavar="SERVER")))
      for verb, add in (("link", True), ("unlink", False)) for noun in ("service", "monitor")),
)
