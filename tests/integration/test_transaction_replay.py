"""Transaction replay (issue 6, ``transaction_replay=true``): the primary connection of a session
is killed on the server in the middle of a transaction; the proxy replays the transaction on a
new connection and compares the results' checksums.  Same data: the transaction goes on and
commits once.  Changed data (another session updated a row the transaction read): the client
gets the clear error and nothing of the transaction is committed.  (The switchover variant
under load is ``test_switchover_sysbench.py``.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest
from tests.integration.test_session_survival import primary_thread, rws_proxy

from interlock.sandbox import Sandbox

pytestmark = pytest.mark.integration


def _setup(sb: Sandbox) -> None:
    sb.sql(sb.primary.name, "CREATE TABLE test.acct (id INT PRIMARY KEY, v INT)")
    sb.sql(sb.primary.name, "INSERT INTO test.acct VALUES (1, 10), (2, 20)")


def _kill_sessions(sb: Sandbox) -> None:
    for thread in primary_thread(sb):
        sb.sql(sb.primary.name, f"KILL CONNECTION {thread}")
    time.sleep(0.5)


@pytest.mark.parametrize("changed", [False, True], ids=["same-data", "data-changed"])
def test_replay_after_kill(fresh_sandbox: Callable[..., Sandbox], tmp_path: Path,
                           changed: bool) -> None:
    sb = fresh_sandbox(replicas=1)
    _setup(sb)
    with rws_proxy(sb, tmp_path, transaction_replay="true") as lp:
        conn = lp.connect()
        conn.select_db("test")
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT v FROM acct WHERE id = 1")
            assert cur.fetchone() == (10,)
            cur.execute("UPDATE acct SET v = v + 1 WHERE id = 2")
        _kill_sessions(sb)
        if changed:
            sb.sql(sb.primary.name, "UPDATE test.acct SET v = 99 WHERE id = 1")
        with conn.cursor() as cur:
            if changed:
                with pytest.raises(pymysql.MySQLError) as info:
                    cur.execute("UPDATE acct SET v = v + 100 WHERE id = 1")
                assert info.value.args[0] == 1213
                assert "rolled back and nothing of it was committed" in info.value.args[1]
                cur.execute("SELECT 1")  # the session goes on
            else:
                cur.execute("UPDATE acct SET v = v + 100 WHERE id = 1")
                cur.execute("COMMIT")
        conn.close()
        text = lp.log_text()
    found = sb.sql(sb.primary.name, "SELECT id, v FROM test.acct")
    rows = {int(r["id"]): int(r["v"]) for r in found}
    if changed:
        assert rows == {1: 99, 2: 20}  # nothing of the transaction committed
        assert "transaction replay on server 'server1' failed at statement 2" in text
    else:
        assert rows == {1: 110, 2: 21}  # committed once
        assert "transaction of 3 statement(s) replayed" in text
