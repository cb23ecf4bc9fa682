"""The admin API's resources and the actions that leave the cluster as it is, against real
proxies on the session sandbox: every collection and object, auth on every route, a read-only
user refused on every write, killing a session, events, reloading users, rotating the log.

The shared ``proxy``/``rws_proxy`` only get reads and proxy-local changes (maintenance of a
replica, set and cleared; a session of this test killed).  Tests that add users to the users
file, reload accounts or rotate logs start their own proxy with its own ``datadir``.  The
cluster operations (switchover, failover, rejoin, reset-replication) are in
test_admin_operations.py, on a private cluster.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi, Reply

from interlock import __version__
from interlock.admin.http import PUBLIC_PATHS, PUBLIC_PREFIXES, READ_METHODS, all_routes
from interlock.admin.routes import Route
from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox.interlock_cnf import LISTENER, MONITOR, SERVICE
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

SERVERS = ["server1", "server2", "server3"]


@pytest.fixture(scope="module")
def api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


def ok(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, reply.body
    return reply.body


def detail(reply: Reply) -> str:
    return str(reply.body["errors"][0]["detail"])


def concrete(route: Route) -> str:
    """The route's path with every parameter filled in."""
    return re.sub(r"{[^}]+}", "x", route.path)


def guarded(route: Route) -> bool:
    return not (route.path in PUBLIC_PATHS or route.path.startswith(PUBLIC_PREFIXES))


def dedicated(start_proxy: ProxyFactory, tmp_path: Path, **settings: str) -> AdminApi:
    """A proxy of its own on the session sandbox, with its own admin users file."""
    handle = start_proxy({"maxscale": {"datadir": str(tmp_path / "state"), **settings}},
                         tls=False)
    return AdminApi.of_config(handle.config_path)


# -- resources ----------------------------------------------------------------------------------


def test_services_show_router_parameters_relations_and_accounts(api: AdminApi) -> None:
    services = ok(api.get("/v1/services"))["data"]
    assert [s["id"] for s in services] == [SERVICE]
    attributes = services[0]["attributes"]
    assert attributes["router"] == "readconnroute" and attributes["state"] == "Started"
    assert attributes["parameters"]["router_options"] == "master"
    assert attributes["parameters"]["password"] == "*****"
    assert attributes["users"]["loaded"] is True and attributes["users"]["accounts"] > 0
    assert attributes["users"]["source"] == "server1"
    relations = services[0]["relationships"]
    assert [r["id"] for r in relations["servers"]["data"]] == SERVERS
    assert [r["id"] for r in relations["listeners"]["data"]] == [LISTENER]
    assert [r["id"] for r in relations["monitors"]["data"]] == [MONITOR]
    one = ok(api.get(f"/v1/services/{SERVICE}"))["data"]
    assert one["id"] == SERVICE and one["attributes"]["router"] == "readconnroute"
    assert ok(api.get(f"/v1/services/{SERVICE}/listeners"))["data"][0]["id"] == LISTENER
    missing = api.get("/v1/services/nope")
    assert missing.status == 404 and detail(missing) == "no service 'nope'"


def test_listeners_show_where_they_listen(api: AdminApi, proxy: ProxyHandle) -> None:
    listeners = ok(api.get("/v1/listeners"))["data"]
    assert [ln["id"] for ln in listeners] == [LISTENER]
    attributes = listeners[0]["attributes"]
    assert attributes["state"] == "Running"
    assert attributes["parameters"]["port"] == proxy.port
    assert attributes["parameters"]["service"] == SERVICE
    assert ok(api.get(f"/v1/listeners/{LISTENER}"))["data"]["id"] == LISTENER
    assert api.get("/v1/listeners/nope").status == 404


