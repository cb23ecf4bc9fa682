"""The wire layer's exception hierarchy."""

from __future__ import annotations

from interlock.errors import InterlockError
from interlock.wire.errors import (
    InvalidStoredHash,
    LocalProtocolError,
    PacketTooLarge,
    ProtocolError,
    RemoteProtocolError,
)


def test_one_root_under_interlock_error() -> None:
    assert issubclass(ProtocolError, InterlockError)
    for cls in (LocalProtocolError, RemoteProtocolError, InvalidStoredHash, PacketTooLarge):
        assert issubclass(cls, ProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
