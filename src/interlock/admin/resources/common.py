"""Helpers the resource modules share: times as ISO 8601, configuration objects as MaxScale's
``parameters`` (passwords masked), the raw query string of a module command."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from interlock.admin.jsonapi import JsonObject
from interlock.config.model import TlsConfig
from interlock.monitor.observations import ServerObservation

#: what a password parameter shows (MaxScale shows ``*****`` too)
MASK = "*****"
SECRET_KEYS = frozenset({"password", "replication_password"})
#: a TlsConfig's fields under the parameter names of maxscale.cnf
TLS_NAMES = {"enabled": "ssl", "cert": "ssl_cert", "key": "ssl_key", "ca": "ssl_ca",
             "verify_peer_certificate": "ssl_verify_peer_certificate"}


def iso(at: float) -> str:
    """Wall-clock seconds as ISO 8601 in UTC, e.g. ``2024-10-21T09:30:00.123+00:00``."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def json_value(value: Any) -> Any:
    """A configuration value as JSON: tuples become lists, other values stay."""
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return value


def tls_parameters(tls: TlsConfig) -> dict[str, Any]:
    return {TLS_NAMES[f.name]: getattr(tls, f.name) for f in dataclasses.fields(tls)}


def parameters(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a config dataclass as ``parameters``: nested dataclasses are flattened
    (a TlsConfig as ``ssl*``), ``params`` (raw keys Interlock accepts and ignores) are added
    as strings, passwords are masked."""
    skipped = set(skip)
    found: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name in skipped:
            continue
        value = getattr(obj, f.name)
        if isinstance(value, TlsConfig):
            found.update(tls_parameters(value))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            found.update(parameters(value, skipped))
        elif f.name == "params":
            found.update({key: raw for key, raw in value})
        elif f.name in SECRET_KEYS:
            found[f.name] = MASK if value else value
        else:
            found[f.name] = json_value(value)
    return found


def positional_query(request: web.Request) -> tuple[list[str], dict[str, str]]:
    """A module command's arguments: MaxScale passes them in the query string without names
    (``?Monitor&server2&server1``); 24.08 also accepts ``key=value``.  Returns the positional
    arguments in order and the named ones."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in request.query_string.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if sep:
            named[unquote_plus(key)] = unquote_plus(value)
        else:
            positional.append(unquote_plus(part))
    return positional, named


def slave_connections(obs: ServerObservation | None) -> list[JsonObject]:
    if obs is None:
        return []
    return [{
        "connection_name": s.connection_name,
        "master_host": s.master_host,
        "master_port": s.master_port,
        "slave_io_running": s.io_state.name.lower(),
        "slave_sql_running": s.sql_running,
        "seconds_behind_master": s.seconds_behind_master,
        "gtid_io_pos": str(s.gtid_io_pos),
        "last_io_error": s.last_io_error,
        "last_sql_error": s.last_sql_error,
        "master_server_id": s.master_server_id,
    } for s in obs.slaves]
