"""Runtime changes through the REST API against a real proxy process and the sandbox: a server
created, linked to the monitor and the service takes reads; service parameters (a router one
for new sessions only), a server's weight and monitor parameters change without a restart;
bad values get the loader's error and change nothing; everything is still there after a
restart (read back from persistdir); a server in use cannot be destroyed unless forced; a main
file server destroyed stays destroyed; monitors and services are created and destroyed.

The proxy has a private config (the session sandbox with its third server left out of the
config, so the test can add it) and a private ``persistdir``: the sandbox's shared ``datadir``
must not collect runtime changes other proxies would read at their start.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi, Reply
from tests.integration.rws_helpers import connect, server_of, session

from interlock.config.loader import parse_text
from interlock.errors import ConfigError
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

SESSIONS, READS = 8, 5
WAIT = 20.0  # seconds: longest wait for the monitor to see a new server


def private_config(sandbox: Sandbox, persistdir: Path) -> str:
    """The sandbox's readwritesplit config without its last server, with ``persistdir``."""
    kept = ",".join(s.name for s in sandbox.servers[:-1])
    return sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        "maxscale": {"persistdir": str(persistdir)},
        sandbox.servers[-1].name: None,
        MONITOR: {"servers": kept},
        SERVICE: {"router": "readwritesplit", "servers": kept},
    })


def reads(sandbox: Sandbox, handle: ProxyHandle) -> set[int]:
    """The server ids that SESSIONS x READS plain reads reached, each session opened anew."""
    seen: set[int] = set()
    for _ in range(SESSIONS):
        with session(sandbox, handle) as cur:
            seen |= {server_of(cur) for _ in range(READS)}
    return seen


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g}s: {what}")
        time.sleep(0.2)


def state(api: AdminApi, server: str) -> str:
    reply = api.get(f"/v1/servers/{server}")
    return str(reply.body["data"]["attributes"]["state"]) if reply.status == 200 else ""


def details(reply: Reply) -> list[str]:
    return [e["detail"] for e in reply.body["errors"]]


def members(*names: str) -> dict[str, Any]:
    return {"data": [{"id": name, "type": "servers"} for name in names]}


def file_error(config_text: str, section: str, key: str, value: str) -> str:
    """The loader's message for ``key=value`` in ``[section]`` of a file, from the section
    name on (without ``FILE:LINE: ``)."""
    marker = f"[{section}]\n"
    at = config_text.index(marker) + len(marker)
    text = config_text[:at] + f"{key}={value}\n" + config_text[at:]
    with pytest.raises(ConfigError) as caught:
        parse_text(text, "/nonexistent/x.cnf")
    line = next(e for e in str(caught.value).splitlines() if f"'{key}'" in e)
    return line.split(": ", 1)[1]


@pytest.fixture
def setup(sandbox: Sandbox, start_proxy: ProxyFactory,
          tmp_path: Path) -> tuple[str, ProxyHandle, AdminApi, Path]:
    persistdir = tmp_path / "persist"
    text = private_config(sandbox, persistdir)
    handle = start_proxy(text)
    return text, handle, AdminApi.of_config(handle.config_path), persistdir


