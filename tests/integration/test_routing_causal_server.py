"""The causal-reads wait statement against a real replica of the sandbox: it succeeds once the
replica has the GTID, fails with error 1242 on timeout, and in the multi-statement form the
read behind a failed wait does not run."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest
from pymysql.constants import CLIENT

from interlock.routing.causal import (
    GtidPosition,
    is_wait_timeout,
    parse_gtid,
    prefix_query,
    wait_statement,
)
from interlock.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def written(sandbox: Sandbox) -> GtidPosition:
    """Write on the primary; the GTID of that write (as session tracking would report it)."""
    conn = sandbox.connect(database="app")
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS causal_probe (id INT PRIMARY KEY)")
            cur.execute("REPLACE INTO causal_probe VALUES (1)")
            conn.commit()
            cur.execute("SELECT @@last_gtid")
            (gtid,) = cur.fetchone()
    finally:
        conn.close()
    return GtidPosition.of([parse_gtid(gtid)])


@pytest.fixture
def replica(sandbox: Sandbox) -> Any:
    conn = sandbox.connect(sandbox.replicas[0], client_flag=CLIENT.MULTI_STATEMENTS)
    yield conn.cursor()
    conn.close()


def future(position: GtidPosition) -> GtidPosition:
    (gtid,) = position.gtids.values()
    return GtidPosition.parse(f"{gtid.domain}-{gtid.server_id}-{gtid.sequence + 1000}")


def test_wait_succeeds_once_the_replica_has_the_write(replica: Any,
                                                      written: GtidPosition) -> None:
    replica.execute(wait_statement(written, 10).decode())
    replica.execute("SELECT COUNT(*) FROM app.causal_probe WHERE id = 1")
    assert replica.fetchone() == (1,)


def test_wait_times_out_with_the_error_the_proxy_recognises(replica: Any,
                                                            written: GtidPosition) -> None:
    with pytest.raises(pymysql.MySQLError) as caught:
        replica.execute(wait_statement(future(written), 0.2).decode())
    assert is_wait_timeout(caught.value.args[0])


def test_prefixed_read_returns_the_read_behind_an_ok(replica: Any,
                                                     written: GtidPosition) -> None:
    replica.execute(prefix_query(b"SELECT 'read ran'", written, 10).decode())
    assert replica.description is None  # the wait's OK, which the proxy swallows
    assert replica.nextset()
    assert replica.fetchall() == (("read ran",),)


def test_prefixed_read_does_not_run_after_a_timeout(replica: Any,
                                                    written: GtidPosition) -> None:
    with pytest.raises(pymysql.MySQLError) as caught:
        replica.execute(prefix_query(b"SELECT 'read ran'", future(written), 0.2).decode())
    assert is_wait_timeout(caught.value.args[0])
    replica.execute("SELECT 'next'")  # the connection is usable, nothing else is pending
    assert replica.fetchall() == (("next",),)
