"""Sessions that survive (issue 6): a readwritesplit session keeps working when its backend
connections are lost while it idles (KILL, wait_timeout) or a replica dies, with its state
(session variables, default schema, prepared statements) restored, and one log line per
reconnection naming the session, the server and the reason.  Real servers (a fresh sandbox per
test where servers are changed)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.integration.monitor_support import LiveProxy

from interlock.config.loader import parse_config
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.server.app import Proxy

pytestmark = pytest.mark.integration


@contextmanager
def rws_proxy(sb: Sandbox, directory: Path, keepalive: float | None = None,
              **params: str) -> Iterator[LiveProxy]:
    """An in-process readwritesplit proxy with a monitor (``keepalive`` overrides the
    service's connection_keepalive, see the report: the config table still ignores it)."""
    lp = LiveProxy(sb, directory, {"monitor_interval": "500ms"},
                   servers={SERVICE: {"router": "readwritesplit", **params}})
    lp.proxy = Proxy(parse_config(lp.config_path))
    if keepalive is not None:
        for service in lp.proxy.services.values():
            service.keepalive = keepalive
    with lp:
        yield lp


def service_of(lp: LiveProxy) -> Any:
    return next(iter(lp.proxy.services.values()))


def prepare_state(conn: Any) -> Any:
    """Session state a new backend connection must get back; returns a prepared statement
    (pymysql has no binary protocol: a text PREPARE, which is a session command)."""
    with conn.cursor() as cur:
        cur.execute("USE test")
        cur.execute("SET @marker = 42, SESSION sql_mode = 'ANSI_QUOTES'")
        cur.execute("CREATE TABLE IF NOT EXISTS test.survive (id INT PRIMARY KEY, v INT)")
        cur.execute("PREPARE p FROM 'SELECT ? + 1'")
    return conn


def check_state(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE(), @marker, @@session.sql_mode")
        assert cur.fetchone() == ("test", 42, "ANSI_QUOTES")
        cur.execute("SET @a = 5")
        cur.execute("EXECUTE p USING @a")
        assert cur.fetchone()[0] == 6
        cur.execute("INSERT INTO survive VALUES (%s, 1)", (int(time.time() * 1000) % 10**9,))


def primary_thread(sb: Sandbox, user: str = "app") -> list[int]:
    rows = sb.sql(sb.primary.name, "SELECT ID AS id FROM information_schema.PROCESSLIST"
                                   f" WHERE USER = '{user}'")
    return [int(r["id"]) for r in rows]


def reconnect_lines(lp: LiveProxy) -> list[str]:
    return [line for line in lp.log_text().splitlines() if "reconnected to primary" in line]


def test_kill_connection_while_idle(fresh_sandbox: Callable[..., Sandbox],
                                    tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=1)
    with rws_proxy(sb, tmp_path) as lp:
        conn = prepare_state(lp.connect())
        threads = primary_thread(sb)
        assert threads
        for thread in threads:
            sb.sql(sb.primary.name, f"KILL CONNECTION {thread}")
        time.sleep(0.5)
        check_state(conn)
        conn.close()
        lines = reconnect_lines(lp)
    assert len(lines) == 1, lines
    assert re.search(r"Session \d+: reconnected to primary 'server1' \(thread \d+\): lost"
                     r" connection to 'server1'", lines[0]), lines[0]


def test_kill_without_reconnection_fails(fresh_sandbox: Callable[..., Sandbox],
                                         tmp_path: Path) -> None:
    """The same with master_reconnection=false: the client gets the lost connection (shows
    that the test above depends on the reconnection)."""
    import pymysql

    sb = fresh_sandbox(replicas=1)
    with rws_proxy(sb, tmp_path, master_reconnection="false") as lp:
        conn = prepare_state(lp.connect())
        for thread in primary_thread(sb):
            sb.sql(sb.primary.name, f"KILL CONNECTION {thread}")
        time.sleep(0.5)
        with pytest.raises(pymysql.MySQLError) as info:
            check_state(conn)
        assert info.value.args[0] == 1927  # the proxy's "Lost connection to backend server"


@pytest.mark.parametrize("keepalive", [1.0, 0.0], ids=["keepalive", "reconnect"])
def test_backend_wait_timeout(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
                              keepalive: float) -> None:
    sb = fresh_sandbox(replicas=1)
    for server in sb.servers:
        sb.sql(server.name, "SET GLOBAL wait_timeout = 3")
    with rws_proxy(sb, tmp_path, keepalive=keepalive) as lp:
        conn = prepare_state(lp.connect())
        pings_before = int(sb.sql(sb.primary.name,
                                  "SHOW GLOBAL STATUS LIKE 'Com_admin_commands'")[0]["Value"])
        time.sleep(10)
        check_state(conn)
        pings_after = int(sb.sql(sb.primary.name,
                                 "SHOW GLOBAL STATUS LIKE 'Com_admin_commands'")[0]["Value"])
        conn.close()
        lines = reconnect_lines(lp)
        log_text = lp.log_text()
    if keepalive:
        assert pings_after - pings_before >= 5  # a COM_PING a second while idle
        assert lines == []
    else:
        assert len(lines) == 1, lines
        assert "wait_timeout=3s" in log_text  # the start warning with the numbers
        assert "connection_keepalive=0 (off)" in log_text


def test_replica_killed_mid_session(fresh_sandbox: Callable[..., Sandbox],
                                    tmp_path: Path) -> None:
    sb = fresh_sandbox(replicas=2)
    with rws_proxy(sb, tmp_path) as lp:
        conn = lp.connect()
        with conn.cursor() as cur:
            seen = set()
            for _ in range(20):
                cur.execute("SELECT @@server_id")
                seen.add(cur.fetchone()[0])
        assert seen & {2, 3}
        victim = sb.servers[1]
        sb.kill(victim.name)
        time.sleep(0.5)
        with conn.cursor() as cur:
            for _ in range(20):
                cur.execute("SELECT @@server_id")
                assert cur.fetchone()[0] != 2
        conn.close()
