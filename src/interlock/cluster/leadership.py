"""Monitor leadership through etcd (issue 9, ``cluster=etcd``).

Theory of operation.  Every instance monitors; per monitor, one instance *leads*: the holder of
the lease-backed election key ``<prefix>monitors/<monitor>/leader`` (its value: the instance's
name and admin URL, JSON).  A background task per monitor campaigns and, after losing the
term (lease lost, deposed), campaigns again.  Only the leader acts (automatic failover,
enforcing read_only, automatic rejoin) and only the leader runs manual operations; the
executor calls :meth:`MonitorLeadership.confirm` before every step of a plan (fencing).

The leader publishes each topology decision (primary, each server's state words, a decision
id) to ``<prefix>monitors/<monitor>/topology`` in a transaction that compares the election key
with its term, so a deposed leader cannot write.  Every instance watches that key; a follower
hands the published primary to its monitor (``on_topology``), which routes by it at once.

:meth:`ClusterMembership.cluster_ok` is false while the instance has had no answer from etcd
for a lease TTL: it then keeps routing with the last topology and never acts (its
``is_leader()`` is already false: the lease keeper's local view of the lease runs out first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from interlock.cluster.codec import Compare, EventType, Put
from interlock.cluster.election import Election
from interlock.cluster.errors import WatchCompacted
from interlock.cluster.etcd import EtcdClient
from interlock.cluster.operation import OperationStore
from interlock.cluster.transport import EtcdSettings
from interlock.config.model import GlobalConfig
from interlock.errors import ClusterError
from interlock.log import get_logger

log = get_logger(__name__)

RETRY_INTERVAL = 0.5
HEALTH_INTERVAL = 0.5

#: called with each decision another instance published
TopologyListener = Callable[["Published"], None]


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Who leads a monitor (as read from the election key) and since when (wall clock of
    when this instance saw it take over)."""

    instance: str
    admin_url: str
    since: float

    def as_json(self) -> dict[str, object]:
        return {"instance": self.instance, "admin_url": self.admin_url, "since": self.since}


@dataclass(frozen=True, slots=True)
class Published:
    """A topology decision as the leader published it."""

    decision: str
    instance: str
    primary: str | None
    states: dict[str, str]
    revision: int = 0
    #: wall clock of the cluster's last automatic failover and of its acknowledgement, so a
    #: new leader keeps failover_block (None: none known)
    last_failover: float | None = None
    acknowledged: float | None = None


def settings_of(cfg: GlobalConfig) -> EtcdSettings:
    """The etcd client settings of ``[maxscale]``; ClusterError when they do not hold."""
    endpoints = tuple(e.strip() for e in (cfg.etcd_endpoints or "").split(",") if e.strip())
    if not endpoints:
        raise ClusterError("cluster=etcd needs etcd_endpoints (a comma-separated list of URLs)")
    if (cfg.etcd_user is None) != (cfg.etcd_password is None):
        raise ClusterError("etcd_user and etcd_password go together")
    return EtcdSettings(
        endpoints,
        user=cfg.etcd_user,
        password=cfg.etcd_password,
        ca_file=Path(cfg.etcd_ssl_ca) if cfg.etcd_ssl_ca else None,
        cert_file=Path(cfg.etcd_ssl_cert) if cfg.etcd_ssl_cert else None,
        key_file=Path(cfg.etcd_ssl_key) if cfg.etcd_ssl_key else None,
    )


def instance_name_of(cfg: GlobalConfig) -> str:
    return cfg.instance_name or f"{socket.gethostname()}:{cfg.admin_port}"


def admin_url_of(cfg: GlobalConfig) -> str:
    scheme = "https" if cfg.admin_ssl_cert else "http"
    host = cfg.admin_host if ":" not in cfg.admin_host else f"[{cfg.admin_host}]"
    return f"{scheme}://{host}:{cfg.admin_port}"