def test_runtime_changes_apply_at_once_and_survive_a_restart(
        sandbox: Sandbox, start_proxy: ProxyFactory,
        setup: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    text, handle, api, persistdir = setup
    extra = sandbox.servers[-1]
    extra_id = len(sandbox.servers)
    kept = [s.name for s in sandbox.servers[:-1]]
    assert extra_id not in reads(sandbox, handle)

    # create the server; linking it to the service first is refused: the monitor does not
    # watch it, and the service routes by the monitor's roles
    reply = api.request("POST", "/v1/servers", body={"data": {
        "id": extra.name, "type": "servers",
        "attributes": {"parameters": {"address": extra.host, "port": extra.port,
                                      "protocol": "MariaDBBackend"}}}})
    assert reply.status == 204, reply.body
    reply = api.request("PATCH", f"/v1/services/{SERVICE}/relationships/servers",
                        body=members(*kept, extra.name))
    assert reply.status == 403
    assert f"link the servers to '{MONITOR}' first" in details(reply)[0]
    assert not (persistdir / f"{SERVICE}.cnf").exists()

    for path in (f"/v1/monitors/{MONITOR}/relationships/servers",
                 f"/v1/services/{SERVICE}/relationships/servers"):
        reply = api.request("PATCH", path, body=members(*kept, extra.name))
        assert reply.status == 204, reply.body
    eventually(lambda: "Slave" in state(api, extra.name), f"{extra.name} is a Slave")
    eventually(lambda: extra_id in reads(sandbox, handle), f"reads reach {extra.name}")
    with session(sandbox, handle) as cur:
        hint = f"SELECT @@server_id -- interlock route to server {extra.name}"
        assert server_of(cur, hint) == extra_id

    # a service parameter: new sessions see it
    reply = api.request("PATCH", f"/v1/services/{SERVICE}", body={"data": {
        "attributes": {"parameters": {"version_string": "10.11.99-runtime"}}}})
    assert reply.status == 204, reply.body
    conn = connect(sandbox, handle)
    assert conn.get_server_info() == "10.11.99-runtime"
    conn.close()

    # a router parameter: new sessions use it, a running session keeps its own settings
    with session(sandbox, handle) as running:
        assert server_of(running) != 1
        reply = api.request("PATCH", f"/v1/services/{SERVICE}", body={"data": {
            "attributes": {"parameters": {"max_slave_connections": 0}}}})
        assert reply.status == 204, reply.body
        assert reads(sandbox, handle) == {1}  # no replica connection: reads on the primary
        assert server_of(running) != 1
    reply = api.request("PATCH", f"/v1/services/{SERVICE}", body={"data": {
        "attributes": {"parameters": {"max_slave_connections": None}}}})
    assert reply.status == 204, reply.body

    # a server parameter: weight 0 keeps reads off a server (the monitor publishes it)
    reply = api.request("PATCH", f"/v1/servers/{kept[1]}", body={"data": {
        "attributes": {"parameters": {"weight": 0}}}})
    assert reply.status == 204, reply.body
    eventually(lambda: reads(sandbox, handle) == {extra_id}, f"reads only on {extra.name}")

    # a monitor parameter: the monitor ticks at the new interval
    reply = api.request("PATCH", f"/v1/monitors/{MONITOR}", body={"data": {
        "attributes": {"parameters": {"monitor_interval": "1s", "auto_rejoin": True}}}})
    assert reply.status == 204, reply.body
    assert f"Monitor '{MONITOR}' reconfigured: {', '.join([*kept, extra.name])} every 1s" \
        in handle.log_text()

    # bad values: the loader's own error text, and nothing changes
    saved = {p.name: p.read_text() for p in persistdir.iterdir()}
    reply = api.request("PATCH", f"/v1/monitors/{MONITOR}", body={"data": {
        "attributes": {"parameters": {"monitor_interval": 5000}}}})
    assert reply.status == 400
    assert details(reply) == ["runtime change: "
                              + file_error(text, MONITOR, "monitor_interval", "5000")]
    assert details(reply)[0].startswith(f"runtime change: [{MONITOR}] invalid value for "
                                        "'monitor_interval': '5000' has no unit")
    reply = api.request("PATCH", f"/v1/servers/{extra.name}", body={"data": {
        "attributes": {"parameters": {"port": "abc", "weigth": 2}}}})
    assert reply.status == 400
    assert details(reply) == [
        f"runtime change: [{extra.name}] invalid value for 'port': 'abc' is not an integer; "
        "expected an integer from 1 to 65535",
        f"runtime change: [{extra.name}] unknown parameter 'weigth'; did you mean 'weight'?"]
    assert {p.name: p.read_text() for p in persistdir.iterdir()} == saved
    assert extra_id in reads(sandbox, handle)

    # a server in use is not destroyed
    reply = api.request("DELETE", f"/v1/servers/{extra.name}")
    assert reply.status == 403
    assert f"server '{extra.name}' is used by monitor '{MONITOR}', service '{SERVICE}'" \
        in details(reply)[0]

    # what was saved: one file per object, private when it holds a password
    modes = {name: stat.S_IMODE((persistdir / name).stat().st_mode) for name in saved}
    assert modes == {f"{extra.name}.cnf": 0o644, f"{kept[1]}.cnf": 0o644,
                     f"{MONITOR}.cnf": 0o600, f"{SERVICE}.cnf": 0o600}

    # restart: the main file is unchanged, the changes come back from persistdir
    assert handle.config_path.read_text() == text
    handle.stop()
    again = start_proxy(text)
    assert again.config_path == handle.config_path
    assert f"Monitor '{MONITOR}' started: {', '.join([*kept, extra.name])} every 1s" \
        in again.log_text()
    eventually(lambda: reads(sandbox, again) == {extra_id}, f"reads only on {extra.name}")
    conn = connect(sandbox, again)
    assert conn.get_server_info() == "10.11.99-runtime"
    conn.close()

    # forced: unlinked from the monitor and the service, then gone (its file too)
    api = AdminApi.of_config(again.config_path)
    reply = api.request("DELETE", f"/v1/servers/{extra.name}?force=yes")
    assert reply.status == 204, reply.body
    assert api.get(f"/v1/servers/{extra.name}").status == 404
    assert not (persistdir / f"{extra.name}.cnf").exists()
    assert extra_id not in reads(sandbox, again)


def test_a_main_file_server_destroyed_stays_destroyed(
        sandbox: Sandbox, start_proxy: ProxyFactory,
        setup: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    text, handle, api, persistdir = setup
    replica = sandbox.servers[-2]
    reply = api.request("DELETE", f"/v1/servers/{replica.name}?force=yes")
    assert reply.status == 204, reply.body
    assert api.get(f"/v1/servers/{replica.name}").status == 404
    assert reads(sandbox, handle) == {1}  # no replica left: reads on the primary
    tomb = (persistdir / f"{replica.name}.cnf").read_text()
    assert tomb.splitlines()[2:] == [f"[{replica.name}]", "type=server", "destroyed=true"]
    handle.stop()
    again = start_proxy(text)
    assert f"[{replica.name}] of {again.config_path}:" in again.log_text()
    api = AdminApi.of_config(again.config_path)
    assert api.get(f"/v1/servers/{replica.name}").status == 404
    assert reads(sandbox, again) == {1}


def test_router_changes_are_refused(
        setup: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    _, _, api, persistdir = setup
    reply = api.request("PATCH", f"/v1/services/{SERVICE}", body={"data": {
        "attributes": {"router": "readconnroute"}}})
    assert reply.status == 403
    assert details(reply) == [f"[{SERVICE}] router cannot be changed at runtime (it is "
                              "readwritesplit); destroy the service and create it again"]
    reply = api.request("PATCH", "/v1/servers/nope", body={"data": {
        "attributes": {"parameters": {"port": 1}}}})
    assert reply.status == 404
    reply = api.request("PATCH", f"/v1/monitors/{MONITOR}",
                        body={"data": {"attributes": {"parameters": {"failcount": 3}}}},
                        auth=None)
    assert reply.status == 401
    assert not persistdir.exists()


def test_create_and_destroy_a_monitor_and_a_service(
        sandbox: Sandbox, setup: tuple[str, ProxyHandle, AdminApi, Path]) -> None:
    _, handle, api, persistdir = setup
    extra = sandbox.servers[-1]
    monitor, service = sandbox.spec.account(Role.MONITOR), sandbox.spec.account(Role.SERVICE)
    reply = api.request("POST", "/v1/servers", body={"data": {
        "id": extra.name, "attributes": {"parameters": {"address": extra.host,
                                                        "port": extra.port}}}})
    assert reply.status == 204, reply.body
    reply = api.request("POST", "/v1/monitors", body={"data": {
        "id": "Mon2", "type": "monitors",
        "attributes": {"module": "mariadbmon", "parameters": {
            "user": monitor.user, "password": monitor.password, "monitor_interval": "1s"}},
        "relationships": {"servers": members(extra.name)}}})
    assert reply.status == 204, reply.body
    assert "Monitor 'Mon2' started: " + extra.name in handle.log_text()
    eventually(lambda: "Running" in state(api, extra.name), f"Mon2 sees {extra.name}")

    reply = api.request("POST", "/v1/services", body={"data": {
        "id": "Svc2", "type": "services",
        "attributes": {"router": "readconnroute", "parameters": {
            "user": service.user, "password": service.password, "router_options": "slave"}},
        "relationships": {"servers": members(extra.name)}}})
    assert reply.status == 204, reply.body
    assert "Service 'Svc2': loaded" in handle.log_text()
    assert sorted(p.name for p in persistdir.iterdir()) == ["Mon2.cnf", "Svc2.cnf",
                                                            f"{extra.name}.cnf"]

    reply = api.request("DELETE", "/v1/monitors/Mon2")
    assert reply.status == 403
    assert details(reply) == [
        "service 'Svc2' routes by the roles monitor 'Mon2' gives its servers; after this "
        "change monitor 'Mon2' would be gone: link the servers to 'Mon2' first (or unlink "
        "them from the service)"]
    for path in ("/v1/services/Svc2", "/v1/monitors/Mon2", f"/v1/servers/{extra.name}"):
        reply = api.request("DELETE", path)
        assert reply.status == 204, (path, reply.body)
    assert "Monitor 'Mon2' stopped" in handle.log_text()
    assert list(persistdir.iterdir()) == []


def test_persist_runtime_changes_false_applies_without_saving(
        sandbox: Sandbox, start_proxy: ProxyFactory, tmp_path: Path) -> None:
    persistdir = tmp_path / "persist"
    text = private_config(sandbox, persistdir).replace(
        "[maxscale]\n", "[maxscale]\npersist_runtime_changes=false\n")
    handle = start_proxy(text)
    api = AdminApi.of_config(handle.config_path)
    reply = api.request("PATCH", f"/v1/monitors/{MONITOR}", body={"data": {
        "attributes": {"parameters": {"monitor_interval": "1500ms"}}}})
    assert reply.status == 204, reply.body
    shown = api.get(f"/v1/monitors/{MONITOR}").body["data"]["attributes"]["parameters"]
    assert shown["monitor_interval"] == 1.5
    assert not persistdir.exists() or not any(persistdir.iterdir())
    handle.stop()
    again = AdminApi.of_config(start_proxy(text).config_path)
    shown = again.get(f"/v1/monitors/{MONITOR}").body["data"]["attributes"]["parameters"]
    assert shown["monitor_interval"] == 2.0
