"""causal_reads through a readwritesplit proxy: many sessions insert a row and read it back at
once while the replicas' SQL threads are stopped and started again and again.  With
``causal_reads=local`` no read misses its own write (and some reads still ran on replicas);
with ``none`` some do, which shows the test can fail.  Both ways the GTID is learned: from the
OK packets' session state (a client that negotiated session tracking: MariaDB Connector) and
by reading ``@@last_gtid`` (PyMySQL does not negotiate it).

The proxies use static roles (no monitor section): a monitor stops calling a replica whose SQL
thread it finds stopped a replica, so with the SQL threads stopped most of the time reads would
go to the primary for that reason and the test would depend on when the monitor ticks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import _stop_proxy
from tests.integration.rws_helpers import PRIMARY_ID, connect, start_rws

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

SESSIONS = 6
ROUNDS = 25


@pytest.fixture(scope="module")
def table(sandbox: Sandbox) -> str:
    sandbox.sql(sandbox.primary, "CREATE TABLE IF NOT EXISTS app.causal (id INT PRIMARY KEY,"
                " session INT)")
    sandbox.sql(sandbox.primary, "DELETE FROM app.causal")
    return "causal"


class Stutter:
    """Stops and restarts the replicas' SQL threads until stopped (replicas fall behind)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.done.is_set():
            for replica in self.sandbox.replicas:
                self.sandbox.sql(replica, "STOP SLAVE SQL_THREAD")
            time.sleep(0.4)
            for replica in self.sandbox.replicas:
                self.sandbox.sql(replica, "START SLAVE SQL_THREAD")
            time.sleep(0.1)

    def __enter__(self) -> Stutter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        for replica in self.sandbox.replicas:
            self.sandbox.sql(replica, "START SLAVE SQL_THREAD")


def _connect(driver: str, sandbox: Sandbox, proxy: ProxyHandle) -> Any:
    if driver == "pymysql":
        return connect(sandbox, proxy)
    import mariadb  # type: ignore[import-not-found]

    params = sandbox.proxy_params(port=proxy.port).with_(host=proxy.host)
    conn = mariadb.connect(host=params.host, port=params.port, user=params.user,
                           password=params.password, database=params.database)
    conn.autocommit = True
    return conn


def _run(driver: str, sandbox: Sandbox, proxy: ProxyHandle, base: int) -> tuple[int, int]:
    """(misses, reads that ran on a replica) over every session and round."""
    misses = on_replica = 0
    lock = threading.Lock()
    errors: list[BaseException] = []

    def session(n: int) -> None:
        nonlocal misses, on_replica
        conn = _connect(driver, sandbox, proxy)
        try:
            cur = conn.cursor()
            for i in range(ROUNDS):
                key = base + n * 1000 + i
                cur.execute(f"INSERT INTO causal VALUES ({key}, {n})")
                cur.execute(f"SELECT @@server_id, COUNT(*) FROM causal WHERE id = {key}")
                server, found = cur.fetchone()
                with lock:
                    misses += found == 0
                    on_replica += int(server) != PRIMARY_ID
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
    with Stutter(sandbox):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    return misses, on_replica


@pytest.fixture(scope="module")
def causal_proxy(sandbox: Sandbox, table: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    handle = start_rws(sandbox, tmp_path_factory.mktemp("causal"), monitor=False,
                       causal_reads="local", causal_reads_timeout="2s")
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@pytest.mark.parametrize(("driver", "base"), [("pymysql", 100_000), ("mariadb", 200_000)])
def test_local_causal_reads_never_miss(sandbox: Sandbox, causal_proxy: ProxyHandle,
                                       driver: str, base: int) -> None:
    misses, on_replica = _run(driver, sandbox, causal_proxy, base)
    assert misses == 0
    assert on_replica > 0, "every read went to the primary: the test proves nothing"


def test_without_causal_reads_some_reads_miss(sandbox: Sandbox, table: str,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    handle = start_rws(sandbox, tmp_path_factory.mktemp("nocausal"), monitor=False)
    try:
        misses, on_replica = _run("pymysql", sandbox, handle, 300_000)
    finally:
        _stop_proxy(handle)
    assert on_replica > 0
    assert misses > 0, "no read missed: the consistency test could not fail"


def test_the_wait_result_is_never_seen(sandbox: Sandbox, causal_proxy: ProxyHandle) -> None:
    """After a write, a read is a single result set, as without the proxy."""
    conn = connect(sandbox, causal_proxy)
    try:
        with conn.cursor() as cur:
            cur.execute("REPLACE INTO causal VALUES (1, 0)")
            cur.execute("SELECT id FROM causal WHERE id = 1")
            assert cur.fetchall() == ((1,),)
            assert not cur.nextset()
            cur.execute("SELECT 'next'")
            assert cur.fetchall() == (("next",),)
    finally:
        conn.close()
