"""The instance registry (``cluster=etcd``): every instance keeps ``<prefix>instances/<name>``
under a lease of its own, holding what ``interlock ctl cluster status`` shows about it.

Theory of operation.  The value is a JSON document built by the proxy (``describe()``: name,
admin URL, listeners, health, configuration revision, the monitors it leads; see
``interlock.admin.resources.cluster.instance_document``).  Every ``REFRESH`` seconds the
registry builds it again and writes it when it changed, or when ``MAX_AGE`` seconds passed
since the last write (so a key deleted by hand comes back).  The key is bound to the
registry's lease (a :class:`LeaseKeeper`, renewed every TTL/3): an instance that dies or is cut
off from etcd stops renewing it, etcd expires the lease after the TTL and deletes the key, and
the others no longer list it.  A lost lease is replaced by a new one and the key written again.

Each round also reads the whole registry (one range read); :attr:`InstanceRegistry.known` is
the last list read, with the local monotonic time of that read, so a cut-off instance still
shows what it last knew (and the metrics need no request to etcd).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlock.cluster.codec import prefix_end
from interlock.cluster.etcd import EtcdClient
from interlock.cluster.lease import LeaseKeeper
from interlock.errors import ClusterError
from interlock.log import get_logger

log = get_logger(__name__)

REFRESH = 1.0  # seconds between two looks at this instance's document
MAX_AGE = 5.0  # seconds: the key is written again at least this often
READ_TIMEOUT = 2.0  # seconds: a live range read of the registry (GET /v1/cluster)

Document = dict[str, Any]


def registry_prefix(prefix: str) -> bytes:
    return f"{prefix}instances/".encode()


@dataclass(slots=True)
class Known:
    """The registry as last read: the instances' documents, sorted by name."""

    instances: list[Document] = field(default_factory=list)
    read_at: float | None = None  # time.monotonic() of the read (None: never read)
    revision: int = 0

    def age(self) -> float | None:
        return None if self.read_at is None else time.monotonic() - self.read_at


def parse_instances(values: list[bytes]) -> list[Document]:
    """The documents of a range read (unreadable ones are skipped), sorted by instance name."""
    found: list[Document] = []
    for value in values:
        try:
            doc = json.loads(value)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("instance"), str):
            found.append(doc)
    return sorted(found, key=lambda d: str(d["instance"]))


class InstanceRegistry:
    """This instance's entry in the registry, and the last view of everybody's."""

    def __init__(self, client: EtcdClient, prefix: str, instance: str, ttl: int,
                 describe: Callable[[], Document]) -> None:
        self.client = client
        self.prefix = registry_prefix(prefix)
        self.key = self.prefix + instance.encode()
        self.instance = instance
        self.ttl = ttl
        self.describe = describe
        self.known = Known()
        self.writes = 0  # how many times the key was written (for the log and tests)
        self._keeper: LeaseKeeper | None = None
        self._written: bytes | None = None
        self._written_at = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- reads ----------------------------------------------------------------------------------

    async def read(self, timeout: float = READ_TIMEOUT) -> Known:
        """Read the whole registry now (updates :attr:`known`); raises ClusterError or
        TimeoutError when etcd does not answer in time."""
        deadline = asyncio.get_running_loop().time() + timeout
        result = await asyncio.wait_for(
            self.client.get_range(self.prefix, prefix_end(self.prefix)),
            max(0.05, deadline - asyncio.get_running_loop().time()))
        self.known = Known(parse_instances([kv.value for kv in result.kvs]), time.monotonic(),
                           result.revision)
        return self.known

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop refreshing and remove the key (revoking the lease; best effort: if etcd does
        not answer, the key expires with the lease)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            await keeper.stop()
            with contextlib.suppress(ClusterError, TimeoutError):
                await asyncio.wait_for(self.client.revoke(keeper.lease.id), 2.0)

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.refresh()
                if failing:
                    log.notice("Cluster: instance registry entry '%s' written again",
                               self.instance)
                failing = False
            except (ClusterError, TimeoutError) as exc:
                if not failing:
                    log.warning("Cluster: cannot refresh the instance registry entry '%s': %s",
                                self.instance, exc or type(exc).__name__)
                failing = True
            except Exception:  # the refresh must survive anything
                log.exception("Cluster: instance registry refresh failed")
            await asyncio.sleep(REFRESH)

    async def refresh(self) -> None:
        """One round: write this instance's document if it changed (or is old, or the lease
        is new), then read the registry."""
        keeper = await self._lease()
        value = json.dumps(self.describe(), sort_keys=True).encode()
        due = time.monotonic() - self._written_at >= MAX_AGE
        if value != self._written or due:
            await self.client.put(self.key, value, lease=keeper.lease.id)
            self._written, self._written_at = value, time.monotonic()
            self.writes += 1
        await self.read()

    async def _lease(self) -> LeaseKeeper:
        keeper = self._keeper
        if keeper is not None and not keeper.lost.is_set():
            return keeper
        if keeper is not None:
            await keeper.stop()
        self._keeper = None
        self._written = None  # the key went with the old lease: write it again
        self._keeper = await self.client.lease_keeper(self.ttl)
        return self._keeper
