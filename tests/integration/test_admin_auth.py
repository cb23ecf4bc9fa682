"""The admin API's authentication: no default password (a generated one in a 0600 file),
Basic and token auth on every resource, read-only accounts refused on writes."""

from __future__ import annotations

import stat

import pytest
from tests.integration.admin_support import AdminApi

from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


def test_the_generated_admin_password_is_private_and_works(api: AdminApi) -> None:
    path = api.datadir / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((api.datadir / "passwd").stat().st_mode) == 0o600
    user, password = api.admin
    assert user == "admin" and len(password) >= 20
    reply = api.get("/v1/servers")
    assert reply.status == 200
    assert [s["id"] for s in reply.body["data"]] == ["server1", "server2", "server3"]


@pytest.mark.parametrize("path", ["/v1/", "/v1/servers", "/v1/servers/server1", "/servers"])
def test_no_credentials_or_wrong_ones_get_401(api: AdminApi, path: str) -> None:
    anonymous = api.get(path, auth=None)
    assert anonymous.status == 401
    assert anonymous.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert "authentication required" in anonymous.body["errors"][0]["detail"]
    assert api.get(path, auth=("admin", "not-the-password")).status == 401
    assert api.get(path, auth=("nobody", api.admin[1])).status == 401


def test_a_token_works_until_it_is_tampered_with(api: AdminApi) -> None:
    reply = api.get("/v1/auth?max-age=60")
    assert reply.status == 200 and reply.body["meta"]["max_age"] == 60
    token = reply.body["meta"]["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/servers", auth=None, headers=bearer).status == 200
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    assert api.get("/v1/servers", auth=None,
                   headers={"Authorization": f"Bearer {forged}"}).status == 401


def test_a_monitored_server_shows_its_replication_state(api: AdminApi) -> None:
    servers = {s["id"]: s["attributes"] for s in api.get("/v1/servers").body["data"]}
    assert servers["server1"]["state"] == "Master, Running"
    assert servers["server2"]["state"] == "Slave, Running"
    assert servers["server1"]["read_only"] is False and servers["server2"]["read_only"] is True
    assert servers["server1"]["gtid_binlog_pos"].startswith("0-")
    assert servers["server2"]["slave_connections"][0]["slave_sql_running"] is True
    assert servers["server1"]["statistics"]["connections"] >= 0
