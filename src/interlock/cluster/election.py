"""Leader election on one lease-backed key, with fencing.

Theory of operation.  A candidate holds a lease (kept alive by a :class:`LeaseKeeper`) and
campaigns with one transaction: *if the key does not exist, create it with my value under my
lease*, else read it.  Whoever creates the key leads; the others watch the key and try again
when it is deleted, which etcd does itself when the leader's lease expires (the leader died,
or lost etcd for longer than the TTL) or when the leader resigns.  The term of a leader is
identified by the key's ``create_revision`` (unique for the life of the key) and its lease.

Two checks, for two uses:

- :meth:`Election.is_leader` is local and free: the term is ours and the lease certainly
  lives ``margin`` seconds from now (the keeper's lower bound on the lease's expiry, see
  :mod:`.lease`).  Good for "should I even try", for state and metrics.
- :meth:`Election.confirm` is the fence before each step of a cluster operation: a linearizable
  read-only transaction comparing the key's ``create_revision`` and lease with our term, then
  the local check again.  It raises :class:`NotLeader` when the key is gone or belongs to
  another term, when etcd cannot be asked, or when the lease may run out within ``margin``:
  a deposed leader cannot pass it, because another leader can only exist after our lease
  expired at etcd, which our keeper sees (locally) at least ``margin`` earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

from interlock.cluster.codec import Compare, Delete, EventType, Get, KeyValue, Put, RangeResult
from interlock.cluster.errors import (
    EtcdOutcomeUnknown,
    EtcdUnavailable,
    NotLeader,
    WatchCompacted,
)
from interlock.cluster.etcd import EtcdClient
from interlock.cluster.lease import LeaseKeeper
from interlock.cluster.watch import Watch
from interlock.errors import ClusterError
from interlock.log import get_logger

log = get_logger(__name__)

RETRY_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class Leader:
    """The holder of the election key: its value, and the term (create revision, lease)."""

    value: bytes
    create_revision: int
    lease: int

    @classmethod
    def from_kv(cls, kv: KeyValue) -> Leader:
        return cls(kv.value, kv.create_revision, kv.lease)


class Election:
    """One candidate (``value`` identifies it) for the election on ``key``."""

    def __init__(
        self,
        client: EtcdClient,
        key: bytes,
        value: bytes,
        *,
        ttl: int = 5,
        margin: float | None = None,
    ) -> None:
        self.client = client
        self.key = key
        self.value = value
        self.ttl = ttl
        #: is_leader()/confirm() fail once the lease could run out within this many seconds.
        self.margin = ttl / 4 if margin is None else margin
        if not 0 <= self.margin < ttl * 2 / 3:
            raise ValueError("the safety margin must be below 2/3 of the TTL")
        #: Our term while we lead (it may have ended: see is_leader()).
        self.held: Leader | None = None
        self._keeper: LeaseKeeper | None = None
        self._deposed = asyncio.Event()

    # -- state ----------------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """Cheap local check: we won, nobody told us otherwise, and the lease certainly lives
        for ``margin`` more seconds."""
        held, keeper = self.held, self._keeper
        return (
            held is not None
            and keeper is not None
            and held.lease == keeper.lease.id
            and not self._deposed.is_set()
            and keeper.alive(self.margin)
        )

    async def confirm(self) -> None:
        """Prove we still lead (see the module doc) or raise :class:`NotLeader`."""
        held, keeper = self.held, self._keeper
        if held is None or keeper is None or self._deposed.is_set():
            raise NotLeader(f"not the leader of {self.key!r}")
        if not self.is_leader():
            reason = keeper.lost_reason or "not renewed in time"
            raise NotLeader(f"lease {held.lease:x} may have run out: {reason}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.05, keeper.remaining() - self.margin)
        compares = [
            Compare.create(self.key, held.create_revision),
            Compare.lease(self.key, held.lease),
        ]
        try:
            result = await self.client.txn(compares, deadline=deadline)
        except ClusterError as exc:
            raise NotLeader(f"cannot confirm the leadership of {self.key!r}: {exc}") from exc
        if not result.succeeded:
            await self._depose("the election key now belongs to another term")
            raise NotLeader(f"deposed: {self.key!r} is no longer ours")
        if not self.is_leader():
            raise NotLeader(f"lease {held.lease:x} may run out before the next step")

    async def wait_lost(self) -> None:
        """Return when the current term ends as far as this instance can tell (lease lost or
        deposed); the local margin makes is_leader() false slightly earlier."""
        keeper = self._keeper
        if keeper is None or self.held is None:
            return
        await _first(keeper.lost.wait(), self._deposed.wait())

    # -- campaign -------------------------------------------------------------------------------

    async def campaign(self) -> Leader:
        """Become the leader: returns our term once we hold the key (retries through etcd
        outages; cancel the task to give up)."""
        if self.is_leader() and self.held is not None:
            return self.held
        self.held = None  # a term whose lease is lost is over, whatever comes next
        while True:
            try:
                keeper = await self._ensure_lease()
                current, revision = await self._try_acquire(keeper)
            except ClusterError as exc:
                log.warning("election %r: campaign attempt failed: %s", self.key, exc)
                await asyncio.sleep(RETRY_INTERVAL)
                continue
            if current is not None and current.lease == keeper.lease.id:
                self.held = current
                self._deposed = asyncio.Event()
                log.notice(
                    "election %r: this instance leads (revision %d)",
                    self.key,
                    current.create_revision,
                )
                return current
            await self._wait_for_vacancy(revision, keeper)

    async def _ensure_lease(self) -> LeaseKeeper:
        keeper = self._keeper
        if keeper is not None and keeper.alive(self.margin):
            return keeper
        if keeper is not None:
            await keeper.stop()
            with contextlib.suppress(ClusterError):
                await self.client.revoke(keeper.lease.id)
        self._keeper = None
        self._keeper = await self.client.lease_keeper(self.ttl)
        return self._keeper

    async def _try_acquire(self, keeper: LeaseKeeper) -> tuple[Leader | None, int]:
        """One create-if-absent transaction: (the key's holder or None, store revision)."""
        put = Put(self.key, self.value, lease=keeper.lease.id)
        try:
            result = await self.client.txn([Compare.create(self.key, 0)], [put], [Get(self.key)])
        except EtcdOutcomeUnknown:
            snapshot = await self.client.get_range(self.key)
            return _holder(snapshot), snapshot.revision
        if result.succeeded:
            return Leader(self.value, result.revision, keeper.lease.id), result.revision
        current = result.responses[0] if result.responses else None
        return (_holder(current) if isinstance(current, RangeResult) else None), result.revision

    async def _wait_for_vacancy(self, revision: int, keeper: LeaseKeeper) -> None:
        """Until the key is deleted after ``revision`` or our lease is lost."""
        watch = self.client.watch(self.key, start_revision=revision + 1)
        try:
            await _first(_until_deleted(watch), keeper.lost.wait())
        except (EtcdUnavailable, WatchCompacted) as exc:
            log.warning("election %r: watching the leader failed: %s", self.key, exc)
            await asyncio.sleep(RETRY_INTERVAL)
        finally:
            watch.close()

    # -- leaving --------------------------------------------------------------------------------

    async def resign(self) -> None:
        """Give up the leadership (delete the key if it is still ours) and the lease."""
        held = self.held
        self.held = None
        if held is not None:
            try:
                await self.client.txn(
                    [Compare.create(self.key, held.create_revision)], [Delete(self.key)]
                )
                log.notice("election %r: resigned", self.key)
            except ClusterError as exc:
                log.warning("election %r: could not delete the key on resign: %s", self.key, exc)
        await self._drop_lease()

    async def _depose(self, reason: str) -> None:
        log.warning("election %r: no longer the leader: %s", self.key, reason)
        self._deposed.set()
        self.held = None
        await self._drop_lease()

    async def _drop_lease(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            await keeper.stop()
            with contextlib.suppress(ClusterError):
                await self.client.revoke(keeper.lease.id)

    # -- observing ------------------------------------------------------------------------------

    async def leader(self) -> Leader | None:
        """The current holder of the key, read linearizably (None: no leader)."""
        return _holder(await self.client.get_range(self.key))

    async def observe(self) -> AsyncIterator[Leader | None]:
        """The current leader, then each change (None while there is none).  Raises
        :class:`EtcdUnavailable` when etcd cannot be reached."""
        while True:
            snapshot = await self.client.get_range(self.key)
            current = _holder(snapshot)
            yield current
            try:
                async with self.client.watch(self.key, start_revision=snapshot.revision + 1) as w:
                    async for batch in w:
                        event = batch.events[-1]
                        new = None if event.type == EventType.DELETE else Leader.from_kv(event.kv)
                        if new != current:
                            current = new
                            yield current
            except WatchCompacted:
                continue


def _holder(result: RangeResult) -> Leader | None:
    return Leader.from_kv(result.kvs[0]) if result.kvs else None


async def _until_deleted(watch: Watch) -> None:
    async for batch in watch:
        if any(event.type == EventType.DELETE for event in batch.events):
            return


async def _first(*awaitables: Awaitable[object]) -> None:
    """Run the awaitables until the first one finishes (its exception is raised); cancel the
    rest."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
