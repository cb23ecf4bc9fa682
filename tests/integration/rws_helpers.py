"""Helpers of the ``test_rws_*`` modules: a readwritesplit proxy on the session sandbox, and
"which server ran this" through ``@@server_id`` (the sandbox's servers have ids 1, 2, 3; the
primary is 1)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
from pymysql.constants import CLIENT
from tests.conftest import launch_proxy

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

PRIMARY_ID = 1


def rws_config(sandbox: Sandbox, monitor: bool = True, **params: str) -> str:
    """The sandbox's config with ``router=readwritesplit`` and ``params`` on the service;
    without ``monitor`` the monitor section is left out (static roles: the first server is the
    primary, whatever the replicas' threads do)."""
    overrides: dict[str, Mapping[str, str | None] | None] = {
        SERVICE: {"router": "readwritesplit", **params}}
    if not monitor:
        overrides[MONITOR] = None
    return sandbox.render_config(listener_port=find_free_port(), tls=False, overrides=overrides)


def start_rws(sandbox: Sandbox, directory: Path, monitor: bool = True,
              **params: str) -> ProxyHandle:
    return launch_proxy(directory, rws_config(sandbox, monitor, **params))


def connect(sandbox: Sandbox, proxy: ProxyHandle, database: str = "app",
            multi: bool = False, **kwargs: Any) -> Any:
    params = sandbox.proxy_params(port=proxy.port, database=database).with_(host=proxy.host)
    flags = CLIENT.MULTI_STATEMENTS if multi else 0
    return pymysql.connect(**params.pymysql_kwargs(), client_flag=flags, autocommit=True,
                           **kwargs)


@contextmanager
def session(sandbox: Sandbox, proxy: ProxyHandle, **kwargs: Any) -> Iterator[Any]:
    conn = connect(sandbox, proxy, **kwargs)
    try:
        yield conn.cursor()
    finally:
        conn.close()


def server_of(cur: Any, sql: str = "SELECT @@server_id", args: Any = None) -> int:
    """Run ``sql`` (its first column must be ``@@server_id``) and return that id."""
    cur.execute(sql, args)
    row = cur.fetchone()
    cur.fetchall()
    return int(row[0])


def replica_ids(sandbox: Sandbox) -> set[int]:
    return set(range(2, len(sandbox.servers) + 1))


def wait_replicated(sandbox: Sandbox, timeout: float = 20.0) -> None:
    """Until every replica has the primary's current GTID position."""
    position = sandbox.sql(sandbox.primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    for replica in sandbox.replicas:
        rows = sandbox.sql(replica, f"SELECT MASTER_GTID_WAIT('{position}', {timeout}) AS w")
        assert rows[0]["w"] == "0", f"{replica.name} did not catch up with {position}"


def counter(sandbox: Sandbox, name: str, variable: str) -> int:
    rows = sandbox.sql(name, f"SHOW GLOBAL STATUS LIKE '{variable}'")
    return int(rows[0]["Value"])


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
