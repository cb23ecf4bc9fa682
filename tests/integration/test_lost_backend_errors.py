"""What real clients show when the proxy loses its backend or cannot reach one.

The proxy answers with its own ERR packet naming the server (``server/errors.py``).  Its code
must be one a *server* sends: libmariadb (the ``mariadb`` CLI, mysqlclient, MariaDB
Connector/C and Connector/Python) rejects an ERR packet with a client-side CR_* code (2003,
2013, ...) and reports "2027 Received malformed packet" instead, losing the proxy's text.  With
the codes issue 2 first used (2003 "Can't connect ...", 2013 "Lost connection ...") every
libmariadb case below fails that way, while PyMySQL showed them faithfully.

Each case kills the backend for real: ``KILL CONNECTION`` of the session's backend thread on
the primary (while the session is idle, and during a statement), and a SIGKILL of the server
process itself.  Checked: the code (1927, ER_CONNECTION_KILLED), the SQLSTATE where the client
exposes it (08S01, communication link failure), and the proxy's message, word for word.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import MySQLdb
import pymysql
import pytest
from tests.conftest import PRIMARY_ONLY, ProxyFactory, _stop_proxy, launch_proxy

from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

CODE = 1927  # ER_CONNECTION_KILLED
SQLSTATE = "08S01"

Connect = Callable[[ConnParams], Any]


def _pymysql(params: ConnParams) -> Any:
    return pymysql.connect(**params.pymysql_kwargs(), connect_timeout=10)


def _mysqlclient(params: ConnParams) -> Any:  # libmariadb underneath
    return MySQLdb.connect(host=params.host, port=params.port, user=params.user,
                           password=params.password, database=params.database or "",
                           connect_timeout=10)


CLIENTS: dict[str, Connect] = {"pymysql": _pymysql, "mysqlclient": _mysqlclient}
CLIENT_ERRORS = (pymysql.MySQLError, MySQLdb.MySQLError)


def _query(conn: Any, sql: str) -> Any:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return cur.fetchall()
    finally:
        cur.close()


def _error_of(action: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(CLIENT_ERRORS) as info:
        action()
    code, message = info.value.args[0], info.value.args[1]
    return code, message


def _lost(sandbox: Sandbox, server: str = "server1") -> str:
    spec = sandbox.server(server)
    return f"Lost connection to backend server '{server}' (127.0.0.1:{spec.port})"


@pytest.fixture(scope="module")
def primary_proxy(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ProxyHandle]:
    """readconnroute to the primary, no TLS (mysqlclient would otherwise try it)."""
    text = sandbox.render_config(listener_port=find_free_port(), tls=False,
                                 overrides=PRIMARY_ONLY)
    handle = launch_proxy(tmp_path_factory.mktemp("lost_backend"), text)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


def _params(sandbox: Sandbox, handle: ProxyHandle) -> ConnParams:
    return sandbox.proxy_params(port=handle.port).with_(host=handle.host)


def _kill_backend_thread(sandbox: Sandbox, thread: int) -> None:
    sandbox.sql(sandbox.primary.name, f"KILL CONNECTION {thread}")


def _wait_running(sandbox: Sandbox, thread: int, marker: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = sandbox.sql(sandbox.primary.name,
                           "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST"
                           f" WHERE ID = {thread} AND INFO LIKE '%{marker}%'")
        if rows and rows[0]["n"] != "0":
            return
        time.sleep(0.05)
    pytest.fail(f"the statement {marker} never ran on thread {thread}")


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_backend_killed_while_idle(sandbox: Sandbox, primary_proxy: ProxyHandle,
                                   client: str) -> None:
    conn = CLIENTS[client](_params(sandbox, primary_proxy))
    try:
        thread = _query(conn, "SELECT CONNECTION_ID()")[0][0]
        _kill_backend_thread(sandbox, thread)
        time.sleep(0.3)  # the proxy sees the close and answers the next command with its ERR
        code, message = _error_of(lambda: _query(conn, "SELECT 1"))
    finally:
        conn.close()
    assert (code, message) == (CODE, _lost(sandbox))


def _kill_while_running(sandbox: Sandbox, conn: Any, marker: str,
                        run: Callable[[], None]) -> None:
    """Start ``run`` (a statement tagged ``marker``) in a thread, kill the session's backend
    thread on the server once the statement runs there, wait for ``run`` to end, close."""
    try:
        thread = _query(conn, "SELECT CONNECTION_ID()")[0][0]
        runner = threading.Thread(target=run)
        runner.start()
        _wait_running(sandbox, thread, marker)
        _kill_backend_thread(sandbox, thread)
        runner.join(20)
        assert not runner.is_alive()
    finally:
        conn.close()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_backend_killed_during_a_query(sandbox: Sandbox, primary_proxy: ProxyHandle,
                                       client: str) -> None:
    conn = CLIENTS[client](_params(sandbox, primary_proxy))
    marker = f"lost_mid_{client}"
    outcome: dict[str, tuple[int, str]] = {}

    def run() -> None:
        outcome["error"] = _error_of(lambda: _query(conn, f"SELECT SLEEP(30) AS {marker}"))

    _kill_while_running(sandbox, conn, marker, run)
    assert outcome["error"] == (CODE, _lost(sandbox))


def test_prepared_execute_with_libmariadb(sandbox: Sandbox, primary_proxy: ProxyHandle) -> None:
    """COM_STMT_EXECUTE through MariaDB Connector/Python (libmariadb's mysql_stmt_execute):
    the case issue 6 measured first ("2027 malformed packet" for a 20xx code)."""
    mariadb = pytest.importorskip("mariadb")
    p = _params(sandbox, primary_proxy)
    conn = mariadb.connect(host=p.host, port=p.port, user=p.user, password=p.password,
                           database=p.database)
    marker = "lost_mid_execute"
    outcome: dict[str, Any] = {}

    def run() -> None:
        cur = conn.cursor(binary=True)  # COM_STMT_PREPARE + COM_STMT_EXECUTE
        try:
            cur.execute(f"SELECT SLEEP(?) AS {marker}", (30,))
            cur.fetchall()
        except mariadb.Error as exc:
            outcome["error"] = exc

    _kill_while_running(sandbox, conn, marker, run)
    error = outcome["error"]
    assert (error.errno, error.sqlstate, error.msg) == (CODE, SQLSTATE, _lost(sandbox))


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_unreachable_backend_at_login(sandbox: Sandbox, start_proxy: ProxyFactory,
                                      free_port: Callable[[], int], client: str) -> None:
    dead = free_port()
    handle = start_proxy({"server1": {"port": str(dead)},
                          SERVICE: {"router": "readconnroute", "router_options": "master",
                                    "backend_connect_timeout": "1s"}}, tls=False)
    code, message = _error_of(lambda: CLIENTS[client](_params(sandbox, handle)))
    assert code == CODE
    assert message == f"Can't connect to server 'server1' at 127.0.0.1:{dead}: Connection refused"


def test_server_process_killed(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    """SIGKILL of the mariadbd a readconnroute session is on: both clients (one idle, one in a
    statement) get the proxy's ERR naming the server."""
    sb = fresh_sandbox(replicas=1)
    text = sb.render_config(listener_port=find_free_port(), tls=False,
                            overrides={SERVICE: {"router": "readconnroute",
                                                 "router_options": "slave"}})
    handle = launch_proxy(tmp_path, text)
    conns = {name: connect(_params(sb, handle)) for name, connect in CLIENTS.items()}
    outcome: dict[str, tuple[int, str]] = {}
    try:
        for conn in conns.values():
            assert _query(conn, "SELECT @@port")[0][0] == sb.replicas[0].port
        busy = conns["mysqlclient"]
        thread = _query(busy, "SELECT CONNECTION_ID()")[0][0]

        def run() -> None:
            outcome["busy mysqlclient"] = _error_of(
                lambda: _query(busy, "SELECT SLEEP(30) AS lost_by_sigkill"))

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not sb.sql(
                "server2", f"SELECT ID FROM information_schema.PROCESSLIST WHERE ID = {thread}"
                           " AND INFO LIKE '%lost_by_sigkill%'"):
            time.sleep(0.05)
        sb.kill("server2")
        runner.join(20)
        assert not runner.is_alive()
        time.sleep(0.3)
        outcome["idle pymysql"] = _error_of(lambda: _query(conns["pymysql"], "SELECT 1"))
    finally:
        for conn in conns.values():
            conn.close()
        _stop_proxy(handle)
    expected = (CODE, _lost(sb, "server2"))
    assert outcome == {"busy mysqlclient": expected, "idle pymysql": expected}
