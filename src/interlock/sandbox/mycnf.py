"""The my.cnf of each sandbox server (read with ``--defaults-file``, so nothing global leaks in)."""

from __future__ import annotations

import os

from interlock.sandbox.model import SandboxServer, SandboxSpec
from interlock.sandbox.tls import TlsFiles

#: Settings every sandbox server shares: replication-ready, fast, small, permissive for tests.
COMMON_SETTINGS: dict[str, str] = {
    "log_bin": "mariadb-bin",
    "relay_log": "relay-bin",
    "log_slave_updates": "1",
    "gtid_strict_mode": "1",
    "binlog_format": "ROW",
    "max_connections": "1000",
    "max_allowed_packet": "64M",
    "innodb_buffer_pool_size": "64M",
    "innodb_log_file_size": "16M",
    "innodb_flush_log_at_trx_commit": "2",
    "innodb_use_native_aio": "0",
    "sync_binlog": "0",
    "skip_name_resolve": "1",
    "local_infile": "1",
    "performance_schema": "OFF",
    "character_set_server": "utf8mb4",
    "collation_server": "utf8mb4_general_ci",
}


def server_settings(spec: SandboxSpec, server: SandboxServer, tls: TlsFiles) -> dict[str, str]:
    settings = {
        "datadir": str(server.datadir),
        "port": str(server.port),
        "bind_address": spec.host,
        "socket": str(server.socket),
        "pid_file": str(server.pid_file),
        "log_error": str(server.error_log),
        "tmpdir": str(server.tmpdir),
        "server_id": str(server.server_id),
        **COMMON_SETTINGS,
        "ssl_cert": str(tls.cert),
        "ssl_key": str(tls.key),
        "ssl_ca": str(tls.ca),
    }
    if os.geteuid() == 0:
        settings["user"] = "root"
    if not server.is_primary:
        settings["read_only"] = "1"
    if spec.semi_sync:  # not both on a replica: its SQL thread would wait for acks itself
        # every server acknowledges when it replicates (the primary too, once it is demoted),
        # and starts in the replica role: after a crash, binlog recovery then truncates the
        # transactions that were prepared but never acknowledged instead of committing them
        # (MDEV-21117), so a killed primary can rejoin without diverging
        settings["rpl_semi_sync_slave_enabled"] = "1"
        settings["init_rpl_role"] = "SLAVE"
        if server.is_primary:
            settings["rpl_semi_sync_master_enabled"] = "1"
            # the binlog is synced and acknowledged before the engine commits: a client never
            # sees a commit no replica has
            settings["rpl_semi_sync_master_wait_point"] = "AFTER_SYNC"
    return settings


def render(spec: SandboxSpec, server: SandboxServer, tls: TlsFiles) -> str:
    lines = [f"# {server.name} of the Interlock sandbox in {spec.directory}", "[mariadbd]"]
    lines += [f"{key}={value}" for key, value in server_settings(spec, server, tls).items()]
    return "\n".join(lines) + "\n"
