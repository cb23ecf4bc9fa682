"""readconnroute: one server per session, chosen at login by ``router_options``; no parsing
(everything of a session runs on that server, writes included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import _stop_proxy, launch_proxy
from tests.integration.rws_helpers import PRIMARY_ID, replica_ids, server_of, session

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration


def _start(sandbox: Sandbox, directory: Path, **params: str) -> ProxyHandle:
    overrides = {SERVICE: {"router": "readconnroute", **params}}
    text = sandbox.render_config(listener_port=find_free_port(), tls=False, overrides=overrides)
    return launch_proxy(directory, text)


@pytest.fixture
def connroute(sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
              ) -> Iterator[ProxyHandle]:
    handle = _start(sandbox, tmp_path, **request.param)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


def _servers_of_sessions(sandbox: Sandbox, proxy: ProxyHandle, n: int = 8) -> list[int]:
    seen = []
    for _ in range(n):
        with session(sandbox, proxy) as cur:
            first = server_of(cur)
            assert {server_of(cur) for _ in range(3)} == {first}  # the whole session there
            seen.append(first)
    return seen


@pytest.mark.parametrize("connroute", [{"router_options": "master"}], indirect=True)
def test_master_sends_every_session_to_the_primary(sandbox: Sandbox,
                                                   connroute: ProxyHandle) -> None:
    assert set(_servers_of_sessions(sandbox, connroute)) == {PRIMARY_ID}


@pytest.mark.parametrize("connroute", [{"router_options": "slave"}], indirect=True)
def test_slave_spreads_sessions_over_the_replicas(sandbox: Sandbox,
                                                  connroute: ProxyHandle) -> None:
    assert set(_servers_of_sessions(sandbox, connroute)) == replica_ids(sandbox)


@pytest.mark.parametrize("connroute", [{}], indirect=True)
def test_running_is_the_default_and_uses_every_server(sandbox: Sandbox,
                                                      connroute: ProxyHandle) -> None:
    seen = _servers_of_sessions(sandbox, connroute, n=9)
    assert set(seen) == {PRIMARY_ID} | replica_ids(sandbox)


@pytest.mark.parametrize("connroute", [{"router_options": "slave"}], indirect=True)
def test_no_statement_parsing_writes_stay_on_the_session_server(
        sandbox: Sandbox, connroute: ProxyHandle) -> None:
    with session(sandbox, connroute) as cur:
        # a replica of the sandbox is not read-only: the write really runs there
        cur.execute("CREATE TEMPORARY TABLE rcr_tmp (id INT)")
        cur.execute("INSERT INTO rcr_tmp VALUES (@@server_id)")
        cur.execute("SELECT id FROM rcr_tmp")
        assert cur.fetchone()[0] in replica_ids(sandbox)
