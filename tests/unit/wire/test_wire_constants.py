"""Protocol constants: values and the capabilities the proxy may advertise."""

from __future__ import annotations

from wire_fixtures import DATA

from interlock.wire.constants import (
    CLIENT_MYSQL,
    MARIADB_EXTENDED_MASK,
    SUPPORTED_CAPABILITIES,
    Capability,
    Command,
    ErrorCode,
    ServerStatus,
)
from interlock.wire.handshake import parse_handshake_v10


def test_capability_bits() -> None:
    assert Capability.LONG_PASSWORD == CLIENT_MYSQL == 1
    assert Capability.PROTOCOL_41 == 512 and Capability.SECURE_CONNECTION == 1 << 15
    assert Capability.DEPRECATE_EOF == 1 << 24
    assert Capability.MARIADB_CLIENT_PROGRESS == 1 << 32
    assert Capability.MARIADB_CLIENT_BULK_UNIT_RESULTS == 1 << 37
    assert MARIADB_EXTENDED_MASK == 0xFFFFFFFF << 32


def test_supported_capabilities() -> None:
    for flag in (Capability.COMPRESS, Capability.MARIADB_CLIENT_PROGRESS,
                 Capability.MARIADB_CLIENT_COM_MULTI, CLIENT_MYSQL):
        assert not SUPPORTED_CAPABILITIES & flag, flag
    for flag in (Capability.PROTOCOL_41, Capability.SECURE_CONNECTION, Capability.PLUGIN_AUTH,
                 Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA, Capability.CONNECT_WITH_DB,
                 Capability.CONNECT_ATTRS, Capability.MULTI_STATEMENTS,
                 Capability.MULTI_RESULTS, Capability.PS_MULTI_RESULTS,
                 Capability.DEPRECATE_EOF, Capability.SESSION_TRACK, Capability.LOCAL_FILES,
                 Capability.SSL, Capability.MARIADB_CLIENT_CACHE_METADATA):
        assert SUPPORTED_CAPABILITIES & flag, flag


def test_mariadb_offers_what_the_proxy_advertises() -> None:
    greeting = parse_handshake_v10(bytes.fromhex((DATA / "handshake_v10.hex").read_text()))
    missing = SUPPORTED_CAPABILITIES & ~(greeting.capabilities | Capability.SSL)
    assert missing == Capability(0)  # the capture server ran without TLS


def test_status_and_command_values() -> None:
    assert ServerStatus.IN_TRANS == 1 and ServerStatus.MORE_RESULTS_EXISTS == 8
    assert ServerStatus.IN_TRANS_READONLY == 8192 and ServerStatus.SESSION_STATE_CHANGED == 16384
    assert Command.QUERY == 3 and Command.RESET_CONNECTION == 31
    assert Command.STMT_BULK_EXECUTE == 0xFA
    assert ErrorCode.ACCESS_DENIED == 1045 and ErrorCode.SERVER_LOST == 2013
