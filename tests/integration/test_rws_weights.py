"""The server parameter ``weight`` (Interlock-specific) with static roles (no monitor): a
replica with ``weight=0`` never takes a read; the other replica takes them all; a routing
hint still reaches the weight-0 server.  ``@@server_id``: primary 1, replicas 2 and 3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import _stop_proxy, launch_proxy
from tests.integration.rws_helpers import (
    PRIMARY_ID,
    replica_ids,
    server_of,
    session,
    start_rws,
)

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

SESSIONS, READS = 8, 5


def _reads(sandbox: Sandbox, handle: ProxyHandle) -> list[int]:
    """The servers of SESSIONS x READS plain reads, each session opened anew."""
    seen: list[int] = []
    for _ in range(SESSIONS):
        with session(sandbox, handle) as cur:
            seen += [server_of(cur) for _ in range(READS)]
    return seen


@pytest.fixture(scope="module")
def weightless(sandbox: Sandbox,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyHandle, int]]:
    """A readwritesplit proxy, static roles, the first replica with ``weight=0``; yields the
    proxy and that replica's server id."""
    replica = sandbox.replicas[0]
    text = sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        SERVICE: {"router": "readwritesplit"}, MONITOR: None, replica.name: {"weight": "0"}})
    handle = launch_proxy(tmp_path_factory.mktemp("weights"), text)
    try:
        yield handle, sandbox.servers.index(replica) + 1
    finally:
        _stop_proxy(handle)


def test_weight_zero_keeps_reads_off_a_replica(sandbox: Sandbox,
                                               weightless: tuple[ProxyHandle, int]) -> None:
    handle, excluded = weightless
    assert excluded in replica_ids(sandbox)
    seen = _reads(sandbox, handle)
    assert set(seen) == replica_ids(sandbox) - {excluded}


def test_weight_zero_server_still_reached_by_a_hint(sandbox: Sandbox,
                                                   weightless: tuple[ProxyHandle, int]) -> None:
    handle, excluded = weightless
    name = sandbox.replicas[0].name
    with session(sandbox, handle) as cur:
        assert server_of(cur, f"SELECT @@server_id -- interlock route to server {name}") \
            == excluded
        assert server_of(cur, "SELECT @@server_id FOR UPDATE") == PRIMARY_ID
        assert server_of(cur) != excluded


def test_without_weights_both_replicas_take_reads(sandbox: Sandbox,
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    """The contrast: the same reads with default weights reach both replicas (so the first
    test could fail)."""
    handle = start_rws(sandbox, tmp_path_factory.mktemp("no-weights"), monitor=False)
    try:
        assert set(_reads(sandbox, handle)) == replica_ids(sandbox)
    finally:
        _stop_proxy(handle)
