"""The etcd v3 client Interlock uses: key-value reads and writes, compare-and-swap
transactions, watches that survive failover, and leases.

It speaks etcd's JSON gRPC gateway over aiohttp (why: ``docs/cluster.md``, "The etcd client");
endpoints, failover, timeouts, TLS and authentication live in :mod:`.transport`, the resumable
watch in :mod:`.watch`, the lease keeper in :mod:`.lease`.  Keys and values are ``bytes``.

    async with EtcdClient(EtcdSettings(("127.0.0.1:2379",))) as etcd:
        snapshot = await etcd.get_prefix(b"/interlock/config/")
        outcome = await etcd.compare_and_swap(b"/interlock/config/x", b"v", kv.mod_revision)
        async with etcd.watch_prefix(b"/interlock/", start_revision=snapshot.revision + 1) as w:
            async for batch in w: ...
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from interlock.cluster.codec import (
    Compare,
    DeleteResult,
    Get,
    KeyValue,
    Put,
    PutResult,
    RangeResult,
    TxnOp,
    TxnResult,
    delete_request,
    prefix_end,
    put_request,
    range_request,
    txn_request,
)
from interlock.cluster.codec import (
    Delete as DeleteOp,
)
from interlock.cluster.errors import EtcdRequestError
from interlock.cluster.lease import Lease, LeaseKeeper
from interlock.cluster.transport import EtcdSettings, Transport
from interlock.cluster.watch import Watch


@dataclass(frozen=True, slots=True)
class CasResult:
    """Outcome of a compare-and-swap: on a conflict, ``current`` is the key as it is now
    (None: absent), read in the same transaction."""

    succeeded: bool
    revision: int
    current: KeyValue | None


class EtcdClient:
    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self.transport = Transport(settings)
        self._keepers: set[LeaseKeeper] = set()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the lease keepers this client started (their leases are left to expire) and
        close the connections."""
        for keeper in list(self._keepers):
            await keeper.stop()
        self._keepers.clear()
        await self.transport.close()

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to first."""
        return self.transport.current

    @property
    def last_contact(self) -> float | None:
        """``time.monotonic()`` of the last answer from etcd (None: none yet)."""
        return self.transport.last_contact

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, key: bytes) -> KeyValue | None:
        result = await self.get_range(key)
        return result.kvs[0] if result.kvs else None

    async def get_range(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        serializable: bool = False,
    ) -> RangeResult:
        """Keys in ``[key, range_end)`` (just ``key`` without ``range_end``), linearizable
        unless ``serializable``; ``revision`` reads an older snapshot."""
        body = range_request(
            key, range_end, revision=revision, limit=limit, serializable=serializable
        )
        answer = await self.transport.call("/v3/kv/range", body, idempotent=True)
        return RangeResult.from_json(answer)

    async def get_prefix(self, prefix: bytes, *, revision: int = 0) -> RangeResult:
        return await self.get_range(prefix, prefix_end(prefix), revision=revision)

    # -- writes ---------------------------------------------------------------------------------

    async def put(
        self, key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False
    ) -> PutResult:
        body = put_request(key, value, lease=lease, prev_kv=prev_kv)
        answer = await self.transport.call("/v3/kv/put", body, idempotent=False)
        return PutResult.from_json(answer)

    async def delete(
        self, key: bytes, *, prefix: bool = False, prev_kv: bool = False
    ) -> DeleteResult:
        body = delete_request(key, prefix_end(key) if prefix else b"", prev_kv=prev_kv)
        answer = await self.transport.call("/v3/kv/deleterange", body, idempotent=False)
        return DeleteResult.from_json(answer)

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp] = (),
        failure: Sequence[TxnOp] = (),
        *,
        attempt_timeout: float | None = None,
        deadline: float | None = None,
    ) -> TxnResult:
        """If every compare holds run ``success`` else ``failure``, atomically.  A txn that
        only reads is resent elsewhere on failure; one that writes is not
        (:class:`EtcdOutcomeUnknown`)."""
        writes = any(not isinstance(op, Get) for op in (*success, *failure))
        answer = await self.transport.call(
            "/v3/kv/txn",
            txn_request(list(compares), list(success), list(failure)),
            idempotent=not writes,
            attempt_timeout=attempt_timeout,
            deadline=deadline,
        )
        return TxnResult.from_json(answer)

    async def compare_and_swap(
        self, key: bytes, value: bytes, mod_revision: int, *, lease: int = 0
    ) -> CasResult:
        """Write ``value`` if ``key`` is still at ``mod_revision`` (0: create if absent)."""
        result = await self.txn(
            [Compare.mod(key, mod_revision)], [Put(key, value, lease=lease)], [Get(key)]
        )
        return _cas_result(result)

    async def compare_and_delete(self, key: bytes, mod_revision: int) -> CasResult:
        """Delete ``key`` if it is still at ``mod_revision``."""
        result = await self.txn([Compare.mod(key, mod_revision)], [DeleteOp(key)], [Get(key)])
        return _cas_result(result)

    # -- watches --------------------------------------------------------------------------------

    def watch(
        self, key: bytes, *, range_end: bytes = b"", start_revision: int = 0, prev_kv: bool = False
    ) -> Watch:
        """Events on ``key`` (or ``[key, range_end)``) from ``start_revision`` (0: from now)."""
        return Watch(self.transport, key, range_end, start_revision=start_revision, prev_kv=prev_kv)

    def watch_prefix(
        self, prefix: bytes, *, start_revision: int = 0, prev_kv: bool = False
    ) -> Watch:
        return self.watch(
            prefix, range_end=prefix_end(prefix), start_revision=start_revision, prev_kv=prev_kv
        )

    # -- leases ---------------------------------------------------------------------------------

    async def grant(self, ttl: int) -> Lease:
        answer = await self.transport.call("/v3/lease/grant", {"TTL": str(ttl)}, idempotent=True)
        return Lease(int(answer["ID"]), int(answer["TTL"]))

    async def keepalive_once(
        self, lease_id: int, attempt_timeout: float | None = None, deadline: float | None = None
    ) -> int:
        """Renew a lease once; its TTL, or 0 when etcd no longer knows it."""
        answer = await self.transport.call(
            "/v3/lease/keepalive",
            {"ID": str(lease_id)},
            idempotent=True,
            attempt_timeout=attempt_timeout,
            deadline=deadline,
        )
        return int(answer.get("result", {}).get("TTL", 0))

    async def time_to_live(self, lease_id: int) -> int:
        """Seconds the lease has left according to etcd (-1: no such lease)."""
        answer = await self.transport.call(
            "/v3/lease/timetolive", {"ID": str(lease_id)}, idempotent=True
        )
        return int(answer.get("TTL", -1))

    async def revoke(self, lease_id: int) -> None:
        """Revoke a lease (its keys are deleted); an unknown lease is not an error."""
        try:
            await self.transport.call("/v3/lease/revoke", {"ID": str(lease_id)}, idempotent=True)
        except EtcdRequestError as exc:
            if "lease not found" not in exc.message:
                raise

    async def lease_keeper(self, ttl: int) -> LeaseKeeper:
        """Grant a lease and keep it alive in the background (stop with ``keeper.stop()``)."""
        granted_at = time.monotonic()
        lease = await self.grant(ttl)
        keeper = LeaseKeeper(lease, granted_at, self._keepalive_for_keeper)
        keeper.start()
        self._keepers = {k for k in self._keepers if k.running}
        self._keepers.add(keeper)
        return keeper

    async def _keepalive_for_keeper(
        self, lease_id: int, attempt_timeout: float, deadline: float
    ) -> int:
        return await self.keepalive_once(lease_id, attempt_timeout, deadline)


def _cas_result(result: TxnResult) -> CasResult:
    if result.succeeded:
        return CasResult(True, result.revision, None)
    current = result.responses[0] if result.responses else None
    kv = current.kvs[0] if isinstance(current, RangeResult) and current.kvs else None
    return CasResult(False, result.revision, kv)


__all__ = ["CasResult", "EtcdClient", "EtcdSettings", "Lease", "LeaseKeeper", "Watch"]
