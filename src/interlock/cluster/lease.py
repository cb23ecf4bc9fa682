"""Leases: grant, keep alive, revoke; and a local, conservative view of whether one lives.

Theory of operation.  etcd expires a lease ``TTL`` seconds after the last keepalive it
*received*; that is never earlier than ``TTL`` seconds after we *sent* it.  So the keeper
records the local monotonic time just before each keepalive it sends, and when etcd confirms
the renewal it knows the lease lives at least until ``sent + TTL`` (``expires_at``): a lower
bound that needs no clock agreement with etcd, only that the two clocks run at about the same
rate.  etcd may keep the lease longer (a new raft leader renews every lease), never shorter,
unless someone revokes it, which is what an explicit check (``Election.confirm``) is for.

The keeper renews every ``TTL/3``; a failed renewal is retried every half second on the other
endpoints until ``expires_at`` passes, and then the lease is *lost*: from then on the keeper
stops and says so, even if etcd would still have renewed it.  A lost lease is never revived;
its holder grants a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from interlock.cluster.codec import GrpcCode
from interlock.cluster.errors import EtcdRequestError, EtcdUnavailable, LeaseLost
from interlock.log import get_logger

log = get_logger(__name__)

RETRY_INTERVAL = 0.5

#: ``keepalive(lease_id, attempt_timeout, deadline) -> remaining TTL (0: the lease is gone)``.
KeepaliveCall = Callable[[int, float, float], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl: int


class LeaseKeeper:
    """Keeps ``lease`` alive in a background task (``start()``) until ``stop()`` or loss."""

    def __init__(self, lease: Lease, granted_at: float, keepalive: KeepaliveCall) -> None:
        self.lease = lease
        #: Local monotonic time before which etcd certainly has not expired the lease.
        self.expires_at = granted_at + lease.ttl
        self.last_renewed = granted_at
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._keepalive = keepalive
        self._task: asyncio.Task[None] | None = None
        self._last_warned = -1.0  # last_renewed when the last failure was logged

    @property
    def interval(self) -> float:
        return self.lease.ttl / 3

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"etcd-lease-{self.lease.id:x}"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def remaining(self) -> float:
        return 0.0 if self.lost.is_set() else max(0.0, self.expires_at - time.monotonic())

    def alive(self, margin: float = 0.0) -> bool:
        """The lease certainly still lives ``margin`` seconds from now (as far as renewals go;
        a revocation by someone else is not seen here)."""
        return not self.lost.is_set() and time.monotonic() + margin < self.expires_at

    def check(self, margin: float = 0.0) -> None:
        if not self.alive(margin):
            raise LeaseLost(f"lease {self.lease.id:x}: {self.lost_reason or 'about to run out'}")

    def mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()
            log.warning("etcd lease %x lost: %s", self.lease.id, reason)

    async def _run(self) -> None:
        next_at = self.last_renewed + self.interval
        while not self.lost.is_set():
            await asyncio.sleep(max(0.0, min(next_at, self.expires_at) - time.monotonic()))
            now = time.monotonic()
            if now >= self.expires_at:
                self.mark_lost("not renewed before its TTL ran out")
                return
            next_at = await self._renew_once(now)

    async def _renew_once(self, sent: float) -> float:
        """One keepalive; returns when to send the next one."""
        loop = asyncio.get_running_loop()
        budget = self.expires_at - sent
        deadline = loop.time() + budget
        try:
            ttl = await self._keepalive(self.lease.id, min(self.interval, budget), deadline)
        except EtcdUnavailable as exc:
            if self.last_renewed == self._last_warned:
                log.debug("etcd lease %x: keepalive failed again (%s)", self.lease.id, exc)
            else:
                self._last_warned = self.last_renewed
                log.warning("etcd lease %x: keepalive failed (%s); retrying", self.lease.id, exc)
            return time.monotonic() + RETRY_INTERVAL
        except EtcdRequestError as exc:
            if exc.code == GrpcCode.NOT_FOUND:
                self.mark_lost("etcd no longer knows it (expired or revoked)")
            else:
                log.warning("etcd lease %x: keepalive refused (%s)", self.lease.id, exc)
            return time.monotonic() + RETRY_INTERVAL
        if ttl <= 0:
            self.mark_lost("etcd no longer knows it (expired or revoked)")
            return sent
        self.expires_at = sent + ttl
        self.last_renewed = sent
        return sent + self.interval
