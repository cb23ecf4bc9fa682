"""Exception roots, one per layer.

Every layer raises only subclasses of its own root, so a caller can catch exactly one layer's
failures.  Failures that reach a client carry a MySQL error code and SQLSTATE
(:class:`ClientError`) so the I/O shell can always turn them into a proper ERR packet.
"""

from __future__ import annotations


class InterlockError(Exception):
    """Root of every exception Interlock raises on purpose."""


class ClientError(InterlockError):
    """A failure to report to a client as an ERR packet."""

    def __init__(self, code: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.sqlstate = sqlstate
        self.message = message


class ConfigError(InterlockError):
    """A configuration file is invalid; the message names file, line, section and key."""


class SandboxError(InterlockError):
    """The local sandbox cluster could not be set up or driven."""


class AdminError(InterlockError):
    """A REST API request cannot be served; ``status`` is the HTTP status and the message goes
    to the client in a JSON:API ``errors`` document (``interlock.admin``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClusterError(InterlockError):
    """The shared state in etcd cannot be read, written or trusted (``interlock.cluster``)."""
