"""Starting while etcd is unreachable (the configuration cache) and bootstrapping more objects
than one etcd transaction holds: a proxy process, the session sandbox, a real 3-member etcd.

- an instance that ran with etcd writes ``<datadir>/cluster-config.cache``; restarted while its
  etcd link is cut, it starts from that cache (a server added at runtime before the restart is
  still there and takes queries through its listener), says it is cut off (``/v1/health``,
  ``/v1/cluster``), refuses a change with 503 and does not lead; once the link is back it
  applies what another instance changed meanwhile, leads and accepts changes again;
- no cache (or a corrupt one) and etcd unreachable: exit code 1, naming the cache file;
- 300 servers (more than etcd's default ``--max-txn-ops`` of 128 per transaction) bootstrapped
  by two stores racing: one complete configuration, from one file, that the loader accepts;
- a bootstrap claimed by an instance that died half way: the next one waits for the claim to
  expire, removes what was left and bootstraps its own file completely.
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi
from tests.integration.etcd_support import (
    EtcdCluster,
    TcpRelay,
    etcd_cluster,  # noqa: F401  (the fixture)
    run,
    unique_prefix,
)
from tests.integration.rws_helpers import server_of, session
from tests.integration.test_cluster_config import (
    eventually,
    linked,
    members,
    parameters,
    patch,
    stored,
)

from interlock.cluster import EtcdClient
from interlock.cluster.config_cache import CACHE_FILE
from interlock.cluster.config_store import (
    BOOTSTRAPPED,
    BOOTSTRAPPING,
    TXN_OPS,
    ConfigStore,
    Snapshot,
    object_key,
    same_objects,
    shared_sections,
    with_objects,
)
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import parse_ini
from interlock.config.layers import Layers, Placed
from interlock.config.loader import validate
from interlock.sandbox import Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port

pytestmark = pytest.mark.integration

CATCH_UP = 15.0  # seconds: the longest wait for the instance to catch up once etcd is back
SERVERS = 300


def instance_config(sandbox: Sandbox, endpoints: str, prefix: bytes, name: str,
                    datadir: Path) -> str:
    """An instance with its own datadir (its own cache) whose etcd is ``endpoints``; the
    sandbox's last server is not in the file (the test adds it at runtime)."""
    kept = ",".join(s.name for s in sandbox.servers[:-1])
    return sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        "maxscale": {"datadir": str(datadir), "persistdir": str(datadir / "persist"),
                     "cluster": "etcd", "etcd_endpoints": endpoints,
                     "etcd_prefix": prefix.decode(), "instance_name": name,
                     "etcd_lease_ttl": "2s"},
        sandbox.servers[-1].name: None,
        MONITOR: {"servers": kept},
        SERVICE: {"router": "readwritesplit", "servers": kept},
    })


def cluster_view(api: AdminApi) -> dict[str, Any]:
    reply = api.get("/v1/cluster")
    assert reply.status == 200, reply.body
    return dict(reply.body["data"]["attributes"])


def cluster_check(api: AdminApi) -> dict[str, Any]:
    reply = api.get("/v1/health")
    (check,) = [c for c in reply.body["meta"]["checks"] if c["name"] == "cluster"]
    return dict(check)


def commit_directly(etcd: EtcdCluster, prefix: bytes, name: str, params: dict[str, str]
                    ) -> int:
    """Another instance's change: a compare-and-swap of object ``name`` with ``params`` set;
    the configuration revision it made."""
    async def change() -> int:
        async with EtcdClient(etcd.settings()) as client:
            store = ConfigStore(client, prefix, "other")
            base = await store.load()
            section = base.sections[name]
            text = "".join(f"{e.key}={e.value}\n" for e in section.entries
                           if e.key not in params)
            text += "".join(f"{k}={v}\n" for k, v in params.items())
            (new,) = parse_ini(f"[{name}]\n{text}", Diagnostics("test"))
            return (await store.commit(base, {name: new})).config_revision
    return run(change())


