"""The Interlock config (maxscale.cnf shape) for a sandbox, and variants of it for tests.

``sections(sandbox)`` gives the config as data; ``render(...)`` applies overrides and writes the
INI text.  An override maps a section to ``{key: value}`` (``None`` as a value drops the key) or
to ``None`` (drops the section); unknown sections are added, so a test can write
``render(sb, listener_port=p, tls=False, overrides={"server1": {"port": "1"}})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_block

if TYPE_CHECKING:
    from interlock.sandbox.cluster import Sandbox

Sections = dict[str, dict[str, str]]
Overrides = Mapping[str, Mapping[str, str | None] | None]

MONITOR = "Replication-Monitor"
SERVICE = "Read-Write-Service"
LISTENER = "Read-Write-Listener"


def sections(sb: Sandbox, listener_port: int | None = None, tls: bool = True,
             admin_port: int | None = None) -> Sections:
    """The sandbox's config; the admin API on ``admin_port`` (None: a free port picked now)
    with its state (admin users, generated password) in ``<sandbox>/interlock`` and its
    runtime changes in ``<sandbox>/interlock/persist-<listener port>``."""
    port = listener_port if listener_port is not None else sb.spec.proxy_port
    names = ",".join(server.name for server in sb.servers)
    monitor, service = sb.spec.account(Role.MONITOR), sb.spec.account(Role.SERVICE)
    repl = sb.spec.account(Role.REPLICATION)
    config: Sections = {"maxscale": {
        "threads": "auto",
        "admin_host": sb.spec.host,
        "admin_port": str(admin_port if admin_port is not None else find_free_block(1)),
        "datadir": str(state_dir(sb)),
        # runtime changes are per proxy: one proxy's changes must not appear in the next
        "persistdir": str(state_dir(sb) / f"persist-{port}"),
    }}
    for server in sb.servers:
        config[server.name] = {
            "type": "server",
            "address": server.host,
            "port": str(server.port),
            "protocol": "MariaDBBackend",
        }
    config[MONITOR] = {
        "type": "monitor",
        "module": "mariadbmon",
        "servers": names,
        "user": monitor.user,
        "password": monitor.password,
        "monitor_interval": "2s",
        "replication_user": repl.user,
        "replication_password": repl.password,
    }
    config[SERVICE] = {
        "type": "service",
        "router": "readwritesplit",
        "servers": names,
        "user": service.user,
        "password": service.password,
    }
    config[LISTENER] = {
        "type": "listener",
        "service": SERVICE,
        "protocol": "MariaDBClient",
        "address": sb.spec.host,
        "port": str(port),
    }
    if tls:
        config[LISTENER].update(
            ssl="true", ssl_cert=str(sb.tls_cert), ssl_key=str(sb.tls_key), ssl_ca=str(sb.tls_ca)
        )
    return config


def state_dir(sb: Sandbox) -> Path:
    """Where the sandbox's proxies keep their state (``datadir``)."""
    return sb.dir / "interlock"


def apply_overrides(config: Sections, overrides: Overrides) -> Sections:
    result = {name: dict(keys) for name, keys in config.items()}
    for name, keys in overrides.items():
        if keys is None:
            result.pop(name, None)
            continue
        section = result.setdefault(name, {})
        for key, value in keys.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
    return result


def to_text(config: Sections) -> str:
    blocks = []
    for name, keys in config.items():
        body = "".join(f"{key}={value}\n" for key, value in keys.items())
        blocks.append(f"[{name}]\n{body}")
    return "\n".join(blocks)


def render(
    sb: Sandbox,
    listener_port: int | None = None,
    tls: bool = True,
    overrides: Overrides | None = None,
    admin_port: int | None = None,
) -> str:
    return to_text(apply_overrides(sections(sb, listener_port, tls, admin_port),
                                   overrides or {}))
