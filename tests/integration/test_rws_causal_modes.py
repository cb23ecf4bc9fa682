"""``causal_reads=global`` and ``causal_reads=fast`` through a readwritesplit proxy.

``global``: a read in session B right after a write in session A (another client connection)
sees A's row although the replicas' SQL threads are stopped: the read waits on the replica for
the service's latest GTID and, when the replica does not get there in ``causal_reads_timeout``,
runs on the primary; when the replica catches up during the wait, the read runs there.  With
``none`` the same read runs on a replica and misses the row (so the test can fail).  These
proxies use static roles (the monitor section removed): a monitor would stop calling a replica
whose SQL thread is stopped a replica at its next tick, and reads would go to the primary for
that reason instead.

``fast``: with the monitor, a read right after the session's write goes to the primary until
the monitor has seen a replica at the write's GTID; then to that replica (the replicas are
slowed with ``MASTER_DELAY``, so they keep their replica role).  With ``none`` the same read
runs on a delayed replica and misses.  Without a monitor there is no GTID position per server:
every read after the session's first write goes to the primary (tested too; documented).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import _stop_proxy
from tests.integration.rws_helpers import (
    PRIMARY_ID,
    connect,
    eventually,
    start_rws,
    wait_replicated,
)

from interlock.sandbox import Sandbox
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

TABLE = "causal_modes"


@pytest.fixture(scope="module", autouse=True)
def table(sandbox: Sandbox) -> str:
    sandbox.sql(sandbox.primary, f"CREATE TABLE IF NOT EXISTS app.{TABLE} (id INT PRIMARY KEY,"
                " session INT)")
    wait_replicated(sandbox)
    return TABLE


@contextmanager
def proxy(sandbox: Sandbox, directory: Path, monitor: bool, **params: str) -> Iterator[ProxyHandle]:
    handle = start_rws(sandbox, directory, monitor, **params)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@contextmanager
def sql_threads_stopped(sandbox: Sandbox) -> Iterator[None]:
    for replica in sandbox.replicas:
        sandbox.sql(replica, "STOP SLAVE SQL_THREAD")
    try:
        yield
    finally:
        start_sql_threads(sandbox)
        wait_replicated(sandbox)


def start_sql_threads(sandbox: Sandbox) -> None:
    for replica in sandbox.replicas:
        sandbox.sql(replica, "START SLAVE SQL_THREAD")


@contextmanager
def replicas_delayed(sandbox: Sandbox, seconds: int) -> Iterator[None]:
    """The replicas apply every event ``seconds`` after the primary wrote it (their threads
    keep running, so the monitor keeps them as replicas)."""
    for replica in sandbox.replicas:
        sandbox.sql(replica, f"STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={seconds}; START SLAVE")
    try:
        yield
    finally:
        for replica in sandbox.replicas:
            sandbox.sql(replica, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE")
        wait_replicated(sandbox)


def driver_connect(driver: str, sandbox: Sandbox, handle: ProxyHandle) -> Any:
    """PyMySQL does not negotiate session tracking (the proxy reads ``@@last_gtid``); MariaDB
    Connector/Python does (the GTID comes in the OK packet)."""
    if driver == "pymysql":
        return connect(sandbox, handle)
    import mariadb  # type: ignore[import-not-found]

    params = sandbox.proxy_params(port=handle.port).with_(host=handle.host)
    conn = mariadb.connect(host=params.host, port=params.port, user=params.user,
                           password=params.password, database=params.database)
    conn.autocommit = True
    return conn


_keys = iter(range(1_000, 1_000_000))


def write(conn: Any) -> int:
    key = next(_keys)
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {TABLE} VALUES ({key}, 0)")
    cur.close()
    return key


def read(conn: Any, key: int) -> tuple[int, int]:
    """(server that ran the read, rows found with ``key``)."""
    cur = conn.cursor()
    cur.execute(f"SELECT @@server_id, COUNT(*) FROM {TABLE} WHERE id = {key}")
    server, found = cur.fetchone()
    cur.close()
    return int(server), int(found)


# -- causal_reads=global ------------------------------------------------------------------------

def test_without_causal_reads_another_session_misses_the_write(
        sandbox: Sandbox, tmp_path: Path) -> None:
    with proxy(sandbox, tmp_path, monitor=False) as handle, sql_threads_stopped(sandbox):
        writer, reader = connect(sandbox, handle), connect(sandbox, handle)
        try:
            key = write(writer)
            server, found = read(reader, key)
        finally:
            writer.close()
            reader.close()
    assert server != PRIMARY_ID
    assert found == 0, "the replica had the row: this test could not show a miss"


@pytest.mark.parametrize("writer_driver", ["pymysql", "mariadb"])
@pytest.mark.parametrize("reader_driver", ["pymysql", "mariadb"])
def test_global_read_in_another_session_sees_the_write(
        sandbox: Sandbox, tmp_path: Path, writer_driver: str, reader_driver: str) -> None:
    with proxy(sandbox, tmp_path, monitor=False, causal_reads="global",
               causal_reads_timeout="1s") as handle, sql_threads_stopped(sandbox):
        writer = driver_connect(writer_driver, sandbox, handle)
        reader = driver_connect(reader_driver, sandbox, handle)
        try:
            results = [read(reader, write(writer)) for _ in range(3)]
        finally:
            writer.close()
            reader.close()
    # the replicas never got the rows: each read waited, timed out and ran on the primary
    assert results == [(PRIMARY_ID, 1)] * 3


def test_global_read_waits_on_the_replica(sandbox: Sandbox, tmp_path: Path) -> None:
    """The replicas resume while the read waits: the read runs on a replica, with the row."""
    with proxy(sandbox, tmp_path, monitor=False, causal_reads="global",
               causal_reads_timeout="30s") as handle, sql_threads_stopped(sandbox):
        writer, reader = connect(sandbox, handle), connect(sandbox, handle)
        try:
            key = write(writer)
            resume = threading.Timer(1.0, start_sql_threads, args=(sandbox,))
            resume.start()
            try:
                server, found = read(reader, key)
            finally:
                resume.join()
        finally:
            writer.close()
            reader.close()
    assert found == 1
    assert server != PRIMARY_ID


# -- causal_reads=fast --------------------------------------------------------------------------

DELAY = 4  # seconds


def test_without_causal_reads_a_delayed_replica_misses(sandbox: Sandbox, tmp_path: Path) -> None:
    with proxy(sandbox, tmp_path, monitor=True) as handle, replicas_delayed(sandbox, DELAY):
        conn = connect(sandbox, handle)
        try:
            server, found = read(conn, write(conn))
        finally:
            conn.close()
    assert server != PRIMARY_ID
    assert found == 0, "the replica had the row: this test could not show a miss"


@pytest.mark.parametrize("driver", ["pymysql", "mariadb"])
def test_fast_reads_the_primary_until_the_monitor_saw_a_replica_catch_up(
        sandbox: Sandbox, tmp_path: Path, driver: str) -> None:
    with proxy(sandbox, tmp_path, monitor=True, causal_reads="fast") as handle, \
            replicas_delayed(sandbox, DELAY):
        conn = driver_connect(driver, sandbox, handle)
        try:
            key = write(conn)
            seen = [read(conn, key)]  # at once: no replica has the row, none is waited for
            start = time.monotonic()

            def on_replica() -> bool:
                seen.append(read(conn, key))
                return seen[-1][0] != PRIMARY_ID

            reached = eventually(on_replica, timeout=DELAY + 20)
        finally:
            conn.close()
    assert seen[0] == (PRIMARY_ID, 1)
    assert all(found == 1 for _, found in seen), seen
    assert reached, f"no read went to a replica in {time.monotonic() - start:.0f}s"


def test_fast_without_a_monitor_reads_the_primary_after_a_write(
        sandbox: Sandbox, tmp_path: Path) -> None:
    """Static roles carry no GTID positions: no replica is known to have the session's write,
    so every later read of the session runs on the primary (``Reason.CAUSAL_FALLBACK``)."""
    with proxy(sandbox, tmp_path, monitor=False, causal_reads="fast") as handle:
        conn = connect(sandbox, handle)
        try:
            before = read(conn, 0)[0]
            key = write(conn)
            wait_replicated(sandbox)  # every replica has it, but nothing tells the router
            after = [read(conn, key) for _ in range(5)]
            other = connect(sandbox, handle)  # a session that did not write still uses replicas
            try:
                elsewhere = read(other, key)
            finally:
                other.close()
        finally:
            conn.close()
    assert before != PRIMARY_ID
    assert after == [(PRIMARY_ID, 1)] * 5
    assert elsewhere[0] != PRIMARY_ID and elsewhere[1] == 1
