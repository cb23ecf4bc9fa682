"""Listeners in the shared configuration (``cluster=etcd``): two proxy processes on one host,
the session sandbox and a real 3-member etcd cluster.

- both instances serve the sandbox's listener, each on the port of its own file (the
  per-instance override of ``address``/``port``), while the store holds the bootstrapping
  instance's values;
- a listener created through A opens on B within seconds (on B's override port where B's
  file has one), a change through B of a key B overrides is refused with the reason, and a
  listener destroyed through A closes on B.
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi
from tests.integration.etcd_support import (
    EtcdCluster,
    etcd_cluster,  # noqa: F401  (the fixture)
    unique_prefix,
)
from tests.integration.rws_helpers import server_of
from tests.integration.test_cluster_config import cluster_config, stored
from tests.integration.test_runtime_listeners import accepts, connect, details, new_listener

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import LISTENER, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
WAIT = 10.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT:g}s: {what}")
        time.sleep(0.05)


def port_of(api: AdminApi, name: str) -> int | None:
    reply = api.get(f"/v1/listeners/{name}")
    return int(reply.body["data"]["attributes"]["parameters"]["port"]) if (
        reply.status == 200) else None


def test_shared_listeners_with_a_per_instance_port(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    prefix = unique_prefix(request.node.name[:20])
    text_a = cluster_config(sandbox, etcd_cluster, prefix, "a", tmp_path / "a")
    proxy_a = start_proxy(text_a)  # bootstraps the store
    extra_a, extra_b = find_free_port(), find_free_port()
    # B's file: its own port for the sandbox's listener, and for "Extra", which only the
    # store will define (B's file needs a valid section, so it names the service)
    text_b = cluster_config(sandbox, etcd_cluster, prefix, "b", tmp_path / "b") + (
        f"\n[Extra]\ntype=listener\nservice={SERVICE}\naddress={HOST}\nport={extra_b}\n")
    proxy_b: ProxyHandle = start_proxy(text_b)
    api_a, api_b = AdminApi.of_config(proxy_a.config_path), AdminApi.of_config(
        proxy_b.config_path)
    assert proxy_a.port != proxy_b.port
    for handle in (proxy_a, proxy_b):  # the shared listener, on each instance's own port
        with connect(sandbox, handle.port) as conn:
            assert server_of(conn.cursor()) >= 1
    assert int(stored(etcd_cluster, prefix, LISTENER)["port"]) == proxy_a.port
    assert port_of(api_b, LISTENER) == proxy_b.port
    assert port_of(api_b, "Extra") is None  # not in the store: B's section only overrides

    reply = api_a.request("POST", "/v1/listeners", body=new_listener("Extra", extra_a))
    assert reply.status == 204, reply.body
    eventually(lambda: accepts(extra_b), f"B opens Extra on its port {extra_b}")
    assert accepts(extra_a) and port_of(api_a, "Extra") == extra_a
    assert port_of(api_b, "Extra") == extra_b
    with connect(sandbox, extra_b) as conn:
        assert server_of(conn.cursor()) >= 1
    assert int(stored(etcd_cluster, prefix, "Extra")["port"]) == extra_a

    # B overrides the port: changing it through B is refused, and the store keeps A's
    reply = api_b.request("PATCH", "/v1/listeners/Extra", body={"data": {
        "attributes": {"parameters": {"port": find_free_port()}}}})
    assert reply.status == 409
    assert details(reply)[0].startswith("listener 'Extra': port on this instance comes from "
                                        "its own configuration file")
    assert int(stored(etcd_cluster, prefix, "Extra")["port"]) == extra_a

    # a change through B of a key it does not override reaches the store with A's port
    reply = api_b.request("PATCH", "/v1/listeners/Extra", body={"data": {
        "attributes": {"parameters": {"protocol": "mariadbclient"}}}})
    assert reply.status == 204, reply.body
    assert stored(etcd_cluster, prefix, "Extra") == {
        "type": "listener", "service": SERVICE, "port": str(extra_a), "address": HOST,
        "protocol": "mariadbclient"}

    reply = api_a.request("DELETE", "/v1/listeners/Extra")
    assert reply.status == 204, reply.body
    eventually(lambda: not accepts(extra_b), "B closes Extra")
    assert not accepts(extra_a)
