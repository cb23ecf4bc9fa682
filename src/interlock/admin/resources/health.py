"""``GET /v1/health``: can this instance serve clients?  200 when every check passes, 503
otherwise; ``interlock ctl health`` turns that into an exit status for keepalived's
``vrrp_script`` (docs/vip.md).

The checks are a table (:data:`CHECKS`) of functions ``(ctx) -> Iterable[Check]``; adding a
condition is adding a row:

- ``listener:<name>``: every configured listener is open and accepting connections (during
  start-up the admin API answers before the listeners open, and on shutdown they close first:
  both are "cannot serve").
- ``service:<name>``: the service has somewhere to send a session.  With a monitor: the
  monitor has completed a tick, still runs, and its published topology has a usable primary
  among the service's servers (a ``readconnroute`` service with ``router_options=slave`` needs
  a usable replica instead).  With static roles: the configured primary (always known).
- ``cluster``: the instance is not cut off from the cluster store.  Without a cluster store
  (the default) it passes.  When the configuration names one (``[maxscale] cluster=...``) the
  proxy must expose ``cluster_ok() -> bool | (bool, detail)`` (the etcd integration's hook,
  True when no store is configured); a build that names a store but has no such hook fails
  the check instead of pretending.

The 200 answer is a JSON:API document with the checks in ``meta``; the 503 answer is an
``errors`` document (one error per failed check, so ``ctl`` prints why) with the same
``meta``.  Authentication stays on (see docs/vip.md): the local ``interlock ctl health`` reads
the generated admin password, and a read-only (``basic``) account is enough for anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from interlock.admin import jsonapi
from interlock.admin.context import AdminContext
from interlock.admin.http import json_response
from interlock.admin.jsonapi import JsonObject
from interlock.admin.resources.listeners import listener_state
from interlock.admin.routes import Route
from interlock.server.service import connroute_roles

if TYPE_CHECKING:
    from interlock.config.model import ServiceConfig
    from interlock.routing.topology import Topology

NO_CLUSTER = frozenset({"", "none", "local", "false", "off"})


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # listener:<name>, service:<name>, cluster
    ok: bool
    detail: str  # what was found (why it failed, or what makes it pass)

    def as_json(self) -> JsonObject:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


CheckFn = Callable[[AdminContext], Iterable[Check]]


# -- the checks -------------------------------------------------------------------------------


def listeners(ctx: AdminContext) -> Iterable[Check]:
    proxy = ctx.proxy
    opened = {item.config.name for item in proxy.listener_set}
    for name, cfg in proxy.config.listeners.items():
        where = f"[{cfg.address}]:{cfg.port}"
        if name not in opened:
            yield Check(f"listener:{name}", False, f"not open on {where}")
        elif listener_state(ctx, name) != "Running":
            yield Check(f"listener:{name}", False, f"not accepting connections on {where}")
        else:
            yield Check(f"listener:{name}", True, f"accepting connections on {where}")


def services(ctx: AdminContext) -> Iterable[Check]:
    proxy = ctx.proxy
    for name, cfg in proxy.config.services.items():
        runtime = proxy.services.get(name)
        if runtime is None:
            yield Check(f"service:{name}", False, "configured but not running")
            continue
        monitor = proxy.monitor_of(name)
        if monitor is not None:
            if monitor.cluster is None:
                yield Check(f"service:{name}", False,
                            f"monitor '{monitor.name}' has not completed a tick yet")
                continue
            if not monitor.running:
                yield Check(f"service:{name}", False,
                            f"monitor '{monitor.name}' is not running (its topology is stale)")
                continue
            origin = f"monitor '{monitor.name}'"
        else:
            origin = "static roles"
        yield _target_check(name, cfg, runtime.topology.current, origin)


def _target_check(name: str, cfg: ServiceConfig, topology: Topology, origin: str) -> Check:
    ours = set(cfg.servers)
    primary = topology.primary
    if cfg.router == "readconnroute" and "master" not in connroute_roles(cfg):
        replicas = [s.name for s in topology.replicas if s.name in ours]
        if replicas:
            return Check(f"service:{name}", True,
                         f"usable replicas {', '.join(replicas)} ({origin})")
        return Check(f"service:{name}", False,
                     f"no usable replica among {', '.join(cfg.servers)} ({origin})")
    if primary is not None and primary.name in ours:
        return Check(f"service:{name}", True, f"primary {primary.name} ({origin})")
    if primary is not None:
        return Check(f"service:{name}", False,
                     f"the primary {primary.name} ({origin}) is not one of the service's "
                     f"servers ({', '.join(cfg.servers)})")
    return Check(f"service:{name}", False,
                 f"no usable primary among {', '.join(cfg.servers)} ({origin})")


def cluster(ctx: AdminContext) -> Iterable[Check]:
    proxy = ctx.proxy
    store = str(getattr(proxy.config.global_, "cluster", "") or "").strip().lower()
    hook: Callable[[], bool | tuple[bool, str]] | None = getattr(proxy, "cluster_ok", None)
    if store in NO_CLUSTER and hook is None:
        yield Check("cluster", True, "no cluster store configured")
        return
    if hook is None:
        yield Check("cluster", False, f"cluster={store} is configured but this build cannot "
                                      "tell whether the store is reachable")
        return
    answer = hook()
    if isinstance(answer, tuple):
        ok, detail = answer
    else:
        ok = bool(answer)
        detail = "the cluster store is reachable" if ok else "cut off from the cluster store"
    yield Check("cluster", bool(ok), str(detail))


#: every condition of "can serve"; each returns one Check per object it looks at
CHECKS: tuple[CheckFn, ...] = (listeners, services, cluster)


def run_checks(ctx: AdminContext) -> list[Check]:
    return [check for fn in CHECKS for check in fn(ctx)]


# -- the route --------------------------------------------------------------------------------


def health_document(checks: list[Check]) -> tuple[int, JsonObject]:
    healthy = all(check.ok for check in checks)
    meta = {"healthy": healthy, "checks": [check.as_json() for check in checks]}
    if healthy:
        data = {"id": "health", "type": "health", "attributes": {"healthy": True},
                "links": {"self": f"{jsonapi.BASE}health/"}}
        return 200, {**jsonapi.document(data, f"{jsonapi.BASE}health/"), "meta": meta}
    failed = [f"{check.name}: {check.detail}" for check in checks if not check.ok]
    return 503, {**jsonapi.errors(*failed), "meta": meta}


async def health(ctx: AdminContext, request: web.Request) -> web.Response:
    status, document = health_document(run_checks(ctx))
    return json_response(document, status)


ROUTES = (
    Route("GET", "/v1/health", health,
          "can this instance serve: 200, or 503 with the checks that failed"),
)
