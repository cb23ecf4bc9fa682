"""SQL text the plans send: quoting, replication statements, SQL files (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from interlock.monitor.settings import MonitorSettings

#: MariaDB >= 10.10 has CHANGE MASTER ... MASTER_DEMOTE_TO_SLAVE=1 (merges the server's own
#: binlog position into gtid_slave_pos, so an old primary keeps what it wrote)
DEMOTE_TO_SLAVE_VERSION = (10, 10)


def quote(text: str) -> str:
    """A SQL string literal (backslash and quote escaped: safe for any text)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return f"'{escaped}'"


def _conn(name: str) -> str:
    return f" {quote(name)}" if name else ""


def stop_slave(connection: str) -> str:
    return f"STOP SLAVE{_conn(connection)}"


def start_slave(connection: str) -> str:
    return f"START SLAVE{_conn(connection)}"


def reset_slave_all(connection: str) -> str:
    return f"RESET SLAVE{_conn(connection)} ALL"


def set_read_only(on: bool) -> str:
    return f"SET GLOBAL read_only={1 if on else 0}"


@dataclass(frozen=True, slots=True)
class ReplicationSource:
    """Where a CHANGE MASTER points: ``host:port`` of a server."""

    host: str
    port: int


class GtidMode:
    SLAVE_POS = "MASTER_USE_GTID=slave_pos"
    CURRENT_POS = "MASTER_USE_GTID=current_pos"
    DEMOTE = "MASTER_DEMOTE_TO_SLAVE=1"


def heartbeat_period(settings: MonitorSettings) -> float:
    """A heartbeat period short enough for verify_master_failure to tell an idle primary from a
    lost one: a quarter of master_failure_timeout, between 0.5 s and 30 s."""
    return min(max(settings.master_failure_timeout / 4, 0.5), 30.0)


def change_master(connection: str, source: ReplicationSource, settings: MonitorSettings,
                  gtid_mode: str = GtidMode.SLAVE_POS) -> str:
    """``CHANGE MASTER ['conn'] TO ...``; without ``replication_user`` the connection keeps the
    credentials it has."""
    parts = [f"MASTER_HOST={quote(source.host)}", f"MASTER_PORT={source.port}"]
    if settings.replication_user is not None:
        parts.append(f"MASTER_USER={quote(settings.replication_user)}")
        parts.append(f"MASTER_PASSWORD={quote(settings.replication_password or '')}")
    if settings.replication_master_ssl:
        parts.append("MASTER_SSL=1")
    parts.append(gtid_mode)
    parts.append(f"MASTER_HEARTBEAT_PERIOD={heartbeat_period(settings):g}")
    return f"CHANGE MASTER{_conn(connection)} TO {', '.join(parts)}"


_PASSWORD = re.compile(r"(MASTER_PASSWORD=)'(?:[^'\\]|\\.)*'", re.IGNORECASE)


def redact(sql: str) -> str:
    """``sql`` for logs and descriptions: passwords replaced by ``'***'``."""
    return _PASSWORD.sub(r"\1'***'", sql)


def parse_sql_file(text: str) -> tuple[str, ...]:
    """``promotion_sql_file``/``demotion_sql_file`` content as MaxScale reads it: one statement
    per line; blank lines and lines starting with ``#`` are skipped."""
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))
