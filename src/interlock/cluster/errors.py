"""Exceptions of the cluster layer (etcd client, leases, election).

Everything the package raises on purpose derives from :class:`~interlock.errors.ClusterError`.
The distinctions a caller acts on:

- :class:`EtcdUnavailable`: no endpoint answered (connect refused, timeout, member without a
  raft leader).  Nothing was written.
- :class:`EtcdOutcomeUnknown`: a write was sent but its answer was lost, so it may or may not
  have been applied (the caller re-reads before retrying; a compare-and-swap retried blindly
  could report a conflict against its own write).
- :class:`EtcdRequestError`: etcd answered and refused (permission denied, bad request, ...);
  ``code`` is the gRPC status code etcd gave.
- :class:`WatchCompacted`: a watch asked for history etcd has compacted away; the caller must
  reload the whole prefix and watch again from the reload's revision.
- :class:`LeaseLost` / :class:`NotLeader`: leadership is gone (fencing).
"""

from __future__ import annotations

from interlock.errors import ClusterError


class EtcdUnavailable(ClusterError):
    """No etcd endpoint could serve the request; nothing was applied."""


class EtcdOutcomeUnknown(EtcdUnavailable):
    """A write reached an endpoint but its answer was lost: it may have been applied."""


class EtcdRequestError(ClusterError):
    """etcd answered with an error (gRPC status ``code``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"etcd: {message} (code {code})")
        self.code = code
        self.message = message


class EtcdAuthError(EtcdRequestError):
    """The user name or password was refused, or the user lacks a permission."""


class WatchCompacted(ClusterError):
    """The revision a watch should resume from was compacted; reload and watch again."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(
            f"etcd compacted its history up to revision {compact_revision}: reload the prefix"
        )
        self.compact_revision = compact_revision


class LeaseLost(ClusterError):
    """The lease expired, was revoked, or could not be renewed before its TTL ran out."""


class NotLeader(ClusterError):
    """This instance does not hold (or can no longer prove it holds) the election key."""
