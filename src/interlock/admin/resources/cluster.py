"""``GET /v1/cluster``: this instance's view of its Interlock cluster (docs/cluster.md).

- ``cluster``: ``etcd`` or ``none``; ``instance``, ``admin_url``: this instance;
- ``cut_off`` (and ``detail``): whether this instance is cut off from etcd
  (``Proxy.cluster_ok``);
- ``config_revision``: the shared configuration's revision it runs (null without one);
- ``monitors``: per monitor, the leader as this instance sees it (``instance``, ``admin_url``,
  ``since``: when this instance saw it take over), and whether this instance leads it (without
  a cluster store: this instance, since it started);
- ``instances``: every registered instance (``<prefix>instances/``, one range read now; when
  etcd does not answer, the last list read, with ``instances_source`` ``cached`` and its age).

Without ``cluster=etcd`` the document says ``cluster: none`` and lists just this instance.

:func:`instance_document` is what an instance registers about itself
(:mod:`interlock.cluster.registry`): name, admin URL, listeners, start time, health (the
``/v1/health`` checks: ok and the names of the failed ones), configuration revision and the
monitors it leads (with when its term started).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from interlock.admin.auth import AdminUsers, Tokens, datadir_of
from interlock.admin.context import AdminContext
from interlock.admin.jsonapi import BASE, JsonObject
from interlock.admin.resources.common import iso
from interlock.admin.resources.health import run_checks
from interlock.admin.routes import Route
from interlock.cluster.leadership import admin_url_of, instance_name_of
from interlock.errors import ClusterError

if TYPE_CHECKING:
    from interlock.server.app import Proxy


def _context(proxy: Proxy) -> AdminContext:
    """The admin context the health checks read (a bare one when the admin API is off)."""
    if proxy.admin is not None:
        return proxy.admin.ctx
    g = proxy.config.global_
    return AdminContext(proxy, AdminUsers(datadir_of(g.datadir)), Tokens(g.admin_jwt_max_age))


def instance_document(proxy: Proxy, started_at: float) -> JsonObject:
    """What this instance says about itself (its registry entry; ``started_at``: wall
    clock)."""
    g = proxy.config.global_
    checks = run_checks(_context(proxy))
    failed = [check.name for check in checks if not check.ok]
    membership = proxy.membership
    leads: list[JsonObject] = []
    if membership is None:  # no cluster store: this instance acts on every monitor
        leads = [{"monitor": name, "since": iso(started_at)} for name in sorted(proxy.monitors)]
    else:
        for name, leadership in sorted(membership.monitors.items()):
            if leadership.is_leader():
                since = leadership.leading_since
                leads.append({"monitor": name, "since": iso(since) if since else None})
    shared = proxy.shared_config
    return {
        "instance": membership.instance if membership is not None else instance_name_of(g),
        "admin_url": membership.admin_url if membership is not None else admin_url_of(g),
        "listeners": [f"{_host(cfg.address)}:{cfg.port}"
                      for cfg in proxy.config.listeners.values()],
        "started_at": iso(started_at),
        "health": {"ok": not failed, "failed": failed},
        "config_revision": shared.revision if shared is not None else None,
        "leads": leads,
    }


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _monitors(proxy: Proxy, started_at: float) -> list[JsonObject]:
    membership = proxy.membership
    found: list[JsonObject] = []
    for name in proxy.monitors:
        leadership = membership.monitors.get(name) if membership is not None else None
        if leadership is None:  # no cluster store: this instance always leads
            g = proxy.config.global_
            found.append({"monitor": name, "this_instance_leads": True, "leader": {
                "instance": instance_name_of(g), "admin_url": admin_url_of(g),
                "since": iso(started_at)}})
            continue
        leader = leadership.leader
        found.append({
            "monitor": name,
            "leader": None if leader is None else {
                "instance": leader.instance, "admin_url": leader.admin_url,
                "since": iso(leader.since)},
            "this_instance_leads": leadership.is_leader(),
        })
    return found


async def _instances(proxy: Proxy, cut_off: bool) -> tuple[list[JsonObject], JsonObject]:
    """The registered instances and where the list comes from."""
    registry = proxy.instance_registry
    if registry is None:
        return [], {"instances_source": "none", "instances_age": None, "instances_error": None}
    error = None
    if not cut_off:
        try:
            known = await registry.read()
            return known.instances, {"instances_source": "etcd", "instances_age": 0.0,
                                     "instances_error": None}
        except (ClusterError, TimeoutError) as exc:
            error = str(exc) or "etcd did not answer in time"
    else:
        error = "cut off from etcd: the last list read"
    known = registry.known
    return known.instances, {"instances_source": "cached", "instances_age": known.age(),
                             "instances_error": error}


async def cluster_view(proxy: Proxy, started_at: float) -> JsonObject:
    """The attributes of ``GET /v1/cluster``."""
    g = proxy.config.global_
    ok, detail = proxy.cluster_ok()
    if proxy.membership is None:
        return {"cluster": "none", "instance": instance_name_of(g),
                "admin_url": admin_url_of(g), "cut_off": False, "detail": detail,
                "config_revision": None, "monitors": _monitors(proxy, started_at),
                "instances": [instance_document(proxy, started_at)],
                "instances_source": "local", "instances_age": None, "instances_error": None}
    instances, source = await _instances(proxy, not ok)
    shared = proxy.shared_config
    return {"cluster": "etcd", "instance": proxy.membership.instance,
            "admin_url": proxy.membership.admin_url, "cut_off": not ok, "detail": detail,
            "config_revision": shared.revision if shared is not None else None,
            "monitors": _monitors(proxy, started_at), "instances": instances, **source}


async def show_cluster(ctx: AdminContext, request: web.Request) -> JsonObject:
    attributes = await cluster_view(ctx.proxy, ctx.started)
    return {"links": {"self": f"{BASE}cluster/"},
            "data": {"id": attributes["instance"], "type": "cluster",
                     "attributes": attributes, "links": {"self": f"{BASE}cluster/"}}}


ROUTES = (
    Route("GET", "/v1/cluster", show_cluster,
          "this instance's view of its cluster: cut off or not, configuration revision, "
          "monitor leaders, registered instances"),
)