def test_monitors_show_the_cluster_as_the_monitor_sees_it(api: AdminApi,
                                                          sandbox: Sandbox) -> None:
    monitors = ok(api.get("/v1/monitors"))["data"]
    assert [m["id"] for m in monitors] == [MONITOR]
    attributes = monitors[0]["attributes"]
    assert attributes["module"] == "mariadbmon" and attributes["state"] == "Running"
    assert attributes["ticks"] >= 1
    assert attributes["parameters"]["password"] == "*****"
    assert attributes["parameters"]["replication_password"] == "*****"
    diagnostics = attributes["monitor_diagnostics"]
    assert diagnostics["primary"] == "server1" and diagnostics["verdict"] == "healthy"
    info = {s["name"]: s for s in diagnostics["server_info"]}
    assert list(info) == SERVERS
    assert info["server1"]["state"] == "Master, Running" and info["server1"]["read_only"] is False
    binlog = sandbox.sql("server1", "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    assert info["server1"]["gtid_binlog_pos"].split("-")[:2] == binlog.split("-")[:2]
    for name in ("server2", "server3"):
        assert info[name]["state"] == "Slave, Running"
        link = info[name]["slave_connections"][0]
        assert link["master_port"] == sandbox.server("server1").port
        assert link["slave_sql_running"] is True
    relations = monitors[0]["relationships"]["servers"]["data"]
    assert [r["id"] for r in relations] == SERVERS
    assert api.get("/v1/monitors/nope").status == 404


def test_maxscale_shows_the_process(api: AdminApi, proxy: ProxyHandle) -> None:
    attributes = ok(api.get("/v1/maxscale"))["data"]["attributes"]
    assert attributes["version"] == __version__ and attributes["pid"] == proxy.pid
    assert attributes["threads"] == 1 and attributes["uptime"] >= 0
    started = datetime.fromisoformat(attributes["started_at"])
    assert started <= datetime.now(UTC)
    assert attributes["parameters"]["admin_port"] == int(api.base.rsplit(":", 1)[1])
    assert attributes["config"] == str(proxy.config_path)


def test_events_have_increasing_ids_and_since_returns_the_newer_ones(api: AdminApi) -> None:
    events = ok(api.get("/v1/events"))["data"]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = {e["attributes"]["server"]: e["attributes"] for e in events
             if e["attributes"]["reason"] == "first observation"}
    assert first["server1"]["kind"] == "state"
    assert first["server1"]["new_state"] == "Master, Running"
    assert first["server1"]["monitor"] == MONITOR
    last = ids[-1]
    # a change of this proxy's own: maintenance on a replica (its routing goes to the primary)
    ok(api.request("PUT", "/v1/servers/server3/set?state=maintenance"), 204)
    try:
        newer = ok(api.get(f"/v1/events?since={last}"))["data"]
        assert all(int(e["id"]) > last for e in newer)
        texts = [(e["attributes"]["server"], e["attributes"]["kind"],
                  e["attributes"]["reason"], e["attributes"]["new_state"]) for e in newer]
        assert ("server3", "decision", "set maintenance=on", None) in texts
        assert any(server == "server3" and kind == "state" and "Maintenance" in (new or "")
                   for server, kind, _, new in texts)
    finally:
        ok(api.request("PUT", "/v1/servers/server3/clear?state=maintenance"), 204)
    again = ok(api.get(f"/v1/events?since={last}&monitor={MONITOR}"))["data"]
    assert [e["id"] for e in again[:len(newer)]] == [e["id"] for e in newer]  # ids are stable
    assert api.get("/v1/events?since=abc").status == 400
    assert api.get("/v1/events?monitor=nope").status == 404


# -- sessions -----------------------------------------------------------------------------------


@pytest.fixture
def client(proxy_params: ConnParams) -> Iterator[pymysql.Connection]:  # type: ignore[type-arg]
    conn = pymysql.connect(**proxy_params.pymysql_kwargs())
    try:
        yield conn
    finally:
        conn.close()


def test_sessions_list_a_client_and_kill_disconnects_it(
        api: AdminApi, client: pymysql.Connection, proxy_params: ConnParams) -> None:  # type: ignore[type-arg]
    ident = str(client.thread_id())  # the proxy's connection id
    with client.cursor() as cur:
        cur.execute("SELECT @@server_id")
    sessions = {s["id"]: s["attributes"] for s in ok(api.get("/v1/sessions"))["data"]}
    mine = sessions[ident]
    assert mine["user"] == proxy_params.user and mine["remote"] == "127.0.0.1"
    assert mine["state"] == "Started" and mine["service"] == SERVICE
    assert mine["servers"] == ["server1"] and mine["idle"] >= 0
    assert datetime.fromisoformat(mine["connected"]) <= datetime.now(UTC)
    assert ok(api.get(f"/v1/sessions/{ident}"))["data"]["attributes"]["user"] == mine["user"]
    other = pymysql.connect(**proxy_params.pymysql_kwargs())
    try:
        ok(api.request("DELETE", f"/v1/sessions/{ident}"), 204)
        with pytest.raises(pymysql.OperationalError) as killed, client.cursor() as cur:
            cur.execute("SELECT 1")
        assert killed.value.args == (1927, "Connection was killed")
        assert api.get(f"/v1/sessions/{ident}").status == 404
        assert ident not in {s["id"] for s in ok(api.get("/v1/sessions"))["data"]}
        with other.cursor() as cur:  # the other sessions go on
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        other.close()
    assert api.request("DELETE", f"/v1/sessions/{ident}").status == 404
    assert api.request("DELETE", "/v1/sessions/abc").status == 404


def test_service_statistics_count_routed_statements(rws_proxy: ProxyHandle,
                                                    sandbox: Sandbox) -> None:
    api = AdminApi.of_config(rws_proxy.config_path)
    before = ok(api.get(f"/v1/services/{SERVICE}"))["data"]["attributes"]
    ids = {s["id"]: s["attributes"]["server_id"] for s in ok(api.get("/v1/servers"))["data"]}
    params = sandbox.proxy_params(port=rws_proxy.port).with_(host=rws_proxy.host)
    conn = pymysql.connect(**params.pymysql_kwargs(), autocommit=True)  # reads: replicas
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@server_id")
            server_id = int(cur.fetchone()[0])
        answered = next(n for n, i in ids.items() if i == server_id)
        during = ok(api.get(f"/v1/services/{SERVICE}"))["data"]["attributes"]
        assert during["statistics"]["connections"] >= 1
    finally:
        conn.close()
    after = ok(api.get(f"/v1/services/{SERVICE}"))["data"]["attributes"]
    assert after["router"] == "readwritesplit"
    assert after["parameters"]["causal_reads"] == "local"
    assert after["statistics"]["total_connections"] > before["statistics"]["total_connections"]
    servers = after["router_diagnostics"]["route_servers"]
    assert servers[answered] > before["router_diagnostics"]["route_servers"].get(answered, 0)
    assert after["router_diagnostics"]["route_reasons"]["read"] > (
        before["router_diagnostics"]["route_reasons"].get("read", 0))
    routed = after["statistics"]["route_master"] + after["statistics"]["route_slave"]
    assert routed == sum(servers.values())


# -- authentication on every route --------------------------------------------------------------


def test_every_route_needs_credentials(api: AdminApi) -> None:
    routes = [r for r in all_routes() if guarded(r)]
    assert len(routes) > 25
    for route in routes:
        reply = api.request(route.method, concrete(route), auth=None)
        assert reply.status == 401, f"{route.method} {route.path}: {reply.status}"
        assert reply.headers.get("WWW-Authenticate", "").startswith("Basic")
        wrong = api.request(route.method, concrete(route), auth=("admin", "wrong-password"))
        assert wrong.status == 401, f"{route.method} {route.path}: {wrong.status}"


def test_a_basic_user_reads_but_is_refused_every_write(api: AdminApi) -> None:
    name, password = "admin-api-viewer", "viewer-password-1"
    body = {"data": {"id": name, "type": "inet",
                     "attributes": {"password": password, "account": "basic"}}}
    ok(api.request("POST", "/v1/users", body=body), 204)
    viewer = (name, password)
    try:
        users = {u["id"]: u["attributes"] for u in ok(api.get("/v1/users"))["data"]}
        assert users[name] == {"account": "basic"}
        assert ok(api.get(f"/v1/users/inet/{name}"))["data"]["attributes"]["account"] == "basic"
        assert api.request("POST", "/v1/users/inet", body=body).status == 409
        for route in all_routes():
            if route.method in READ_METHODS:
                continue
            if guarded(route):
                reply = api.request(route.method, concrete(route), auth=viewer)
                assert reply.status == 403, f"{route.method} {route.path}: {reply.status}"
                assert "read-only" in detail(reply)
        for path in ("/v1/servers", "/v1/services", "/v1/monitors", "/v1/sessions",
                     "/v1/events", "/v1/maxscale", "/v1/users"):
            assert api.get(path, auth=viewer).status == 200, path
    finally:
        ok(api.request("DELETE", f"/v1/users/inet/{name}"), 204)
    assert api.get("/v1/servers", auth=viewer).status == 401
    assert api.get(f"/v1/users/inet/{name}").status == 404


def test_creating_users_checks_the_request(start_proxy: ProxyFactory, tmp_path: Path) -> None:
    api = dedicated(start_proxy, tmp_path)
    cases = [
        ({"data": {"id": "u1", "attributes": {"password": "short"}}}, "at least 8"),
        ({"data": {"id": "u1", "attributes": {"password": "long-enough", "account": "root"}}},
         "expected admin or basic"),
        ({"data": {"id": "u1", "type": "unix", "attributes": {"password": "long-enough"}}},
         "only network users"),
        ({"data": {"attributes": {"password": "long-enough"}}}, "data.id"),
        ({"user": "u1"}, '"data"'),
        ({"data": {"id": "a/b", "attributes": {"password": "long-enough"}}}, "'/'"),
    ]
    for body, words in cases:
        reply = api.request("POST", "/v1/users/inet", body=body)
        assert reply.status == 400 and words in detail(reply), (body, reply.body)
    assert api.request("POST", "/v1/users/inet", body=None).status == 400
    # only admin exists in this datadir: it cannot be removed; with a second admin it can
    last = api.request("DELETE", "/v1/users/inet/admin")
    assert last.status == 403 and "last admin" in detail(last)
    second = {"data": {"id": "admin2", "attributes": {"password": "second-admin-pw",
                                                      "account": "admin"}}}
    ok(api.request("POST", "/v1/users/inet", body=second), 204)
    ok(api.request("DELETE", "/v1/users/inet/admin2", auth=("admin2", "second-admin-pw")), 204)
    assert api.request("DELETE", "/v1/users/inet/admin2").status == 404


# -- reload users, rotate logs ------------------------------------------------------------------


def test_reload_users_sees_a_user_created_after_the_start(
        start_proxy: ProxyFactory, sandbox: Sandbox, tmp_path: Path) -> None:
    user, password = "admin_api_late", "late-user-secret"
    sandbox.sql("server1", f"DROP USER IF EXISTS '{user}'@'%'")
    # users_refresh_time: a failed login does not reload the accounts during this test
    api = dedicated(start_proxy, tmp_path, users_refresh_time="1h")
    port = ok(api.get(f"/v1/listeners/{LISTENER}"))["data"]["attributes"]["parameters"]["port"]
    params = sandbox.proxy_params(port=port).with_(user=user, password=password)
    before = ok(api.get(f"/v1/services/{SERVICE}"))["data"]["attributes"]["users"]["accounts"]
    sandbox.sql("server1", f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        sandbox.sql("server1", f"GRANT SELECT ON app.* TO '{user}'@'%'")
        with pytest.raises(pymysql.OperationalError) as denied:
            pymysql.connect(**params.pymysql_kwargs())
        assert denied.value.args[0] == 1045
        ok(api.request("POST", f"/v1/services/{SERVICE}/reload"), 204)
        users = ok(api.get(f"/v1/services/{SERVICE}"))["data"]["attributes"]["users"]
        assert users["accounts"] == before + 1
        conn = pymysql.connect(**params.pymysql_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                assert cur.fetchone() == (f"{user}@%",)
        finally:
            conn.close()
    finally:
        sandbox.sql("server1", f"DROP USER IF EXISTS '{user}'@'%'")
    assert api.request("POST", "/v1/services/nope/reload").status == 404


def wait_for(path: Path, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            return text
        assert time.monotonic() < deadline, f"{needle!r} not in {path}"
        time.sleep(0.1)


def test_rotate_and_flush_reopen_the_log_file(start_proxy: ProxyFactory,
                                              tmp_path: Path) -> None:
    path = tmp_path / "interlock.log"
    api = dedicated(start_proxy, tmp_path, log_file=str(path))
    wait_for(path, "listening on")
    assert ok(api.get("/v1/maxscale"))["data"]["attributes"]["log"]["files"] == [str(path)]
    for number, action in enumerate(("rotate", "flush"), start=1):
        rotated = tmp_path / f"interlock.log.{number}"
        path.rename(rotated)
        ok(api.request("POST", f"/v1/maxscale/logs/{action}"), 204)
        new = wait_for(path, "notice : Log file reopened")
        assert "Log rotation requested through the admin API by 'admin'" in rotated.read_text()
        assert "listening on" not in new
