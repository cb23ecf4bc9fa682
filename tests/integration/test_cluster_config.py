"""The shared configuration (``cluster=etcd``): two proxy processes on the session sandbox and a
real 3-member etcd cluster.

- a server created and linked through instance A is in instance B's configuration and takes
  B's reads, without anything done on B; A applied the change once (at its commit), B once
  (from the watch);
- concurrent edits of one object through A and B: either one is refused with 409 (the
  compare-and-swap saw the other) or, when one came after the other was applied, both
  succeed and the object holds both edits: never a silently lost update;
- both instances restarted together come back with the store's configuration, and a file
  that differs from it does not override it (it only bootstrapped the empty store);
- an instance cut off from etcd refuses changes (503) and keeps routing; it takes changes
  again when etcd is back, also when an object changed and changed back meanwhile;
- two stores bootstrapping the same empty prefix at once: one file's objects win, both load
  the same configuration;
- a watch that must resume from a compacted revision reloads the whole prefix.

Each test uses its own etcd prefix (its own store).  The config drops the sandbox's last
server, which the first test adds at runtime.
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi, Reply
from tests.integration.etcd_support import (
    EtcdCluster,
    TcpRelay,
    etcd_cluster,  # noqa: F401  (the fixture)
    run,
    unique_prefix,
)
from tests.integration.rws_helpers import server_of, session

from interlock.cluster import EtcdClient
from interlock.cluster.config_store import ConfigStore, Snapshot, object_key, same_objects
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import IniEntry, IniSection, parse_ini
from interlock.config.layers import Layers, Placed
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

WAIT = 20.0  # seconds: longest wait for a monitor to see a new server
SESSIONS, READS = 8, 5


def cluster_config(sandbox: Sandbox, etcd: EtcdCluster, prefix: bytes, name: str,
                   persistdir: Path, **service: str) -> str:
    kept = ",".join(s.name for s in sandbox.servers[:-1])
    return sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        "maxscale": {"persistdir": str(persistdir), "cluster": "etcd",
                     "etcd_endpoints": ",".join(etcd.endpoints),
                     "etcd_prefix": prefix.decode(), "instance_name": name},
        sandbox.servers[-1].name: None,
        MONITOR: {"servers": kept},
        SERVICE: {"router": "readwritesplit", "servers": kept, **service},
    })


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
    """Wait for ``check``; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def reads(sandbox: Sandbox, handle: ProxyHandle) -> set[int]:
    seen: set[int] = set()
    for _ in range(SESSIONS):
        with session(sandbox, handle) as cur:
            seen |= {server_of(cur) for _ in range(READS)}
    return seen


def members(*names: str) -> dict[str, Any]:
    return {"data": [{"id": name, "type": "servers"} for name in names]}


def parameters(api: AdminApi, kind: str, name: str) -> dict[str, Any]:
    reply = api.get(f"/v1/{kind}/{name}")
    assert reply.status == 200, reply.body
    return dict(reply.body["data"]["attributes"]["parameters"])


def linked(api: AdminApi, service: str) -> list[str]:
    reply = api.get(f"/v1/services/{service}")
    assert reply.status == 200, reply.body
    return [m["id"] for m in reply.body["data"]["relationships"]["servers"]["data"]]


def stored(etcd: EtcdCluster, prefix: bytes, name: str) -> dict[str, str]:
    """Object ``name``'s section as etcd holds it."""
    async def get() -> bytes:
        async with EtcdClient(etcd.settings()) as client:
            kv = await client.get(object_key(prefix, name))
            assert kv is not None, f"{name} is not in etcd"
            return kv.value
    (section,) = parse_ini(run(get()).decode(), Diagnostics("etcd"))
    return {e.key: e.value for e in section.entries}


def patch(api: AdminApi, kind: str, name: str, params: dict[str, Any]) -> Reply:
    return api.request("PATCH", f"/v1/{kind}/{name}",
                       body={"data": {"attributes": {"parameters": params}}})


@pytest.fixture
def pair(sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
         tmp_path: Path, request: pytest.FixtureRequest
         ) -> tuple[bytes, list[str], list[ProxyHandle], list[AdminApi]]:
    prefix = unique_prefix(request.node.name[:20])
    texts = [cluster_config(sandbox, etcd_cluster, prefix, name, tmp_path / name)
             for name in ("a", "b")]
    handles = [start_proxy(text) for text in texts]
    return prefix, texts, handles, [AdminApi.of_config(h.config_path) for h in handles]


