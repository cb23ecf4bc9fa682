"""Connection phase packets: Handshake v10, HandshakeResponse41, SSL request, auth switch,
auth-more-data and COM_CHANGE_USER, each as a frozen dataclass with ``parse_*``/``build_*``.

MariaDB extended capabilities (bits 32..63 of :class:`Capability`) travel in reserved bytes:
in Handshake v10 at offset 6 of the 10 reserved bytes, in HandshakeResponse41 / the SSL request
in the last 4 of the 23 filler bytes.  They are exchanged only when the sender clears
``CLIENT_MYSQL`` (bit 0, ``LONG_PASSWORD``); a server that sets bit 0 is a MySQL server (or a
MariaDB server talking MySQL), and then the bytes are zero.  When building, extended bits are
written only if bit 0 is clear (and, for a client, the server also cleared it); otherwise they
are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.wire.codec import Reader, decode_text, lenenc_bytes
from interlock.wire.constants import CLIENT_MYSQL, Capability, Command, ServerStatus
from interlock.wire.errors import LocalProtocolError, RemoteProtocolError

PROTOCOL_VERSION = 10
_LOW32 = 0xFFFFFFFF
_SSL_REQUEST_SIZE = 32
_AUTH_SWITCH = 0xFE
_AUTH_MORE_DATA = 0x01


def _has_extended(caps: int) -> bool:
    return not caps & CLIENT_MYSQL


def _nul_text(r: Reader, what: str) -> str:
    return decode_text(r.read_nul_bytes(), what)


def _optional_nul_text(r: Reader, what: str) -> str:
    """A NUL-terminated string whose terminator some peers omit at the end of a packet."""
    if r.at_end():
        return ""
    raw = r.read_rest()
    end = raw.find(b"\0")
    if end >= 0:
        r.pos -= len(raw) - end - 1
        raw = raw[:end]
    return decode_text(raw, what)


# -- Handshake v10 ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeV10:
    server_version: str
    connection_id: int
    nonce: bytes  # usually 20 bytes, without the trailing NUL
    capabilities: Capability
    charset: int
    status: ServerStatus
    auth_plugin: str


def parse_handshake_v10(payload: bytes | memoryview) -> HandshakeV10:
    r = Reader(payload)
    version = r.read_uint(1)
    if version != PROTOCOL_VERSION:
        raise RemoteProtocolError(f"unsupported handshake protocol version {version}")
    server_version = _nul_text(r, "server version")
    connection_id = r.read_uint(4)
    nonce = r.read_bytes(8)
    r.skip(1)
    caps = r.read_uint(2)
    if r.at_end():
        return HandshakeV10(server_version, connection_id, nonce, Capability(caps), 0,
                            ServerStatus(0), "")
    charset = r.read_uint(1)
    status = ServerStatus(r.read_uint(2))
    caps |= r.read_uint(2) << 16
    auth_len = r.read_uint(1)
    r.skip(6)
    extended = r.read_uint(4)
    if _has_extended(caps):
        caps |= extended << 32
    if caps & Capability.SECURE_CONNECTION:
        part2 = r.read_bytes(min(max(13, auth_len - 8), r.remaining))
        nonce += part2[:-1] if part2.endswith(b"\0") else part2
    plugin = _optional_nul_text(r, "auth plugin") if caps & Capability.PLUGIN_AUTH else ""
    return HandshakeV10(server_version, connection_id, nonce, Capability(caps), charset,
                        status, plugin)


def build_handshake_v10(h: HandshakeV10) -> bytes:
    caps = int(h.capabilities)
    if len(h.nonce) < 8:
        raise LocalProtocolError("handshake nonce must have at least 8 bytes")
    extended = caps >> 32 if _has_extended(caps) else 0
    secure = caps & Capability.SECURE_CONNECTION
    auth_len = len(h.nonce) + 1 if secure or caps & Capability.PLUGIN_AUTH else 0
    parts = [
        bytes((PROTOCOL_VERSION,)),
        h.server_version.encode() + b"\0",
        h.connection_id.to_bytes(4, "little"),
        h.nonce[:8],
        b"\0",
        (caps & 0xFFFF).to_bytes(2, "little"),
        h.charset.to_bytes(1, "little"),
        int(h.status).to_bytes(2, "little"),
        ((caps >> 16) & 0xFFFF).to_bytes(2, "little"),
        min(auth_len, 0xFF).to_bytes(1, "little"),
        bytes(6),
        extended.to_bytes(4, "little"),
    ]
    if secure:
        parts.append(h.nonce[8:] + b"\0")
    if caps & Capability.PLUGIN_AUTH:
        parts.append(h.auth_plugin.encode() + b"\0")
    return b"".join(parts)


# -- HandshakeResponse41 and SSL request -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeResponse41:
    capabilities: Capability  # as sent by the client, incl. MariaDB extended bits
    max_packet_size: int
    charset: int
    username: str
    auth_response: bytes
    database: str | None = None
    auth_plugin: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SslRequest:
    capabilities: Capability
    max_packet_size: int
    charset: int


def _read_fixed_part(r: Reader, server_caps: int) -> SslRequest:
    caps = r.read_uint(4)
    if not caps & Capability.PROTOCOL_41:
        raise RemoteProtocolError("pre-4.1 handshake responses are not supported")
    max_packet = r.read_uint(4)
    charset = r.read_uint(1)
    r.skip(19)
    extended = r.read_uint(4)
    if _has_extended(caps) and _has_extended(server_caps):
        caps |= extended << 32
    return SslRequest(Capability(caps), max_packet, charset)


def is_ssl_request(payload: bytes | memoryview) -> bool:
    """True for the 32-byte SSL request a client sends before starting TLS."""
    if len(payload) != _SSL_REQUEST_SIZE:
        return False
    caps = payload[0] | payload[1] << 8 | payload[2] << 16 | payload[3] << 24
    return bool(caps & Capability.SSL)


def parse_ssl_request(payload: bytes | memoryview, server_caps: Capability) -> SslRequest:
    if not is_ssl_request(payload):
        raise RemoteProtocolError("not an SSL request")
    return _read_fixed_part(Reader(payload), server_caps)


def build_ssl_request(caps: Capability, max_packet_size: int, charset: int) -> bytes:
    return _fixed_part(int(caps), max_packet_size, charset, _has_extended(caps))


def _fixed_part(caps: int, max_packet_size: int, charset: int, extended: bool) -> bytes:
    return b"".join((
        (caps & _LOW32).to_bytes(4, "little"),
        max_packet_size.to_bytes(4, "little"),
        charset.to_bytes(1, "little"),
        bytes(19),
        ((caps >> 32) if extended and _has_extended(caps) else 0).to_bytes(4, "little"),
    ))


def _read_auth_response(r: Reader, caps: int) -> bytes:
    if caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA:
        return r.read_lenenc_bytes()
    if caps & Capability.SECURE_CONNECTION:
        return r.read_bytes(r.read_uint(1))
    return r.read_nul_bytes()


def _write_auth_response(data: bytes, caps: int) -> bytes:
    if caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA:
        return lenenc_bytes(data)
    if caps & Capability.SECURE_CONNECTION:
        if len(data) > 0xFF:
            raise LocalProtocolError("auth response too long for SECURE_CONNECTION")
        return bytes((len(data),)) + data
    if b"\0" in data:
        raise LocalProtocolError("auth response with NUL needs SECURE_CONNECTION")
    return data + b"\0"


def _read_attributes(r: Reader) -> tuple[tuple[str, str], ...]:
    if r.at_end():
        return ()
    block = Reader(r.read_lenenc_bytes())
    attrs: list[tuple[str, str]] = []
    while not block.at_end():
        key = decode_text(block.read_lenenc_bytes(), "connection attribute")
        attrs.append((key, decode_text(block.read_lenenc_bytes(), "connection attribute")))
    return tuple(attrs)


def _write_attributes(attrs: tuple[tuple[str, str], ...]) -> bytes:
    block = b"".join(lenenc_bytes(k.encode()) + lenenc_bytes(v.encode()) for k, v in attrs)
    return lenenc_bytes(block)


def parse_handshake_response41(
    payload: bytes | memoryview, server_caps: Capability
) -> HandshakeResponse41:
    """Parse a client's HandshakeResponse41.

    Optional fields are read according to the capabilities both sides have (client & server).
    """
    r = Reader(payload)
    fixed = _read_fixed_part(r, server_caps)
    caps = int(fixed.capabilities)
    eff = caps & int(server_caps)
    username = _nul_text(r, "user name")
    auth = _read_auth_response(r, eff)
    database = _optional_nul_text(r, "database") if eff & Capability.CONNECT_WITH_DB else None
    plugin = _optional_nul_text(r, "auth plugin") if eff & Capability.PLUGIN_AUTH else None
    attrs = _read_attributes(r) if eff & Capability.CONNECT_ATTRS else ()
    return HandshakeResponse41(Capability(caps), fixed.max_packet_size, fixed.charset, username,
                               auth, database, plugin, attrs)


def build_handshake_response41(r: HandshakeResponse41, server_caps: Capability) -> bytes:
    caps = int(r.capabilities)
    eff = caps & int(server_caps)
    parts = [
        _fixed_part(caps, r.max_packet_size, r.charset, _has_extended(server_caps)),
        r.username.encode() + b"\0",
        _write_auth_response(r.auth_response, eff),
    ]
    if eff & Capability.CONNECT_WITH_DB:
        parts.append((r.database or "").encode() + b"\0")
    if eff & Capability.PLUGIN_AUTH:
        parts.append((r.auth_plugin or "").encode() + b"\0")
    if eff & Capability.CONNECT_ATTRS:
        parts.append(_write_attributes(r.attributes))
    return b"".join(parts)


# -- auth switch / more data -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthSwitchRequest:
    plugin: str
    data: bytes  # for mysql_native_password: the 20-byte nonce plus a trailing NUL


@dataclass(frozen=True, slots=True)
class AuthMoreData:
    data: bytes


def is_auth_switch(payload: bytes | memoryview) -> bool:
    return len(payload) > 0 and payload[0] == _AUTH_SWITCH


def parse_auth_switch(payload: bytes | memoryview) -> AuthSwitchRequest:
    r = Reader(payload)
    if r.read_uint(1) != _AUTH_SWITCH:
        raise RemoteProtocolError("not an auth switch request")
    if r.at_end():
        raise RemoteProtocolError("old-style auth switch (mysql_old_password) is not supported")
    plugin = _nul_text(r, "auth plugin")
    return AuthSwitchRequest(plugin, r.read_rest())


def build_auth_switch(req: AuthSwitchRequest) -> bytes:
    return b"\xfe" + req.plugin.encode() + b"\0" + req.data


parse_auth_switch_request = parse_auth_switch
build_auth_switch_request = build_auth_switch


def parse_auth_more_data(payload: bytes | memoryview) -> AuthMoreData:
    r = Reader(payload)
    if r.read_uint(1) != _AUTH_MORE_DATA:
        raise RemoteProtocolError("not an auth-more-data packet")
    return AuthMoreData(r.read_rest())


def build_auth_more_data(data: bytes) -> bytes:
    return b"\x01" + data


# -- COM_CHANGE_USER -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeUser:
    username: str
    auth_response: bytes
    database: str = ""
    charset: int | None = None
    auth_plugin: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


def parse_change_user(payload: bytes | memoryview, caps: Capability) -> ChangeUser:
    """Parse a COM_CHANGE_USER payload (including the 0x11 command byte)."""
    r = Reader(payload)
    if r.read_uint(1) != Command.CHANGE_USER:
        raise RemoteProtocolError("not a COM_CHANGE_USER packet")
    username = _nul_text(r, "user name")
    if caps & Capability.SECURE_CONNECTION:
        auth = r.read_bytes(r.read_uint(1))
    else:
        auth = r.read_nul_bytes()
    database = _optional_nul_text(r, "database")
    if r.remaining < 2:
        return ChangeUser(username, auth, database)
    charset = r.read_uint(2)
    plugin = _optional_nul_text(r, "auth plugin") if caps & Capability.PLUGIN_AUTH else None
    attrs = _read_attributes(r) if caps & Capability.CONNECT_ATTRS else ()
    return ChangeUser(username, auth, database, charset, plugin, attrs)


def build_change_user(cu: ChangeUser, caps: Capability) -> bytes:
    parts = [bytes((Command.CHANGE_USER,)), cu.username.encode() + b"\0"]
    if caps & Capability.SECURE_CONNECTION:
        parts.append(_write_auth_response(cu.auth_response, Capability.SECURE_CONNECTION))
    else:
        parts.append(_write_auth_response(cu.auth_response, 0))
    parts.append(cu.database.encode() + b"\0")
    if cu.charset is not None:
        parts.append(cu.charset.to_bytes(2, "little"))
        if caps & Capability.PLUGIN_AUTH:
            parts.append((cu.auth_plugin or "").encode() + b"\0")
        if caps & Capability.CONNECT_ATTRS:
            parts.append(_write_attributes(cu.attributes))
    return b"".join(parts)


__all__ = [
    "AuthMoreData",
    "AuthSwitchRequest",
    "ChangeUser",
    "HandshakeResponse41",
    "HandshakeV10",
    "SslRequest",
    "build_auth_more_data",
    "build_auth_switch",
    "build_auth_switch_request",
    "build_change_user",
    "build_handshake_response41",
    "build_handshake_v10",
    "build_ssl_request",
    "is_auth_switch",
    "is_ssl_request",
    "parse_auth_more_data",
    "parse_auth_switch",
    "parse_auth_switch_request",
    "parse_change_user",
    "parse_handshake_response41",
    "parse_handshake_v10",
    "parse_ssl_request",
]
