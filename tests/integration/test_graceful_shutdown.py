"""SIGTERM stops a real proxy process gracefully: the listener stops accepting at once, an idle
client is disconnected at once, a client running a statement gets its whole result, and then
the process exits 0; a statement that outlasts ``shutdown_timeout`` loses its session instead
of holding the proxy up."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import pymysql
import pytest
from tests.conftest import PRIMARY_ONLY, ProxyFactory
from tests.integration.rawclient import RawClient
from tests.integration.rws_helpers import eventually

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE, Overrides
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

ROUTERS: dict[str, Overrides] = {
    "readconnroute": PRIMARY_ONLY,
    "readwritesplit": {SERVICE: {"router": "readwritesplit"}},
}
EXIT_WAIT = 30.0  # seconds the test waits for the process to exit (far above the 10s default)


class Running:
    """A statement run through the proxy in a thread: its rows, or the exception it raised."""

    def __init__(self, connect: Callable[[], Any], sql: str) -> None:
        self.conn = connect()
        self.sql = sql
        self.rows: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql)
                self.rows = cur.fetchall()
        except BaseException as exc:  # reported to the test
            self.error = exc

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join(EXIT_WAIT)
        assert self.done, "the statement never returned"
        self.conn.close()


def _proxy(start_proxy: ProxyFactory, router: str, **global_: str) -> ProxyHandle:
    overrides: dict[str, Any] = dict(ROUTERS[router])
    if global_:
        overrides["maxscale"] = global_
    return start_proxy(overrides, tls=False)


def _connector(sandbox: Sandbox, handle: ProxyHandle) -> Callable[[], Any]:
    params = sandbox.proxy_params(port=handle.port).with_(host=handle.host)
    return lambda: pymysql.connect(**params.pymysql_kwargs(), autocommit=True)


def _idle_client(sandbox: Sandbox, handle: ProxyHandle) -> RawClient:
    params = sandbox.proxy_params(port=handle.port)
    client = RawClient.connect(handle.host, handle.port, params.user, params.password,
                               params.database)
    assert client.query("SELECT 1")  # a statement answered: the session is idle now
    return client


def _closed_by_peer(client: RawClient) -> bool:
    """Blocks until the proxy sends something or closes; True when it closed (EOF)."""
    client.sock.settimeout(EXIT_WAIT)
    try:
        return client.sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _running_on_a_server(sandbox: Sandbox, marker: str) -> bool:
    return any(sandbox.sql(server, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST "
                                   f"WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE "
                                   "'%PROCESSLIST%'")[0]["n"] != "0"
               for server in sandbox.servers)


def _refused(handle: ProxyHandle) -> bool:
    try:
        socket.create_connection((handle.host, handle.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_sigterm_lets_the_running_statement_finish(sandbox: Sandbox, start_proxy: ProxyFactory,
                                                  router: str) -> None:
    handle = _proxy(start_proxy, router)
    idle = _idle_client(sandbox, handle)
    busy = Running(_connector(sandbox, handle), "SELECT SLEEP(3) AS shutdown_marker")
    assert eventually(lambda: _running_on_a_server(sandbox, "shutdown_marker"), timeout=10)

    handle.process.send_signal(signal.SIGTERM)

    # the idle client is disconnected, and new connections are refused, while the statement
    # still runs (the process is alive, draining)
    assert _closed_by_peer(idle)
    assert eventually(lambda: _refused(handle), timeout=10)
    assert not busy.done, "the idle session and the listener were closed only after the wait"
    assert handle.running()

    busy.join()
    assert busy.error is None, f"the running statement failed: {busy.error!r}"
    assert busy.rows == ((0,),)
    assert handle.process.wait(EXIT_WAIT) == 0
    log = handle.log_text()
    assert "Waiting up to 10s for 1 running statement(s)" in log
    assert "Interlock stopped" in log
    assert "did not finish in time" not in log
    idle.sock.close()


def test_a_statement_longer_than_shutdown_timeout_loses_its_session(
        sandbox: Sandbox, start_proxy: ProxyFactory) -> None:
    handle = _proxy(start_proxy, "readconnroute", shutdown_timeout="1s")
    busy = Running(_connector(sandbox, handle), "SELECT SLEEP(30) AS too_long_marker")
    assert eventually(lambda: _running_on_a_server(sandbox, "too_long_marker"), timeout=10)

    handle.process.send_signal(signal.SIGTERM)

    assert handle.process.wait(EXIT_WAIT) == 0
    busy.join()
    assert isinstance(busy.error, pymysql.err.OperationalError), busy.error
    assert busy.error.args[0] in (2013, 2006), busy.error  # lost connection to the server
    assert "Closing 1 session(s) whose statement did not finish in time" in handle.log_text()
