"""``interlock ctl cluster status``, ``GET /v1/cluster`` and the cluster metrics (issue 9,
``cluster=etcd``): two proxy processes on the session sandbox and a real 3-member etcd.

- on either instance the status lists both instances with their admin URLs and listeners,
  the same configuration revision, and exactly one leader per monitor (the same one seen
  from both);
- the metrics say the same: ``interlock_monitor_leader`` is 1 on exactly one instance,
  ``interlock_cluster_instances`` is 2, neither is cut off;
- the leader's process SIGKILLed: within the lease TTL and a few seconds it is gone from the
  survivor's status (its registry key expired with its lease), and the survivor leads;
- without ``cluster=etcd``: ``cluster: none``, just this instance, which leads its monitor;
- an instance whose etcd link is cut: ``ctl cluster status`` exits 1 and still prints its
  last list of instances, the metrics say cut off and not leading; exit 0 again once the link
  is back.

The helpers come from the other cluster tests (configs, waits), the ctl tests (running the
real command) and the metrics tests (parsing a scrape).
"""

# ruff: noqa: F811  (the etcd_cluster fixture is imported, then named by the tests)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi
from tests.integration.etcd_support import (
    EtcdCluster,
    TcpRelay,
    etcd_cluster,  # noqa: F401  (the fixture)
    unique_prefix,
)
from tests.integration.test_cluster_config import cluster_config, eventually
from tests.integration.test_ctl import box_rows, ctl
from tests.integration.test_metrics import Metrics, scrape_raw

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

TTL = 2  # seconds: etcd_lease_ttl of both instances
GONE_WITHIN = TTL + 6.0  # seconds: the lease expires, then the survivor's next look


def status(config: Path) -> dict[str, Any]:
    """``ctl cluster status --json`` (exit 0: not cut off): the view's attributes."""
    done = ctl("cluster", "status", "--json", config=config, timeout=30)
    assert done.returncode == 0, (done.returncode, done.stderr)
    return dict(json.loads(done.stdout)["data"]["attributes"])


def metrics(api: AdminApi) -> Metrics:
    code, _, text = scrape_raw(api, api.admin)
    assert code == 200, text
    return Metrics(text)


def settled(view: dict[str, Any], names: set[str]) -> bool:
    """The view lists exactly ``names``, one revision everywhere, and each monitor's leader is
    registered as leading it (and nobody else is)."""
    docs = view["instances"]
    if {d["instance"] for d in docs} != names:
        return False
    if {d["config_revision"] for d in docs} != {view["config_revision"]}:
        return False
    for monitor in view["monitors"]:
        leading = [d["instance"] for d in docs
                   if monitor["monitor"] in {lead["monitor"] for lead in d["leads"]}]
        if monitor["leader"] is None or leading != [monitor["leader"]["instance"]]:
            return False
    return True


def instance_config(sandbox: Sandbox, etcd: EtcdCluster, prefix: bytes, name: str,
                    directory: Path, endpoints: str | None = None) -> str:
    text = cluster_config(sandbox, etcd, prefix, name, directory)
    text = text.replace("[maxscale]\n", f"[maxscale]\netcd_lease_ttl={TTL}s\n", 1)
    assert f"etcd_lease_ttl={TTL}s" in text
    if endpoints is not None:
        text = text.replace(f"etcd_endpoints={','.join(etcd.endpoints)}",
                            f"etcd_endpoints={endpoints}")
        assert endpoints in text
    return text


@pytest.fixture
def two(sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, ProxyHandle]:
    prefix = unique_prefix(request.node.name[:20])
    handles = {}
    for name in ("sa", "sb"):
        handles[name] = start_proxy(instance_config(sandbox, etcd_cluster, prefix, name,
                                                    tmp_path / name))
    return handles