def test_an_instance_starts_from_its_cache_while_etcd_is_unreachable(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        tmp_path: Path) -> None:
    prefix = unique_prefix("cache")
    extra = sandbox.servers[-1]
    kept = [s.name for s in sandbox.servers[:-1]]
    with TcpRelay(etcd_cluster.members[0].client_port) as relay:
        text = instance_config(sandbox, relay.url(), prefix, "cached", tmp_path / "data")
        handle = start_proxy(text)
        api = AdminApi.of_config(handle.config_path)
        reply = api.request("POST", "/v1/servers", body={"data": {
            "id": extra.name, "type": "servers",
            "attributes": {"parameters": {"address": extra.host, "port": extra.port,
                                          "protocol": "MariaDBBackend"}}}})
        assert reply.status == 204, reply.body
        for path in (f"/v1/monitors/{MONITOR}/relationships/servers",
                     f"/v1/services/{SERVICE}/relationships/servers"):
            reply = api.request("PATCH", path, body=members(*kept, extra.name))
            assert reply.status == 204, reply.body
        revision = cluster_view(api)["config_revision"]
        cache = tmp_path / "data" / CACHE_FILE
        eventually(lambda: json.loads(cache.read_text())["config_revision"] == revision,
                   "the cache holds the last change", timeout=5)
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        doc = json.loads(cache.read_text())
        assert extra.name in {o["name"] for o in doc["objects"]}
        assert doc["etcd_prefix"] == prefix.decode()
        assert handle.stop() == 0

        relay.cut("reset")
        started = time.monotonic()
        handle = start_proxy(text)
        print(f"started from the cache in {time.monotonic() - started:.2f}s")
        log = handle.log_text()
        assert (f"etcd is unreachable: starting from the cached configuration revision "
                f"{revision} written at ") in log
        assert f"({cache}, " in log
        # the server added at runtime before the restart is there, and takes queries
        assert api.get(f"/v1/servers/{extra.name}").status == 200
        assert extra.name in linked(api, SERVICE)
        with session(sandbox, handle) as cur:
            hint = f"SELECT @@server_id -- interlock route to server {extra.name}"
            assert server_of(cur, hint) == extra.server_id
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
        # cut off: it says so, refuses changes and does not lead
        view = cluster_view(api)
        assert view["cut_off"] is True
        assert view["config_revision"] == revision
        assert "started from the cached configuration revision" in view["detail"]
        assert not any(m["this_instance_leads"] for m in view["monitors"])
        check = cluster_check(api)
        assert check["ok"] is False
        assert f"cached configuration revision {revision}" in check["detail"]
        assert api.get("/v1/health").status == 503
        reply = patch(api, "services", SERVICE, {"version_string": "10.11.3-cut"})
        assert reply.status == 503, reply.body
        assert "configuration changes are refused" in reply.body["errors"][0]["detail"]

        # meanwhile another instance changes the configuration
        changed = commit_directly(etcd_cluster, prefix, SERVICE,
                                  {"version_string": "10.11.4-meanwhile"})
        assert changed > revision
        relay.restore()
        took = eventually(lambda: parameters(api, "services", SERVICE).get("version_string")
                          == "10.11.4-meanwhile", "the change made meanwhile is applied",
                          timeout=CATCH_UP)
        print(f"caught up {took:.2f}s after etcd came back")
        assert f"this instance ran cached revision {revision}" in handle.log_text()
        eventually(lambda: not cluster_view(api)["cut_off"], "no longer cut off",
                   timeout=CATCH_UP)
        eventually(lambda: cluster_check(api)["ok"], "the health check's cluster passes",
                   timeout=CATCH_UP)
        eventually(lambda: all(m["this_instance_leads"] for m in cluster_view(api)["monitors"]),
                   "it leads its monitor", timeout=CATCH_UP)
        reply = patch(api, "services", SERVICE, {"version_string": "10.11.5-back"})
        assert reply.status == 204, reply.body
        assert stored(etcd_cluster, prefix, SERVICE)["version_string"] == "10.11.5-back"
        eventually(lambda: json.loads(cache.read_text())["config_revision"]
                   == cluster_view(api)["config_revision"], "the cache follows", timeout=5)
        assert handle.stop() == 0


