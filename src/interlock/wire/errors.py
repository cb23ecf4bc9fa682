"""Exceptions of the wire layer.

Every malformed or unexpected byte sequence raises a :class:`ProtocolError` subclass and never
anything else (no ``IndexError``, ``struct.error`` or ``UnicodeDecodeError`` leaks out of this
package).  Following h11: :class:`LocalProtocolError` means *we* were asked to do something the
protocol does not allow (build an impossible packet, start a command while in the wrong state);
:class:`RemoteProtocolError` means the peer sent bytes that cannot be valid.
"""

from __future__ import annotations

from interlock.errors import InterlockError


class ProtocolError(InterlockError):
    """Root of the wire layer's exceptions."""


class LocalProtocolError(ProtocolError):
    """Our side asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid protocol message."""


class InvalidStoredHash(RemoteProtocolError, ValueError):
    """A stored ``mysql_native_password`` hash is not ``*`` + 40 hex digits (or empty)."""


class PacketTooLarge(RemoteProtocolError):
    """A logical packet exceeds the configured maximum payload size."""