def test_cluster_status_lists_both_and_forgets_a_killed_instance(
        two: dict[str, ProxyHandle]) -> None:
    apis = {name: AdminApi.of_config(h.config_path) for name, h in two.items()}
    names = set(two)
    views: dict[str, dict[str, Any]] = {}

    def both_settled() -> bool:
        views.update({name: status(h.config_path) for name, h in two.items()})
        return all(settled(v, names) for v in views.values())
    eventually(both_settled, "both instances list both, one revision, one leader each",
               timeout=20)
    a, b = views["sa"], views["sb"]
    assert a["cluster"] == b["cluster"] == "etcd"
    assert (a["instance"], b["instance"]) == ("sa", "sb")
    assert not a["cut_off"] and not b["cut_off"]
    assert a["instances_source"] == "etcd"
    assert a["config_revision"] == b["config_revision"] > 0
    for view in (a, b):
        by_name = {d["instance"]: d for d in view["instances"]}
        for name, api in apis.items():
            assert by_name[name]["admin_url"] == api.base
            assert by_name[name]["listeners"] == [f"{two[name].host}:{two[name].port}"]
            assert by_name[name]["health"] == {"ok": True, "failed": []}
    (monitor,) = a["monitors"]
    assert monitor["monitor"] == MONITOR
    leader = monitor["leader"]["instance"]
    assert b["monitors"][0]["leader"]["instance"] == leader
    assert monitor["leader"]["admin_url"] == apis[leader].base
    assert [m["this_instance_leads"] for v in (a, b) for m in v["monitors"]] == [
        leader == "sa", leader == "sb"]

    # the table, on either instance
    for name, handle in two.items():
        done = ctl("cluster", "status", config=handle.config_path, timeout=30)
        assert done.returncode == 0, done.stderr
        rows = box_rows(done.stdout)
        table = next(i for i, r in enumerate(rows) if r and r[0] == "Instance")
        assert rows[table] == ["Instance", "Admin", "Listeners", "Health", "Config revision",
                               "Leads", "Since"]
        body = {r[0]: r for r in rows[table + 1:]}
        assert set(body) == {f"{name} (this)", *(names - {name})}
        for row in body.values():
            who = row[0].removesuffix(" (this)")
            assert row[1] == apis[who].base
            assert row[3] == "ok"
            assert row[4] == str(a["config_revision"])
            assert row[5] == (f"{MONITOR} *" if who == leader else "")
            assert bool(row[6]) == (who == leader)

    # the metrics agree: one leader, two instances, nobody cut off, one revision
    scraped = {name: metrics(api) for name, api in apis.items()}
    assert {name: m.value("interlock_monitor_leader", monitor=MONITOR)
            for name, m in scraped.items()} == {n: float(n == leader) for n in names}
    for m in scraped.values():
        assert m.value("interlock_cluster_cut_off") == 0
        assert m.value("interlock_cluster_instances") == 2
        assert m.value("interlock_cluster_config_revision") == a["config_revision"]

    # the leader dies without a word: its entry expires with its lease
    survivor = (names - {leader}).pop()
    two[leader].process.kill()
    two[leader].process.wait(10)
    took = eventually(lambda: [d["instance"] for d in status(two[survivor].config_path)[
        "instances"]] == [survivor], f"{leader} gone from {survivor}'s status",
        timeout=GONE_WITHIN)
    print(f"{leader} left {survivor}'s status {took:.1f}s after it was killed")
    eventually(lambda: settled(status(two[survivor].config_path), {survivor}),
               f"{survivor} leads {MONITOR}", timeout=GONE_WITHIN)
    after = metrics(apis[survivor])
    assert after.value("interlock_monitor_leader", monitor=MONITOR) == 1
    assert after.value("interlock_cluster_instances") == 1


def test_without_a_cluster_store_the_status_is_this_instance(
        start_proxy: ProxyFactory) -> None:
    handle = start_proxy(tls=False)
    api = AdminApi.of_config(handle.config_path)
    view = status(handle.config_path)
    assert (view["cluster"], view["cut_off"], view["config_revision"]) == ("none", False, None)
    (only,) = view["instances"]
    assert (only["admin_url"], only["listeners"]) == (api.base, [f"{handle.host}:{handle.port}"])
    assert view["instance"] == only["instance"]
    scraped = metrics(api)
    assert scraped.value("interlock_cluster_cut_off") == 0
    assert "interlock_monitor_leader" not in scraped.text
    assert [m["leader"]["instance"] for m in view["monitors"]] == [only["instance"]]
    assert [lead["monitor"] for lead in only["leads"]] == [MONITOR]


def test_a_cut_off_instance_says_so_and_exits_1(
        sandbox: Sandbox, etcd_cluster: EtcdCluster, start_proxy: ProxyFactory,
        tmp_path: Path) -> None:
    with TcpRelay(etcd_cluster.members[0].client_port) as relay:
        handle = start_proxy(instance_config(sandbox, etcd_cluster, unique_prefix("cutstatus"),
                                             "sc", tmp_path / "sc", relay.url()))
        api = AdminApi.of_config(handle.config_path)
        eventually(lambda: settled(status(handle.config_path), {"sc"}), "sc registered, leads",
                   timeout=20)
        relay.cut("reset")
        done = ctl("cluster", "status", config=handle.config_path, timeout=30)

        def refused() -> bool:
            nonlocal done
            done = ctl("cluster", "status", config=handle.config_path, timeout=30)
            return done.returncode != 0
        eventually(refused, "ctl cluster status exits non-zero", timeout=GONE_WITHIN)
        assert done.returncode == 1, done.stderr
        assert "is cut off from etcd" in done.stderr
        rows = box_rows(done.stdout)  # what it knows: the last list it read
        assert ["Cut off", "true"] in rows
        assert any(r and r[0] == "sc (this)" and r[1] == api.base for r in rows), done.stdout
        scraped = metrics(api)
        assert scraped.value("interlock_cluster_cut_off") == 1
        assert scraped.value("interlock_monitor_leader", monitor=MONITOR) == 0
        assert scraped.value("interlock_cluster_instances") == 1  # as last read

        relay.restore()
        eventually(lambda: ctl("cluster", "status", config=handle.config_path,
                               timeout=30).returncode == 0, "back in touch with etcd",
                   timeout=20)
        eventually(lambda: settled(status(handle.config_path), {"sc"}), "sc leads again",
                   timeout=20)
        assert metrics(api).value("interlock_cluster_cut_off") == 0
        handle.stop()  # before the relay goes: no connection left in it