def test_a_server_added_through_a_is_routable_through_b(
        sandbox: Sandbox, etcd_cluster: EtcdCluster,
        pair: tuple[bytes, list[str], list[ProxyHandle], list[AdminApi]]) -> None:
    prefix, _, (proxy_a, proxy_b), (api_a, api_b) = pair
    assert "bootstrapped from" in proxy_a.log_text()
    assert "Configuration loaded from etcd" in proxy_b.log_text()
    extra = sandbox.servers[-1]
    extra_id = len(sandbox.servers)
    kept = [s.name for s in sandbox.servers[:-1]]
    assert extra_id not in reads(sandbox, proxy_b)
    assert api_b.get(f"/v1/servers/{extra.name}").status == 404

    reply = api_a.request("POST", "/v1/servers", body={"data": {
        "id": extra.name, "type": "servers",
        "attributes": {"parameters": {"address": extra.host, "port": extra.port,
                                      "protocol": "MariaDBBackend"}}}})
    assert reply.status == 204, reply.body
    took = eventually(lambda: api_b.get(f"/v1/servers/{extra.name}").status == 200,
                      f"B knows {extra.name}")
    print(f"B had the new server {took:.3f}s after A's answer")
    for path in (f"/v1/monitors/{MONITOR}/relationships/servers",
                 f"/v1/services/{SERVICE}/relationships/servers"):
        reply = api_a.request("PATCH", path, body=members(*kept, extra.name))
        assert reply.status == 204, reply.body
    took = eventually(lambda: extra.name in linked(api_b, SERVICE),
                      "B's service has the new server")
    print(f"B's service had the new server {took:.3f}s after A's answer")
    eventually(lambda: extra_id in reads(sandbox, proxy_b), f"B's reads reach {extra.name}")
    with session(sandbox, proxy_b) as cur:
        hint = f"SELECT @@server_id -- interlock route to server {extra.name}"
        assert server_of(cur, hint) == extra_id
    assert stored(etcd_cluster, prefix, SERVICE)["servers"] == ",".join([*kept, extra.name])

    # A applied each of its three changes once, at its commit, and not again from the watch;
    # B applied them from the watch, each revision at most once, in order (changes that
    # arrive together are applied together), ending with A's last one
    log_a, log_b = proxy_a.log_text(), proxy_b.log_text()
    committed = [int(r) for r in re.findall(r"\(shared configuration revision (\d+)\)", log_a)]
    assert len(committed) == 3
    assert "Shared configuration revision" not in log_a
    applied = [int(r) for r in re.findall(r"Shared configuration revision (\d+) applied", log_b)]
    assert applied == sorted(set(applied))
    assert applied[-1] == committed[-1]
    assert "(shared configuration revision" not in log_b


def test_concurrent_edits_never_lose_one(
        sandbox: Sandbox, etcd_cluster: EtcdCluster,
        pair: tuple[bytes, list[str], list[ProxyHandle], list[AdminApi]]) -> None:
    prefix, _, _, (api_a, api_b) = pair
    conflicts = 0
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for attempt in range(10):
            barrier = threading.Barrier(2)

            def edit(api: AdminApi, params: dict[str, Any],
                     barrier: threading.Barrier = barrier) -> Reply:
                barrier.wait()
                return patch(api, "services", SERVICE, params)
            version = f"10.11.{attempt}-a"
            keepalive = f"{100 + attempt}s"
            first = pool.submit(edit, api_a, {"version_string": version})
            second = pool.submit(edit, api_b, {"connection_keepalive": keepalive})
            a, b = first.result(), second.result()
            statuses = sorted((a.status, b.status))
            assert statuses in ([204, 204], [204, 409]), (a.body, b.body)
            section = stored(etcd_cluster, prefix, SERVICE)
            if statuses == [204, 409]:
                conflicts += 1
                loser = a if a.status == 409 else b
                detail = loser.body["errors"][0]["detail"]
                assert detail.startswith("the configuration changed meanwhile (revision ")
                assert detail.endswith("; retry")
                # only the winner's edit is in etcd
                if a.status == 204:
                    assert section["version_string"] == version
                    assert section.get("connection_keepalive") != keepalive
                else:
                    assert section["connection_keepalive"] == keepalive
                    assert section.get("version_string") != version
            else:  # one came after the other was applied: both edits are there
                assert section["version_string"] == version
                assert section["connection_keepalive"] == keepalive
            # both instances end with the same service
            eventually(lambda: (parameters(api_a, "services", SERVICE)
                                == parameters(api_b, "services", SERVICE)),
                       "both instances run the same service")
    print(f"{conflicts} conflicts in 10 attempts")
    assert conflicts > 0


def test_restarted_instances_come_back_with_the_store(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        pair: tuple[bytes, list[str], list[ProxyHandle], list[AdminApi]],
        tmp_path: Path) -> None:
    prefix, texts, handles, (api_a, _) = pair
    reply = patch(api_a, "services", SERVICE, {"version_string": "10.11.77-shared"})
    assert reply.status == 204, reply.body
    reply = patch(api_a, "servers", sandbox.servers[1].name, {"weight": 3})
    assert reply.status == 204, reply.body
    for handle in handles:
        handle.stop()

    # B's file now says something else about the service: it must not win
    changed = cluster_config(sandbox, etcd_cluster, prefix, "b", tmp_path / "b",
                             version_string="10.11.1-file")
    again = [start_proxy(texts[0]), start_proxy(changed)]
    for handle in again:
        api = AdminApi.of_config(handle.config_path)
        assert parameters(api, "services", SERVICE)["version_string"] == "10.11.77-shared"
        assert float(parameters(api, "servers", sandbox.servers[1].name)["weight"]) == 3
        assert "Configuration loaded from etcd" in handle.log_text()
    assert f"defines these objects differently from the shared configuration, which wins: " \
           f"{SERVICE}" in again[1].log_text()
    with session(sandbox, again[1]) as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)


