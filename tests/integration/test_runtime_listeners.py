"""Listeners created, moved, changed and destroyed at runtime (REST API and ``interlock ctl``)
against a real proxy process and the sandbox: the port opens or closes at once, sessions
connected through a listener outlive its move or removal, a port this host cannot bind is
refused with nothing changed, and the listeners are there again after a restart (persistdir).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi, Reply
from tests.integration.rws_helpers import server_of

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import LISTENER, SERVICE
from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"


def connect(sandbox: Sandbox, port: int) -> pymysql.Connection:
    params = sandbox.proxy_params(port=port, database="app").with_(host=HOST)
    return pymysql.connect(**params.pymysql_kwargs(), autocommit=True, connect_timeout=5)


def accepts(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection((HOST, port), timeout=2).close()
    except OSError:
        return False
    return True


def details(reply: Reply) -> list[str]:
    return [e["detail"] for e in reply.body["errors"]]


def new_listener(name: str, port: int, service: str = SERVICE) -> dict[str, object]:
    return {"data": {"id": name, "type": "listeners",
                     "attributes": {"parameters": {"port": port, "address": HOST}},
                     "relationships": {"services": {"data": [{"id": service,
                                                              "type": "services"}]}}}}


def ctl(handle: ProxyHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interlock", "ctl", "-c",
                           str(handle.config_path), *args],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def proxy(sandbox: Sandbox, start_proxy: ProxyFactory,
          tmp_path: Path) -> tuple[str, ProxyHandle, AdminApi, Path]:
    persistdir = tmp_path / "persist"
    text = sandbox.render_config(listener_port=find_free_port(), tls=False,
                                 overrides={"maxscale": {"persistdir": str(persistdir)}})
    handle = start_proxy(text)
    return text, handle, AdminApi.of_config(handle.config_path), persistdir


def test_a_listener_created_moved_and_destroyed_at_runtime(
        sandbox: Sandbox, proxy: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    _, _, api, persistdir = proxy
    port, moved = find_free_port(), find_free_port()

    reply = api.request("POST", "/v1/listeners", body=new_listener("Extra", port))
    assert reply.status == 204, reply.body
    listed = api.get("/v1/listeners/Extra").body["data"]["attributes"]
    assert listed["state"] == "Running" and listed["parameters"]["port"] == port
    first = connect(sandbox, port)
    assert server_of(first.cursor()) >= 1
    assert "type=listener" in (persistdir / "Extra.cnf").read_text()

    # moved: the new port accepts, the old one no longer does, the session goes on
    reply = api.request("PATCH", "/v1/listeners/Extra", body={"data": {
        "attributes": {"parameters": {"port": moved}}}})
    assert reply.status == 204, reply.body
    assert accepts(moved) and not accepts(port)
    assert server_of(first.cursor()) >= 1
    second = connect(sandbox, moved)

    # destroyed: the port closes, both sessions go on
    reply = api.request("DELETE", f"/v1/services/{SERVICE}/listeners/Extra")
    assert reply.status == 204, reply.body
    assert not accepts(moved)
    assert api.get("/v1/listeners/Extra").status == 404
    for conn in (first, second):
        assert server_of(conn.cursor()) >= 1
        conn.close()
    assert not (persistdir / "Extra.cnf").exists()


def test_a_port_this_host_cannot_bind_changes_nothing(
        sandbox: Sandbox, proxy: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    _, handle, api, persistdir = proxy
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        reply = api.request("POST", "/v1/listeners", body=new_listener("Clash", port))
        assert reply.status == 409
        assert details(reply) == [f"Listener 'Clash': cannot listen on {HOST}:{port}: Address "
                                  "already in use"]
        assert api.get("/v1/listeners/Clash").status == 404
        assert not (persistdir / "Clash.cnf").exists()
        # moving the sandbox's own listener there: refused, and it still listens where it did
        reply = api.request("PATCH", f"/v1/listeners/{LISTENER}", body={"data": {
            "attributes": {"parameters": {"port": port}}}})
        assert reply.status == 409, reply.body
        with connect(sandbox, handle.port) as conn:
            assert server_of(conn.cursor()) >= 1
    finally:
        taken.close()


def test_a_listener_changes_service_for_new_connections_only(
        sandbox: Sandbox, proxy: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    """The listener's socket stays; new connections get the new service (a readconnroute
    service with only one replica), connected ones keep theirs."""
    _, _, api, _ = proxy
    account = sandbox.spec.account(Role.SERVICE)
    replica = sandbox.servers[-1]
    reply = api.request("POST", "/v1/services", body={"data": {
        "id": "One-Replica", "type": "services",
        "attributes": {"router": "readconnroute", "parameters": {
            "user": account.user, "password": account.password,
            "router_options": "running"}},
        "relationships": {"servers": {"data": [{"id": replica.name, "type": "servers"}]}}}})
    assert reply.status == 204, reply.body
    port = find_free_port()
    assert api.request("POST", "/v1/listeners", body=new_listener("Flip", port)).status == 204
    before = connect(sandbox, port)
    before.cursor().execute("CREATE TEMPORARY TABLE t (i INT)")  # a session to keep
    reply = api.request("PATCH", "/v1/listeners/Flip", body={"data": {
        "relationships": {"services": {"data": [{"id": "One-Replica",
                                                 "type": "services"}]}}}})
    assert reply.status == 204, reply.body
    assert api.get("/v1/listeners/Flip").body["data"]["relationships"]["services"][
        "data"][0]["id"] == "One-Replica"
    ids = set()
    for _ in range(4):
        with connect(sandbox, port) as conn:
            ids.add(server_of(conn.cursor(), "SELECT @@server_id, @@read_only"))
    assert ids == {len(sandbox.servers)}  # readconnroute to the one replica
    cur = before.cursor()
    cur.execute("SELECT COUNT(*) FROM t")  # still the old session (its temporary table)
    assert cur.fetchone() == (0,)
    before.close()
    assert api.request("DELETE", "/v1/listeners/Flip").status == 204
    assert api.request("DELETE", "/v1/services/One-Replica").status == 204


def test_ctl_creates_and_destroys_listeners_and_they_survive_a_restart(
        sandbox: Sandbox, start_proxy: ProxyFactory,
        proxy: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    text, handle, _, _ = proxy
    port = find_free_port()
    done = ctl(handle, "create", "listener", SERVICE, "ByCtl", str(port), "--interface", HOST)
    assert done.returncode == 0, done.stderr
    with connect(sandbox, port) as conn:
        assert server_of(conn.cursor()) >= 1
    handle.stop()
    again = start_proxy(text)
    with connect(sandbox, port) as conn:  # read back from persistdir
        assert server_of(conn.cursor()) >= 1
    done = ctl(again, "destroy", "listener", "Another-Service", "ByCtl")
    assert done.returncode == 1 and "belongs to service" in done.stderr
    done = ctl(again, "destroy", "listener", SERVICE, "ByCtl")
    assert done.returncode == 0, done.stderr
    assert not accepts(port)
