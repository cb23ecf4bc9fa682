"""``/v1/advisor`` and ``interlock ctl advise``: the advisor's Method 2 report of a running
proxy, from sessions with known outcomes, with each server's wait_timeout and max_connections
as the monitor read them."""

from __future__ import annotations

import subprocess
import sys

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE

pytestmark = pytest.mark.integration


def test_the_report_counts_this_proxys_sessions(
    sandbox: Sandbox, start_proxy: ProxyFactory
) -> None:
    handle = start_proxy(tls=False)
    api = AdminApi.of_config(handle.config_path)
    params = sandbox.proxy_params(port=handle.port)
    conns = [
        pymysql.connect(
            host=handle.host,
            port=handle.port,
            user=params.user,
            password=params.password,
            database=params.database,
        )
        for _ in range(3)
    ]
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    conns[0].close()
    conns[1].close()  # COM_QUIT, twice; the third stays open
    try:
        reply = api.get(f"/v1/advisor/{SERVICE}")
        assert reply.status == 200, reply.body
        report = reply.body["data"]["attributes"]
        assert report["service"] == SERVICE
        sessions = report["sessions"]
        assert (sessions["opened"], sessions["open_now"]) == (3, 1)
        assert sessions["closed_by"] == {"client quit": 2}, sessions
        expected = {}
        for server in sandbox.servers:
            with (pymysql.connect(**sandbox.params(server).pymysql_kwargs()) as direct,
                  direct.cursor() as cur):
                cur.execute("SELECT @@global.wait_timeout, @@global.max_connections")
                expected[server.name] = tuple(cur.fetchone())
        shown = {b["name"]: (b["wait_timeout"], b["max_connections"]) for b in report["backends"]}
        assert shown == expected
        listed = api.get("/v1/advisor").body["data"]
        assert [r["id"] for r in listed] == [SERVICE]

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "interlock",
                "ctl",
                "-c",
                str(handle.config_path),
                "advise",
                SERVICE,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"service {SERVICE}" in done.stdout
        assert "sessions: 3 opened, 2 closed" in done.stdout
        missing = subprocess.run(
            [
                sys.executable,
                "-m",
                "interlock",
                "ctl",
                "-c",
                str(handle.config_path),
                "advise",
                "no-such-service",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert missing.returncode == 1 and "no-such-service" in missing.stderr
    finally:
        conns[2].close()
