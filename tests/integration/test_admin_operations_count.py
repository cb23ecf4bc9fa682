"""The servers' ``active_operations`` (statements sent and not answered) come back to zero when
a client vanishes while its read runs: the balancer's least-current-operations choice and the
API would otherwise count that read forever."""

from __future__ import annotations

import socket
import time

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE

pytestmark = pytest.mark.integration


def operations(api: AdminApi) -> dict[str, int]:
    return {s["id"]: s["attributes"]["statistics"]["active_operations"]
            for s in api.get("/v1/servers").body["data"]}


def test_a_vanished_clients_read_is_no_longer_counted(sandbox: Sandbox,
                                                      start_proxy: ProxyFactory) -> None:
    handle = start_proxy({SERVICE: {"router": "readwritesplit"}}, tls=False)
    api = AdminApi.of_config(handle.config_path)
    params = sandbox.proxy_params(port=handle.port)
    conn = pymysql.connect(host=handle.host, port=handle.port, user=params.user,
                           password=params.password, database=params.database)
    with conn.cursor() as cur:
        cur.execute("SELECT @@server_id")  # replicas connected
    conn._sock.sendall(bytes.fromhex("15000000") + b"\x03SELECT SLEEP(3) AS x")  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while sum(operations(api).values()) == 0:
        assert time.monotonic() < deadline, "the read never showed as an active operation"
        time.sleep(0.05)
    conn._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]  # vanish mid-read
    conn._sock.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while (counts := operations(api)) and sum(counts.values()) != 0:
        assert time.monotonic() < deadline, f"operations still counted: {counts}"
        time.sleep(0.1)