def test_an_instance_cut_off_from_etcd_refuses_changes_and_keeps_routing(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        tmp_path: Path) -> None:
    prefix = unique_prefix("cutoff")
    with TcpRelay(etcd_cluster.members[0].client_port) as relay:
        text = cluster_config(sandbox, etcd_cluster, prefix, "c", tmp_path / "c")
        text = text.replace(f"etcd_endpoints={','.join(etcd_cluster.endpoints)}",
                            f"etcd_endpoints={relay.url()}")
        assert relay.url() in text
        handle = start_proxy(text)
        api = AdminApi.of_config(handle.config_path)
        relay.cut("reset")
        # the relay accepts and resets, so the instance cannot know whether the write
        # arrived (EtcdOutcomeUnknown) or sees no etcd at all: refused either way
        for _ in range(2):
            reply = patch(api, "services", SERVICE, {"version_string": "10.11.5-cut"})
            assert reply.status == 503, reply.body
            detail = reply.body["errors"][0]["detail"]
            assert "configuration changes are refused" in detail
            assert "routing goes on with the last configuration" in detail
        with session(sandbox, handle) as cur:  # routing goes on with the last configuration
            assert server_of(cur) in {s.server_id for s in sandbox.servers}
        assert parameters(api, "services", SERVICE).get("version_string") != "10.11.5-cut"
        change_and_change_back(etcd_cluster, prefix, SERVICE)  # by another instance, say
        relay.restore()
        eventually(lambda: patch(api, "services", SERVICE,
                                 {"version_string": "10.11.5-back"}).status == 204,
                   "changes accepted again")
    assert stored(etcd_cluster, prefix, SERVICE)["version_string"] == "10.11.5-back"


def change_and_change_back(etcd: EtcdCluster, prefix: bytes, name: str) -> None:
    """Two commits to etcd that leave object ``name`` as it was, at a later revision: an
    instance that did not see the one between must still take the later revision, or every
    change it commits conflicts from then on."""
    async def twice() -> None:
        async with EtcdClient(etcd.settings()) as client:
            store = ConfigStore(client, prefix, "other")
            before = await store.load()
            section = before.sections[name]
            changed = IniSection(name, section.line, (
                *section.entries, IniEntry("version_string", "10.11.5-between", 0)))
            between = await store.commit(before, {name: changed})
            await store.commit(between, {name: section})
    run(twice())


def test_two_stores_bootstrapping_at_once_end_with_one_configuration(
        etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("bootstrap")
    one = file_layers_of("server1", "3306")
    other = file_layers_of("server1", "3399")

    async def race() -> list[Snapshot]:
        async with EtcdClient(etcd_cluster.settings()) as client:
            stores = [ConfigStore(client, prefix, name) for name in ("a", "b")]
            return list(await asyncio.gather(stores[0].bootstrap(one),
                                             stores[1].bootstrap(other)))
    a, b = run(race())
    assert same_objects(a, b)
    assert a.config_revision == b.config_revision
    port = {e.key: e.value for e in a.sections["server1"].entries}["port"]
    assert port in ("3306", "3399")


def test_a_compacted_watch_reloads_everything(etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("compacted")
    applied: list[Snapshot] = []

    async def scenario() -> None:
        async with EtcdClient(etcd_cluster.settings()) as client:
            store = ConfigStore(client, prefix, "a")
            first = await store.bootstrap(file_layers_of("server1", "3306"))
            writer = ConfigStore(client, prefix, "b")
            base = first
            for port in ("3307", "3308"):
                section = sections_of("server1", port)[0]
                base = await writer.commit(base, {"server1": section})
            await asyncio.to_thread(etcd_cluster.etcdctl, "compact", str(base.revision))
            done = asyncio.Event()

            async def apply(snapshot: Snapshot) -> None:
                applied.append(snapshot)
                done.set()
            store.start(apply)  # resumes after `first`, which etcd no longer has
            try:
                await asyncio.wait_for(done.wait(), 10)
            finally:
                store._task.cancel()  # type: ignore[union-attr]
                with contextlib.suppress(asyncio.CancelledError):
                    await store._task  # type: ignore[misc]
    run(scenario())
    (snapshot,) = applied
    assert {e.key: e.value for e in snapshot.sections["server1"].entries}["port"] == "3308"


def sections_of(server: str, port: str) -> tuple[IniSection, ...]:
    diag = Diagnostics("test")
    return parse_ini(f"[{server}]\ntype=server\naddress=127.0.0.1\nport={port}\n", diag)


def file_layers_of(server: str, port: str) -> Layers:
    return Layers("/nonexistent/interlock.cnf", "/nonexistent/persist",
                  tuple(Placed(s, "/nonexistent/interlock.cnf")
                        for s in sections_of(server, port)))
