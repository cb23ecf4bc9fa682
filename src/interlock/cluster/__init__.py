"""Shared state for several Interlock instances, kept in etcd (issue 9).

- :mod:`.etcd`: the client (``EtcdClient``, ``EtcdSettings``): reads, writes, compare-and-swap,
  resumable watches, leases; over etcd's v3 JSON gateway (see ``docs/cluster.md``).
- :mod:`.election`: leader election on a lease-backed key with fencing (``Election``).
- :mod:`.errors`: the exceptions, all under :class:`interlock.errors.ClusterError`.
"""

from __future__ import annotations

from interlock.cluster.codec import (
    Compare,
    CompareResult,
    CompareTarget,
    Delete,
    EventType,
    Get,
    KeyValue,
    Put,
    RangeResult,
    TxnResult,
    WatchEvent,
)
from interlock.cluster.election import Election, Leader
from interlock.cluster.errors import (
    EtcdAuthError,
    EtcdOutcomeUnknown,
    EtcdRequestError,
    EtcdUnavailable,
    LeaseLost,
    NotLeader,
    WatchCompacted,
)
from interlock.cluster.etcd import CasResult, EtcdClient
from interlock.cluster.lease import Lease, LeaseKeeper
from interlock.cluster.transport import EtcdSettings
from interlock.cluster.watch import Watch, WatchBatch

__all__ = [
    "CasResult",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "Delete",
    "Election",
    "EtcdAuthError",
    "EtcdClient",
    "EtcdOutcomeUnknown",
    "EtcdRequestError",
    "EtcdSettings",
    "EtcdUnavailable",
    "EventType",
    "Get",
    "KeyValue",
    "Leader",
    "Lease",
    "LeaseKeeper",
    "LeaseLost",
    "NotLeader",
    "Put",
    "RangeResult",
    "TxnResult",
    "Watch",
    "WatchBatch",
    "WatchCompacted",
    "WatchEvent",
]
