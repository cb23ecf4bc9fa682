"""A COMMIT whose outcome is unknown (issue 6): the primary connection is lost while the
client's COMMIT (or an autocommit write) is in flight.

The COMMIT is held on the server, so the loss happens exactly while it is in flight:

- ``BACKUP STAGE BLOCK_COMMIT`` (a root session) lets the transaction's statements run and
  holds its COMMIT before the binary log: killing the primary then, the transaction never
  committed;
- semi-sync on the primary with no semi-sync replica (``AFTER_SYNC``, long timeout) holds the
  COMMIT after the binary log was written and sent to the (asynchronous) replica: killing the
  primary then, the transaction is committed on the replica that gets promoted.

Without the commit marker the client gets the error saying the outcome is unknown (never a
blind re-send).  With ``transaction_replay_commit_marker`` the proxy reads the marker back on
the new primary (or on the same server after a ``KILL``) and the client's COMMIT succeeds:
replayed when it had not committed, answered without a replay when it had.  Either way the
transaction's change is there exactly once (a counter incremented by it is 1, not 2).

Also here: a read-only transaction whose replica connection is lost is not continued on a new
connection outside the transaction (the client gets an error).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.integration.monitor_support import LiveProxy
from tests.integration.rawclient import RawClient, execute_payload, is_ok, prepare_ok
from tests.integration.sysbench_support import MARKER_TABLE, create_marker_table

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.wire.constants import Command

pytestmark = pytest.mark.integration

MONITOR = {
    "monitor_interval": "300ms",
    "failcount": "3",
    "auto_failover": "true",
    "master_failure_timeout": "2s",
    "backend_connect_timeout": "1s",
    "backend_read_timeout": "1s",
}
HELD_BY_BACKUP = "Waiting for backup lock"
HELD_BY_SEMISYNC = "Waiting for semi-sync ACK from slave"


def _proxy(sb: Sandbox, tmp_path: Path, marker: bool) -> LiveProxy:
    service = {
        "router": "readwritesplit",
        "transaction_replay": "true",
        "transaction_replay_commit_marker": MARKER_TABLE if marker else "",
    }
    return LiveProxy(sb, tmp_path, MONITOR, {SERVICE: service})


def _setup(sb: Sandbox) -> None:
    create_marker_table(sb)
    sb.sql("server1", "CREATE TABLE test.counter (id INT PRIMARY KEY, n INT NOT NULL)")
    sb.sql("server1", "INSERT INTO test.counter VALUES (1, 0)")


class InFlight:
    """Runs one statement on ``cur`` in a thread; ``result`` is None (OK) or the error."""

    def __init__(self, cur: Any, sql: str) -> None:
        self.result: pymysql.MySQLError | str | None = "pending"
        self.thread = threading.Thread(target=self._run, args=(cur, sql), daemon=True)
        self.thread.start()

    def _run(self, cur: Any, sql: str) -> None:
        try:
            cur.execute(sql)
            self.result = None
        except pymysql.MySQLError as exc:
            self.result = exc

    def wait(self, timeout: float = 60) -> pymysql.MySQLError | str | None:
        self.thread.join(timeout)
        return self.result


def wait_held(sb: Sandbox, server: str, state: str, timeout: float = 10) -> int:
    """The thread id of the app's statement once the server holds it in ``state``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sb.sql(
            server,
            "SELECT ID AS id FROM information_schema.PROCESSLIST"
            f" WHERE USER = 'app' AND STATE = '{state}'",
        )
        if rows:
            return int(rows[0]["id"])
        assert time.monotonic() < deadline, f"no statement of 'app' in state '{state}'"
        time.sleep(0.05)


def hold_semisync(sb: Sandbox, server: str) -> None:
    """Commits on ``server`` wait for a semi-sync ACK that never comes (no replica acks)."""
    for statement in (
        "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC",
        "SET GLOBAL rpl_semi_sync_master_timeout = 60000",
        "SET GLOBAL rpl_semi_sync_master_enabled = 1",
    ):
        sb.sql(server, statement)


