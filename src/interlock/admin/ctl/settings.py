"""Where the admin API is and who ``interlock ctl`` is there.

- **Hosts**: ``-h host:port[,host:port...]``; else, with ``-c FILE``, the proxy's
  ``[maxscale]`` ``admin_host``/``admin_port`` (a wildcard address becomes 127.0.0.1); else
  127.0.0.1:8989.
- **HTTPS**: ``--secure``, an ``https://`` host, or (with ``-c``) an ``admin_ssl_cert`` in the
  config; the CA is ``--tls-ca-cert``, else the config's ``admin_ssl_ca``, else the system's.
- **Credentials**: ``-u``/``-p``; without them ``admin:<password>`` from
  ``<datadir>/admin-password`` (the password generated at the proxy's first start), where the
  data directory is ``--datadir``, else the config's ``datadir``, else ``/var/lib/interlock``.
  ``-u`` alone takes the password from that file when the user matches.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from interlock.admin.auth import DEFAULT_ADMIN, DEFAULT_DATADIR, PASSWORD_FILE, read_password_file
from interlock.admin.ctl.client import Client, CtlError, Endpoint, Exit, Tls, parse_endpoint
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import parse_ini

DEFAULT_HOST = "127.0.0.1:8989"
GLOBAL_SECTION = "maxscale"
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
CONFIG_KEYS = ("admin_host", "admin_port", "admin_ssl_cert", "admin_ssl_ca", "datadir")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The ``[maxscale]`` settings ``ctl`` needs from a proxy's config file."""

    admin_host: str | None = None
    admin_port: int | None = None
    admin_ssl_cert: str | None = None
    admin_ssl_ca: str | None = None
    datadir: str | None = None


def read_config(path: str) -> ProxyConfig:
    """The admin settings of a config file (paths resolved at the file's directory, as the
    loader does).  Only ``[maxscale]`` is read: the file need not be valid otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise CtlError(Exit.USAGE, f"-c {path}: {exc.strerror or exc}") from exc
    base = os.path.dirname(os.path.abspath(path))
    found: dict[str, str] = {}
    for section in parse_ini(text, Diagnostics(path)):
        if section.name.lower() != GLOBAL_SECTION:
            continue
        for key in CONFIG_KEYS:
            entry = section.get(key)
            if entry is not None and entry.value:
                found[key] = entry.value
    for key in ("admin_ssl_cert", "admin_ssl_ca", "datadir"):
        if key in found:
            found[key] = os.path.normpath(os.path.join(base, found[key]))
    port = found.get("admin_port")
    if port is not None and not port.isdigit():
        raise CtlError(Exit.USAGE, f"-c {path}: admin_port={port!r} is not a port number")
    return ProxyConfig(found.get("admin_host"), int(port) if port else None,
                       found.get("admin_ssl_cert"), found.get("admin_ssl_ca"),
                       found.get("datadir"))


def endpoints(args: argparse.Namespace, config: ProxyConfig) -> list[Endpoint]:
    secure = bool(args.secure or config.admin_ssl_cert)
    if args.hosts:
        return [parse_endpoint(h, secure) for h in args.hosts.split(",") if h.strip()]
    if config.admin_host is not None or config.admin_port is not None:
        host = config.admin_host or "127.0.0.1"
        host = "127.0.0.1" if host in WILDCARDS else host
        return [Endpoint(host, config.admin_port or 8989, secure)]
    return [parse_endpoint(DEFAULT_HOST, secure)]


def datadir(args: argparse.Namespace, config: ProxyConfig) -> Path:
    return Path(args.datadir or config.datadir or DEFAULT_DATADIR)


def credentials(args: argparse.Namespace, config: ProxyConfig) -> tuple[str, str] | None:
    if args.user and args.password is not None:
        return args.user, args.password
    generated = read_password_file(datadir(args, config))
    if args.password is not None:
        return args.user or DEFAULT_ADMIN, args.password
    if generated is None:
        return None
    if args.user and args.user != generated[0]:
        raise CtlError(Exit.USAGE, f"-u {args.user}: give its password with -p (the generated "
                                   f"password file is for '{generated[0]}')")
    return generated


def tls(args: argparse.Namespace, config: ProxyConfig) -> Tls:
    return Tls(verify=args.tls_verify_server_cert,
               ca_file=args.tls_ca_cert or config.admin_ssl_ca,
               cert=args.tls_cert, key=args.tls_key)


def clients(args: argparse.Namespace) -> list[Client]:
    """One client per host, from the command line (and ``-c``)."""
    config = read_config(args.config) if args.config else ProxyConfig()
    who = credentials(args, config)
    hint = (f"no -u/-p and no readable {datadir(args, config) / PASSWORD_FILE}; "
            "use -u/-p, -c FILE or --datadir")
    timeout = args.timeout / 1000.0 if args.timeout is not None else None
    return [Client(endpoint, who, tls(args, config), timeout, hint)
            for endpoint in endpoints(args, config)]