class MonitorLeadership:
    """This instance's candidacy for one monitor, the current leader, the published
    topology."""

    def __init__(self, client: EtcdClient, prefix: str, monitor: str, instance: str,
                 admin_url: str, ttl: int) -> None:
        self.client = client
        self.monitor = monitor
        self.instance = instance
        self.admin_url = admin_url
        base = f"{prefix}monitors/{monitor}/".encode()
        self.key = base + b"leader"
        self.topology_key = base + b"topology"
        value = json.dumps({"instance": instance, "admin_url": admin_url}).encode()
        self.election = Election(client, self.key, value, ttl=ttl)
        #: the intent of the cluster operation the leader runs (docs/cluster.md, "A leader
        #: that dies during an operation"; cluster/operation.py)
        self.operations = OperationStore(client, base + b"operation", self.election)
        #: called when this instance wins the election (the monitor checks for an operation
        #: its predecessor left)
        self.on_elected: Callable[[], None] | None = None
        #: the leader as last seen (None: none, or not known yet)
        self.leader: LeaderInfo | None = None
        #: this instance's current term started (wall clock), None while it does not lead
        self.leading_since: float | None = None
        self.published: Published | None = None  # the latest decision seen in etcd
        self.on_topology: TopologyListener | None = None
        self._decisions = 0
        self._announced_term: int | None = None
        self._pending: Published | None = None
        self._wake_writer = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: campaign only while this is set (ClusterMembership.may_lead)
        self.may_lead: asyncio.Event | None = None

    # -- state ----------------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.election.is_leader()

    def term(self) -> int | None:
        """Our current term (the election key's create revision), None while not leading."""
        held = self.election.held
        return held.create_revision if held is not None and self.is_leader() else None

    async def confirm(self) -> None:
        """The fence before each step of a cluster operation (raises NotLeader)."""
        await self.election.confirm()

    def not_leader_reason(self) -> str:
        """Why this instance may not act on the monitor, naming the leader."""
        leader = self.leader
        if leader is None:
            who = "no instance leads it at the moment (etcd unreachable or an election runs)"
        else:
            who = f"the leader is '{leader.instance}' (admin API {leader.admin_url})"
        return f"this instance ('{self.instance}') does not lead monitor '{self.monitor}': {who}"

    def as_json(self) -> dict[str, object]:
        return {
            "instance": self.instance,
            "is_leader": self.is_leader(),
            "leader": self.leader.as_json() if self.leader is not None else None,
            "published_decision": self.published.decision if self.published else None,
            "published_primary": self.published.primary if self.published else None,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for job in (self._campaign, self._observe, self._follow, self._write):
            self._tasks.append(asyncio.ensure_future(job()))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(ClusterError):
            await asyncio.wait_for(self.election.resign(), 3.0)

    async def _campaign(self) -> None:
        while True:
            if self.may_lead is not None:
                await self.may_lead.wait()
            try:
                await self.election.campaign()
                self.leading_since = time.time()
                log.notice("Monitor '%s': this instance ('%s') is the leader", self.monitor,
                           self.instance)
                if self.on_elected is not None:
                    self.on_elected()
                await self.election.wait_lost()
            except ClusterError as exc:
                log.warning("Monitor '%s': leader election: %s", self.monitor, exc)
            except Exception:  # the campaign must survive anything
                log.exception("Monitor '%s': leader election failed", self.monitor)
            if self.leading_since is not None:
                log.warning("Monitor '%s': this instance ('%s') lost the leadership",
                            self.monitor, self.instance)
            self.leading_since = None
            await asyncio.sleep(RETRY_INTERVAL)

    async def _observe(self) -> None:
        while True:
            try:
                async for holder in self.election.observe():
                    if holder is None:
                        self.leader = None
                        continue
                    try:
                        doc = json.loads(holder.value)
                        info = LeaderInfo(str(doc["instance"]), str(doc["admin_url"]),
                                          time.time())
                    except (ValueError, KeyError, TypeError):
                        info = LeaderInfo(holder.value.decode(errors="replace"), "", time.time())
                    if self.leader is None or self.leader.instance != info.instance:
                        log.notice("Monitor '%s': leader is '%s' (%s)", self.monitor,
                                   info.instance, info.admin_url)
                        self.leader = info
            except ClusterError as exc:
                log.info("Monitor '%s': watching the leader: %s", self.monitor, exc)
            await asyncio.sleep(RETRY_INTERVAL)

    # -- topology publication -------------------------------------------------------------------

    def term_unannounced(self) -> bool:
        """We lead and have published no decision in this term yet (a new leader publishes
        its view at its first tick, even when it did not change)."""
        held = self.election.held
        return held is not None and self._announced_term != held.create_revision

    def announce(self, primary: str | None, states: dict[str, str],
                 last_failover: float | None = None, acknowledged: float | None = None) -> None:
        """Publish a topology decision (leader only; the latest one wins, written in the
        background under the leadership)."""
        if not self.is_leader():
            return
        self._decisions += 1
        term = self.election.held.create_revision if self.election.held else 0
        self._announced_term = term
        decision = f"{self.instance}#{term}.{self._decisions}"
        self._pending = Published(decision, self.instance, primary, dict(states), 0,
                                  last_failover, acknowledged)
        self._wake_writer.set()

    async def _write(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            pending, held = self._pending, self.election.held
            if pending is None or held is None or not self.is_leader():
                continue
            value = json.dumps({"decision": pending.decision, "instance": pending.instance,
                                "primary": pending.primary, "states": pending.states,
                                "last_failover": pending.last_failover,
                                "acknowledged": pending.acknowledged,
                                "time": time.time()}).encode()
            compares = [Compare.create(self.key, held.create_revision),
                        Compare.lease(self.key, held.lease)]
            try:
                result = await self.client.txn(compares, [Put(self.topology_key, value)])
            except ClusterError as exc:
                log.warning("Monitor '%s': publishing topology decision %s failed: %s",
                            self.monitor, pending.decision, exc)
                await asyncio.sleep(RETRY_INTERVAL)
                if self._pending is pending:
                    self._wake_writer.set()  # retry unless a newer one replaced it
                continue
            if not result.succeeded:
                log.warning("Monitor '%s': topology decision %s not published: no longer the "
                            "leader", self.monitor, pending.decision)
            elif self._pending is pending:
                self._pending = None
                log.notice("Monitor '%s': published topology decision %s (primary %s)",
                           self.monitor, pending.decision, pending.primary or "none")

    async def _follow(self) -> None:
        """Watch the published topology; hand each new primary to ``on_topology``."""
        start = 0
        while True:
            try:
                if start == 0:
                    snapshot = await self.client.get_range(self.topology_key)
                    if snapshot.kvs:
                        self._seen(snapshot.kvs[0].value, snapshot.kvs[0].mod_revision)
                    start = snapshot.revision + 1
                async with self.client.watch(self.topology_key, start_revision=start) as watch:
                    async for batch in watch:
                        start = batch.revision + 1
                        for event in batch.events:
                            if event.type != EventType.DELETE:
                                self._seen(event.kv.value, event.kv.mod_revision)
            except WatchCompacted:
                start = 0
            except ClusterError as exc:
                log.info("Monitor '%s': watching the topology: %s", self.monitor, exc)
                await asyncio.sleep(RETRY_INTERVAL)

    def _seen(self, value: bytes, revision: int) -> None:
        try:
            doc = json.loads(value)
            published = Published(str(doc["decision"]), str(doc["instance"]), doc.get("primary"),
                                  dict(doc.get("states") or {}), revision,
                                  _seconds(doc.get("last_failover")),
                                  _seconds(doc.get("acknowledged")))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Monitor '%s': unreadable topology in etcd: %s", self.monitor, exc)
            return
        before = self.published
        self.published = published
        if published.instance == self.instance:
            return  # our own decision
        if before is None or before.primary != published.primary:
            log.notice("Monitor '%s': following topology decision %s of '%s': primary %s",
                       self.monitor, published.decision, published.instance,
                       published.primary or "none")
        if self.on_topology is not None and not self.is_leader():
            self.on_topology(published)


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class ClusterMembership:
    """This instance in an Interlock cluster: the etcd client, one :class:`MonitorLeadership`
    per monitor, and whether etcd answers (:meth:`cluster_ok`)."""

    def __init__(self, cfg: GlobalConfig) -> None:
        self.settings = settings_of(cfg)
        self.prefix = cfg.etcd_prefix if cfg.etcd_prefix.endswith("/") else cfg.etcd_prefix + "/"
        self.instance = instance_name_of(cfg)
        self.admin_url = admin_url_of(cfg)
        self.ttl = max(2, round(cfg.etcd_lease_ttl))
        self.client = EtcdClient(self.settings)
        self.monitors: dict[str, MonitorLeadership] = {}
        #: cleared while this instance runs a configuration from its cache (not read from
        #: etcd yet): its monitors do not campaign
        self.may_lead = asyncio.Event()
        self.may_lead.set()
        self.started = time.monotonic()
        self._ok: bool | None = None
        self._task: asyncio.Task[None] | None = None

    def for_monitor(self, name: str) -> MonitorLeadership:
        leadership = self.monitors.get(name)
        if leadership is None:
            leadership = MonitorLeadership(self.client, self.prefix, name, self.instance,
                                           self.admin_url, self.ttl)
            leadership.may_lead = self.may_lead
            self.monitors[name] = leadership
        return leadership

    def start(self) -> None:
        log.notice("Cluster: instance '%s' (%s), etcd %s, prefix %s, lease TTL %ds",
                   self.instance, self.admin_url, ", ".join(self.settings.endpoints),
                   self.prefix, self.ttl)
        for leadership in self.monitors.values():
            leadership.start()
        self._task = asyncio.ensure_future(self._watch_health())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for leadership in self.monitors.values():
            await leadership.stop()
        await self.client.close()

    def cluster_ok(self) -> tuple[bool, str]:
        """(False, why) while etcd has not answered for a lease TTL."""
        now = time.monotonic()
        last = self.client.last_contact
        if last is None:
            if now - self.started < self.ttl:
                return True, f"connecting to etcd ({', '.join(self.settings.endpoints)})"
            return False, (f"cut off from etcd: no answer from {', '.join(self.settings.endpoints)}"
                           f" since start; routing with the last topology, not leading")
        silent = now - last
        if silent >= self.ttl:
            return False, (f"cut off from etcd: no answer for {silent:.1f}s (lease TTL "
                           f"{self.ttl}s); routing with the last topology, not leading")
        leads = sorted(m for m, lead in self.monitors.items() if lead.is_leader())
        role = f"leads {', '.join(leads)}" if leads else "leads no monitor"
        return True, f"etcd reachable; instance '{self.instance}' {role}"

    async def _watch_health(self) -> None:
        """Log once when the instance gets cut off from etcd and once when it is back."""
        while True:
            ok, detail = self.cluster_ok()
            if ok != self._ok:
                if not ok:
                    log.error("Cluster: %s", detail)
                elif self._ok is not None:
                    log.notice("Cluster: etcd reachable again")
                self._ok = ok
            await asyncio.sleep(HEALTH_INTERVAL)
