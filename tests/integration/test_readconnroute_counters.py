"""readconnroute counts the queries it routes, per server and per service.

readconnroute does not parse statements, so (as MaxScale's readconnroute) it counts queries,
not reads and writes: every client command it sends to the session's server is one routed
query.  The counts show in ``statistics.routed_queries`` of /v1/servers (what the dashboard's
q/s is computed from) and in the service's ``route_master``/``route_slave`` and
``router_diagnostics.route_servers``.  Before, only readwritesplit counted, and a
readconnroute service showed 0 q/s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.conftest import _stop_proxy, launch_proxy
from tests.integration.admin_support import AdminApi
from tests.integration.rawclient import (
    RawClient,
    execute_payload,
    prepare_ok,
    stmt_id_payload,
)
from tests.integration.test_metrics import scrape

from interlock.admin.auth import Account, AdminUsers
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle
from interlock.wire.constants import Command

pytestmark = pytest.mark.integration

WATCHER = ("watcher", "watcher-password")  # the account test_metrics.scrape uses
QUERIES = 25


@pytest.fixture(scope="module")
def connroute(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[ProxyHandle]:
    """readconnroute to the replicas, a proxy of its own (its counters start at 0)."""
    directory: Path = tmp_path_factory.mktemp("rcr_counters")
    datadir = directory / "state"
    datadir.mkdir()
    users = AdminUsers(datadir)
    users.ensure_admin()
    users.add(*WATCHER, Account.BASIC)
    text = sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        "maxscale": {"datadir": str(datadir)},
        SERVICE: {"router": "readconnroute", "router_options": "slave"},
    })
    handle = launch_proxy(directory, text)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@pytest.fixture(scope="module")
def api(connroute: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(connroute.config_path)


def _server_name(sandbox: Sandbox, port: int) -> str:
    return next(s.name for s in sandbox.servers if s.port == port)


def _routed(api: AdminApi, server: str) -> int:
    reply = api.get(f"/v1/servers/{server}")
    assert reply.status == 200, reply.body
    value: int = reply.body["data"]["attributes"]["statistics"]["routed_queries"]
    return value


def _service(api: AdminApi) -> dict[str, Any]:
    reply = api.get(f"/v1/services/{SERVICE}")
    assert reply.status == 200, reply.body
    attributes: dict[str, Any] = reply.body["data"]["attributes"]
    return attributes


def _session(sandbox: Sandbox, proxy: ProxyHandle) -> Any:
    params = sandbox.proxy_params(port=proxy.port).with_(host=proxy.host)
    return pymysql.connect(**params.pymysql_kwargs(), connect_timeout=10, autocommit=True)


def test_queries_raise_the_server_and_service_counters(sandbox: Sandbox,
                                                       connroute: ProxyHandle,
                                                       api: AdminApi) -> None:
    conn = _session(sandbox, connroute)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@port")
            server = _server_name(sandbox, cur.fetchone()[0])
            assert server != sandbox.primary.name  # router_options=slave
            before = _routed(api, server)
            service_before = _service(api)
            for i in range(QUERIES - 1):
                cur.execute(f"SELECT {i}")
                cur.fetchall()
        conn.ping(reconnect=False)  # a command too (COM_PING): QUERIES in all
    finally:
        conn.close()
    assert _routed(api, server) - before == QUERIES
    after = _service(api)
    stats, stats_before = after["statistics"], service_before["statistics"]
    assert stats["route_slave"] - stats_before["route_slave"] == QUERIES
    assert stats["route_master"] == stats_before["route_master"]
    routed = after["router_diagnostics"]["route_servers"]
    assert routed[server] - service_before["router_diagnostics"]["route_servers"][server] \
        == QUERIES
    # readconnroute cannot tell reads from writes: it leaves those counters alone
    reply = api.get(f"/v1/servers/{server}")
    assert reply.body["data"]["attributes"]["statistics"]["reads"] == 0
    assert reply.body["data"]["attributes"]["statistics"]["writes"] == 0


def test_every_command_counts_once(sandbox: Sandbox, connroute: ProxyHandle,
                                  api: AdminApi) -> None:
    """Prepared statements and pipelined commands, sent by a raw client so the commands are
    known exactly: COM_STMT_PREPARE, each COM_STMT_EXECUTE, COM_STMT_CLOSE, COM_PING and three
    COM_QUERY in one write each count once; COM_QUIT does not."""
    with RawClient.connect(connroute.host, connroute.port, "app", "app-secret", "app") as c:
        server = _server_name(sandbox, int(c.value("SELECT @@port") or 0))
        before = _routed(api, server)
        stmt, _, _ = prepare_ok(c.exchange(Command.STMT_PREPARE, b"SELECT ? + 1"))
        for i in range(5):
            c.exchange(Command.STMT_EXECUTE, execute_payload(stmt, [i]))
        c.send(Command.STMT_CLOSE, stmt_id_payload(stmt))  # no answer
        c.exchange(Command.PING)
        sent = c.send_many([(Command.QUERY, f"SELECT {i}".encode()) for i in range(3)])
        for _ in range(sent):
            c.read_response()
        moved = _routed(api, server) - before
        c.send(Command.QUIT)
        c.read_until_closed(10)
    assert moved == 1 + 5 + 1 + 1 + 3
    assert _routed(api, server) - before == moved  # COM_QUIT is not a query


def test_queries_raise_the_routed_queries_metric(sandbox: Sandbox, connroute: ProxyHandle,
                                                 api: AdminApi) -> None:
    conn = _session(sandbox, connroute)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@port")
            server = _server_name(sandbox, cur.fetchone()[0])
            before = scrape(api).total("interlock_server_routed_queries_total", server=server)
            for i in range(QUERIES):
                cur.execute(f"SELECT {i}")
                cur.fetchall()
    finally:
        conn.close()
    metrics = scrape(api)
    assert metrics.total("interlock_server_routed_queries_total", server=server) - before \
        == QUERIES
    assert metrics.value("interlock_service_routed_queries_total", service=SERVICE) \
        == sum(_service(api)["router_diagnostics"]["route_servers"].values())