def counter(sb: Sandbox, server: str) -> int:
    return int(sb.sql(server, "SELECT n FROM test.counter WHERE id = 1")[0]["n"])


def outcome_lines(lp: LiveProxy) -> list[str]:
    return [line for line in lp.log_text().splitlines() if "outcome of the COMMIT" in line]


def _open_transaction(lp: LiveProxy) -> Any:
    conn = lp.connect(read_timeout=60)
    cur = conn.cursor()
    cur.execute("USE test")
    cur.execute("BEGIN")
    cur.execute("SELECT n FROM counter WHERE id = 1")
    assert cur.fetchone() == (0,)
    cur.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    return conn


@pytest.mark.parametrize(
    "statement",
    ["COMMIT", "INSERT INTO test.counter VALUES (2, 0)"],
    ids=["commit", "autocommit-write"],
)
def test_lost_in_flight_without_marker_is_unknown(
    fresh_sandbox: Callable[..., Sandbox], tmp_path: Path, statement: str
) -> None:
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with _proxy(sb, tmp_path, marker=False) as lp:
        conn = _open_transaction(lp) if statement == "COMMIT" else lp.connect(read_timeout=60)
        admin = sb.connect("server1", autocommit=True)
        with admin.cursor() as cur:
            cur.execute("BACKUP STAGE START")
            cur.execute("BACKUP STAGE BLOCK_COMMIT")
        flight = InFlight(conn.cursor(), statement)
        wait_held(sb, "server1", HELD_BY_BACKUP)
        sb.kill("server1", signal.SIGKILL)
        result = flight.wait()
    assert isinstance(result, pymysql.MySQLError), result
    assert result.args[0] == 1927  # (a server code: see rwprimary.commit_unknown)
    expected = (
        "the outcome of the transaction is unknown"
        if statement == "COMMIT"
        else "its outcome is unknown"
    )
    assert expected in result.args[1], result.args