def test_no_usable_cache_and_no_etcd_exits_1(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, tmp_path: Path) -> None:
    prefix = unique_prefix("nocache")
    with TcpRelay(etcd_cluster.members[0].client_port) as relay:
        relay.cut("reset")
        datadir = tmp_path / "data"
        config = tmp_path / "interlock.cnf"
        config.write_text(instance_config(sandbox, relay.url(), prefix, "none", datadir))
        cache = datadir / CACHE_FILE

        def start_and_exit(what: str) -> str:
            log = tmp_path / f"{what}.log"
            process = proxy_process.launch(config, log)
            try:
                code = process.wait(30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            text = log.read_text()
            assert code == 1, text
            return text

        text = start_and_exit("none")
        assert f"there is no cached configuration ({cache} does not exist)" in text
        assert "etcd is unreachable" in text

        datadir.mkdir(exist_ok=True)
        cache.write_text('{"format": "interlock-cluster-config-cache", "version": 1, "etc')
        text = start_and_exit("corrupt")
        assert "the configuration cache cannot be used" in text
        assert f"{cache}: not a configuration cache" in text


# -- bootstrap in chunks --------------------------------------------------------------------


def big_file(port_base: int, servers: int = SERVERS) -> Layers:
    """``servers`` servers (ports from ``port_base``), a monitor and a service on three of
    them, a listener and the global section: a file the loader accepts."""
    text = "[maxscale]\nthreads=1\nadmin_enabled=false\n"
    text += "".join(f"[server{i}]\ntype=server\naddress=127.0.0.1\nport={port_base + i}\n"
                    for i in range(servers))
    few = "server0,server1,server2"
    text += (f"[mon]\ntype=monitor\nmodule=mariadbmon\nservers={few}\nuser=u\npassword=p\n"
             f"[svc]\ntype=service\nrouter=readwritesplit\nservers={few}\nuser=u\npassword=p\n"
             "[lst]\ntype=listener\nservice=svc\nport=4006\n")
    diag = Diagnostics("big.cnf")
    sections = parse_ini(text, diag)
    assert not diag.errors
    return Layers("/nonexistent/big.cnf", "/nonexistent/persist",
                  tuple(Placed(s, "/nonexistent/big.cnf") for s in sections))


def ports(snapshot: Snapshot) -> set[int]:
    """The ports of the snapshot's servers."""
    return {int(p.value) for s in snapshot.sections.values()
            if (t := s.get("type")) is not None and t.value == "server"
            and (p := s.get("port")) is not None}


def test_two_instances_racing_to_bootstrap_300_servers_end_with_one_configuration(
        etcd_cluster: EtcdCluster) -> None:
    prefix = unique_prefix("big")
    one, other = big_file(20000), big_file(30000)
    assert len(shared_sections(one)) > 128 > TXN_OPS

    async def race() -> tuple[list[Snapshot], Snapshot]:
        async with EtcdClient(etcd_cluster.settings()) as client:
            stores = [ConfigStore(client, prefix, name) for name in ("a", "b")]
            both = await asyncio.gather(stores[0].bootstrap(one), stores[1].bootstrap(other))
            return list(both), await stores[0].load()
    started = time.monotonic()
    (a, b), now = run(race())
    print(f"two bootstraps of {len(a.sections)} objects took {time.monotonic() - started:.2f}s")
    assert same_objects(a, b) and same_objects(a, now)
    assert a.config_revision == b.config_revision == now.config_revision
    assert set(a.sections) == {s.name for s in shared_sections(one)}  # every object
    assert len(a.sections) > SERVERS
    # every object comes from one file: all ports from 20000, or all from 30000
    assert ports(a) in ({20000 + i for i in range(SERVERS)}, {30000 + i for i in range(SERVERS)})
    config = validate(with_objects(one, a.sections.values()))  # what an instance then runs
    assert len(config.servers) == SERVERS
    assert stored(etcd_cluster, prefix, "server299")["port"] in ("20299", "30299")

    async def claim_left() -> bool:
        async with EtcdClient(etcd_cluster.settings()) as client:
            return await client.get(prefix + BOOTSTRAPPING) is not None
    assert not run(claim_left())


def test_a_bootstrap_left_half_done_is_replaced_completely(etcd_cluster: EtcdCluster) -> None:
    """An instance claimed the store, wrote part of its file and died: the next one waits
    for the claim to expire with the dead one's lease, deletes the leftovers (one of them an
    object its own file does not have) and bootstraps its whole file."""
    prefix = unique_prefix("halfdone")
    mine = big_file(40000, servers=150)

    async def scenario() -> tuple[Snapshot, float]:
        async with EtcdClient(etcd_cluster.settings()) as client:
            lease = await client.grant(2)
            await client.put(prefix + BOOTSTRAPPING, b"dead", lease=lease.id)
            for i in range(50):
                await client.put(object_key(prefix, f"server{i}"),
                                 f"[server{i}]\ntype=server\naddress=127.0.0.1\nport=1\n".encode())
            await client.put(object_key(prefix, "ghost"),
                             b"[ghost]\ntype=server\naddress=127.0.0.1\nport=2\n")
            store = ConfigStore(client, prefix, "next")
            started = time.monotonic()
            snapshot = await store.bootstrap(mine)  # the lease is never renewed: it expires
            return snapshot, time.monotonic() - started
    snapshot, took = run(scenario())
    print(f"bootstrapped {took:.2f}s after the dead claim was found")
    assert snapshot.bootstrapped
    assert "ghost" not in snapshot.sections
    assert set(snapshot.sections) == {s.name for s in shared_sections(mine)}
    assert ports(snapshot) == {40000 + i for i in range(150)}

    async def markers() -> tuple[bool, bool]:
        async with EtcdClient(etcd_cluster.settings()) as client:
            return (await client.get(prefix + BOOTSTRAPPED) is not None,
                    await client.get(prefix + BOOTSTRAPPING) is not None)
    assert run(markers()) == (True, False)