def test_lost_commit_that_did_not_commit_is_replayed(
    fresh_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with _proxy(sb, tmp_path, marker=True) as lp:
        conn = _open_transaction(lp)
        admin = sb.connect("server1", autocommit=True)
        with admin.cursor() as cur:
            cur.execute("BACKUP STAGE START")
            cur.execute("BACKUP STAGE BLOCK_COMMIT")
        flight = InFlight(conn.cursor(), "COMMIT")
        wait_held(sb, "server1", HELD_BY_BACKUP)  # (the marker was written before it)
        sb.kill("server1", signal.SIGKILL)
        assert flight.wait() is None  # replayed on the promoted replica and committed
        assert lp.primary() == "server2"
        lines = outcome_lines(lp)
        with conn.cursor() as cur:  # the session goes on
            cur.execute("SELECT n FROM counter WHERE id = 1")
            assert cur.fetchone() == (1,)
        conn.close()
    assert counter(sb, "server2") == 1
    assert len(lines) == 1 and "read on 'server2': not committed" in lines[0], lines


class PreparedCommit:
    """The same transaction through the binary protocol, its COMMIT a prepared statement
    (as sysbench sends it); ``start`` executes it in a thread, ``wait`` gives None once it
    answered OK."""

    def __init__(self, lp: LiveProxy) -> None:
        self.client = RawClient.connect(
            "127.0.0.1", lp.port, "app", "app-secret", "test", timeout=60
        )
        for sql in (b"BEGIN", b"UPDATE counter SET n = n + 1 WHERE id = 1"):
            assert is_ok(self.client.exchange(Command.QUERY, sql)[0])
        self.stmt_id = prepare_ok(self.client.exchange(Command.STMT_PREPARE, b"COMMIT"))[0]
        self.result: str | None = "pending"
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        packets = self.client.exchange(Command.STMT_EXECUTE, execute_payload(self.stmt_id))
        self.result = None if is_ok(packets[0]) else repr(packets[0].payload)

    def start(self) -> PreparedCommit:
        self.thread.start()
        return self

    def wait(self, timeout: float = 60) -> str | None:
        self.thread.join(timeout)
        return self.result

    def close(self) -> None:
        self.client.close()


class TextCommit:
    """The transaction through pymysql (text protocol)."""

    def __init__(self, lp: LiveProxy) -> None:
        self.conn = _open_transaction(lp)
        self.flight: InFlight | None = None

    def start(self) -> InFlight:
        self.flight = InFlight(self.conn.cursor(), "COMMIT")
        return self.flight

    def close(self) -> None:
        self.conn.close()


@pytest.mark.parametrize("protocol", [TextCommit, PreparedCommit], ids=["text", "prepared"])
def test_lost_commit_that_committed_is_answered(
    fresh_sandbox: Callable[..., Sandbox],
    tmp_path: Path,
    protocol: type[TextCommit | PreparedCommit],
) -> None:
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with _proxy(sb, tmp_path, marker=True) as lp:
        conn = protocol(lp)
        hold_semisync(sb, "server1")
        flight = conn.start()
        wait_held(sb, "server1", HELD_BY_SEMISYNC)
        deadline = time.monotonic() + 10
        while counter(sb, "server2") != 1:  # the replica applied it; the client has no answer
            assert time.monotonic() < deadline, "the replica did not get the transaction"
            time.sleep(0.05)
        assert flight.result == "pending"
        sb.kill("server1", signal.SIGKILL)
        assert flight.wait() is None  # answered OK: it committed, nothing was replayed
        assert lp.primary() == "server2"
        lines = outcome_lines(lp)
        runtime = next(iter(lp.proxy.services.values()))
        replays = runtime.replays
        conn.close()
    assert counter(sb, "server2") == 1  # once, not twice
    assert replays == 0
    assert len(lines) == 1 and "read on 'server2': committed" in lines[0], lines


def test_commit_killed_on_the_same_server(
    fresh_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """``KILL CONNECTION`` of the session's backend thread while its COMMIT waits for the
    semi-sync ACK: the server still commits it (it is in the binary log); the proxy reconnects
    to the same primary, whose locking read of the marker waits for that transaction to end."""
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with _proxy(sb, tmp_path, marker=True) as lp:
        conn = _open_transaction(lp)
        hold_semisync(sb, "server1")
        flight = InFlight(conn.cursor(), "COMMIT")
        thread = wait_held(sb, "server1", HELD_BY_SEMISYNC)
        sb.sql("server1", f"KILL CONNECTION {thread}")
        assert flight.wait() is None
        lines = outcome_lines(lp)
        conn.close()
    assert counter(sb, "server1") == 1
    assert len(lines) == 1 and "read on 'server1': committed" in lines[0], lines


def test_read_only_transaction_on_a_lost_replica(
    fresh_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """(A neighbour of the above: a transaction whose server connection is lost is never
    continued on a new connection outside it.)  ``START TRANSACTION READ ONLY`` runs on a
    replica; its connection there is killed; the next statement gets an error instead of
    running on a fresh connection outside the transaction's snapshot."""
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with _proxy(sb, tmp_path, marker=False) as lp:
        conn = lp.connect(read_timeout=30)
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            cur.execute("SELECT @@server_id, n FROM test.counter WHERE id = 1")
            assert cur.fetchone() == (2, 0)  # on the replica
            threads = [
                int(r["id"])
                for r in sb.sql(
                    "server2",
                    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = 'app'",
                )
            ]
            for thread in threads:
                sb.sql("server2", f"KILL CONNECTION {thread}")
            time.sleep(0.5)
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("SELECT @@server_id, n FROM test.counter WHERE id = 1")
        assert "the connection running the transaction was lost" in str(info.value.args)
