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

import struct
from dataclasses import dataclass

from interlock.wire.codec import Reader, decode_text, lenenc_bytes
from interlock.wire.constants import Capability, Command, ServerStatus
from interlock.wire.errors import LocalProtocolError, RemoteProtocolError

PROTOCOL_VERSION = 10
_LOW32 = 0xFFFFFFFF
_SSL_REQUEST_SIZE = 32
_AUTH_SWITCH = 0xFE
_AUTH_MORE_DATA = 0x01

# Flag tests on plain ints: ``int & Capability.X`` goes through IntFlag's Python-level operators
# (about 1 us each); a login does dozens of them.  Enums are made at the edges, once per value.
_CLIENT_MYSQL = int(Capability.LONG_PASSWORD)
_CONNECT_WITH_DB = int(Capability.CONNECT_WITH_DB)
_PROTOCOL_41 = int(Capability.PROTOCOL_41)
_SSL = int(Capability.SSL)
_SECURE_CONNECTION = int(Capability.SECURE_CONNECTION)
_PLUGIN_AUTH = int(Capability.PLUGIN_AUTH)
_CONNECT_ATTRS = int(Capability.CONNECT_ATTRS)
_LENENC_CLIENT_DATA = int(Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA)
# HandshakeResponse41 / SSL request fixed part: caps, max packet, charset, 19 filler bytes,
# MariaDB extended caps
_FIXED = struct.Struct("<IIB19xI")
# Handshake v10 after the version string: connection id, nonce part 1, filler, caps low,
# charset, status, caps high, auth data length, 6 reserved bytes, MariaDB extended caps
_V10_FIXED = struct.Struct("<I8sxHBHHB6xI")
_V10_SHORT = struct.Struct("<I8sxH")

_CAPABILITIES: dict[int, Capability] = {}
_STATUSES: dict[int, ServerStatus] = {}


def as_capability(value: int) -> Capability:
    """``Capability(value)``, made once per distinct value (enum construction is slow)."""
    caps = _CAPABILITIES.get(value)
    if caps is None:
        if len(_CAPABILITIES) > 4096:  # many distinct values (a fuzzer): do not grow forever
            _CAPABILITIES.clear()
        caps = _CAPABILITIES[value] = Capability(value)
    return caps


def _as_status(value: int) -> ServerStatus:
    status = _STATUSES.get(value)
    if status is None:
        if len(_STATUSES) > 4096:
            _STATUSES.clear()
        status = _STATUSES[value] = ServerStatus(value)
    return status


def _has_extended(caps: int) -> bool:
    return not caps & _CLIENT_MYSQL


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
    data = payload if type(payload) is bytes else bytes(payload)
    if not data:
        raise RemoteProtocolError("empty handshake packet")
    if data[0] != PROTOCOL_VERSION:
        raise RemoteProtocolError(f"unsupported handshake protocol version {data[0]}")
    end = data.find(b"\0", 1)
    if end < 0:
        raise RemoteProtocolError("missing NUL terminator")
    server_version = decode_text(data[1:end], "server version")
    pos = end + 1
    size = len(data)
    if size - pos < _V10_SHORT.size:
        raise RemoteProtocolError("handshake packet truncated")
    if size - pos == _V10_SHORT.size:
        connection_id, nonce, caps = _V10_SHORT.unpack_from(data, pos)
        return HandshakeV10(server_version, connection_id, nonce, as_capability(caps), 0,
                            _as_status(0), "")
    if size - pos < _V10_FIXED.size:
        raise RemoteProtocolError("handshake packet truncated")
    connection_id, nonce, caps, charset, status, caps_high, auth_len, extended = (
        _V10_FIXED.unpack_from(data, pos)
    )
    pos += _V10_FIXED.size
    caps |= caps_high << 16
    if not caps & _CLIENT_MYSQL:
        caps |= extended << 32
    if caps & _SECURE_CONNECTION:
        want = max(13, auth_len - 8)
        part2 = data[pos : pos + want]
        pos += len(part2)
        nonce += part2[:-1] if part2.endswith(b"\0") else part2
    plugin = ""
    if caps & _PLUGIN_AUTH and pos < size:
        end = data.find(b"\0", pos)
        plugin = decode_text(data[pos:] if end < 0 else data[pos:end], "auth plugin")
    return HandshakeV10(server_version, connection_id, nonce, as_capability(caps), charset,
                        _as_status(status), plugin)


def build_handshake_v10(h: HandshakeV10) -> bytes:
    caps = int(h.capabilities)
    if len(h.nonce) < 8:
        raise LocalProtocolError("handshake nonce must have at least 8 bytes")
    extended = caps >> 32 if not caps & _CLIENT_MYSQL else 0
    secure = caps & _SECURE_CONNECTION
    plugin = caps & _PLUGIN_AUTH
    auth_len = len(h.nonce) + 1 if secure or plugin else 0
    parts = [
        b"\x0a",  # PROTOCOL_VERSION
        h.server_version.encode() + b"\0",
        _V10_FIXED.pack(h.connection_id & _LOW32, h.nonce[:8], caps & 0xFFFF, h.charset & 0xFF,
                        int(h.status) & 0xFFFF, (caps >> 16) & 0xFFFF, min(auth_len, 0xFF),
                        extended & _LOW32),
    ]
    if secure:
        parts.append(h.nonce[8:] + b"\0")
    if plugin:
        parts.append(h.auth_plugin.encode() + b"\0")
    return b"".join(parts)


class HandshakeTemplate:
    """The proxy's greeting, framed, with only the connection id and nonce left to fill in.

    Every client of a listener gets the same greeting except for those two fields, so the
    packet is built once (per version string, capabilities, charset and status) and rendered
    per connection by joining five pieces.  The nonce must be as long as the template's
    (20 bytes for mysql_native_password)."""

    __slots__ = ("_head", "_middle", "_secure", "_tail", "handshake", "nonce_size")

    def __init__(self, h: HandshakeV10, seq: int = 0) -> None:
        self.handshake = h
        self.nonce_size = len(h.nonce)
        payload = build_handshake_v10(h)
        version_end = payload.index(b"\0", 1) + 1  # after the version string
        nonce1 = version_end + 4
        middle_end = nonce1 + 8 + 19
        secure = bool(int(h.capabilities) & _SECURE_CONNECTION)  # nonce part 2 is sent
        header = len(payload).to_bytes(3, "little") + bytes((seq & 0xFF,))
        self._head = header + payload[:version_end]
        self._middle = payload[nonce1 + 8 : middle_end]
        self._tail = payload[middle_end + (len(h.nonce) - 8 if secure else 0) :]
        self._secure = secure

    def render(self, connection_id: int, nonce: bytes) -> bytes:
        """The framed greeting (header included) for one connection."""
        if len(nonce) != self.nonce_size:
            raise LocalProtocolError(f"nonce of {len(nonce)} bytes, template has {self.nonce_size}")
        if self._secure:
            return b"".join((self._head, (connection_id & _LOW32).to_bytes(4, "little"),
                             nonce[:8], self._middle, nonce[8:], self._tail))
        return b"".join((self._head, (connection_id & _LOW32).to_bytes(4, "little"),
                         nonce[:8], self._middle, self._tail))


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


def _read_fixed_part(data: bytes, server_caps: int) -> tuple[int, int, int]:
    """``(capabilities incl. extended bits, max packet size, charset)`` of the first 32 bytes."""
    if len(data) < 4:
        raise RemoteProtocolError(f"packet truncated: wanted 4 bytes, {len(data)} left")
    caps = data[0] | data[1] << 8 | data[2] << 16 | data[3] << 24
    if not caps & _PROTOCOL_41:
        raise RemoteProtocolError("pre-4.1 handshake responses are not supported")
    if len(data) < _FIXED.size:
        raise RemoteProtocolError(
            f"packet truncated: wanted {_FIXED.size} bytes, {len(data)} present"
        )
    _, max_packet, charset, extended = _FIXED.unpack_from(data)
    if not caps & _CLIENT_MYSQL and not server_caps & _CLIENT_MYSQL:
        caps |= extended << 32
    return caps, max_packet, charset


def is_ssl_request(payload: bytes | memoryview) -> bool:
    """True for the 32-byte SSL request a client sends before starting TLS."""
    if len(payload) != _SSL_REQUEST_SIZE:
        return False
    return bool(payload[1] << 8 & _SSL)


def parse_ssl_request(payload: bytes | memoryview, server_caps: Capability) -> SslRequest:
    if not is_ssl_request(payload):
        raise RemoteProtocolError("not an SSL request")
    caps, max_packet, charset = _read_fixed_part(bytes(payload), int(server_caps))
    return SslRequest(as_capability(caps), max_packet, charset)


def build_ssl_request(caps: Capability, max_packet_size: int, charset: int) -> bytes:
    value = int(caps)
    return _fixed_part(value, max_packet_size, charset, _has_extended(value))


def _fixed_part(caps: int, max_packet_size: int, charset: int, extended: bool) -> bytes:
    high = (caps >> 32) & _LOW32 if extended and not caps & _CLIENT_MYSQL else 0
    return _FIXED.pack(caps & _LOW32, max_packet_size & _LOW32, charset & 0xFF, high)


def _read_auth_response(r: Reader, caps: int) -> bytes:
    if caps & _LENENC_CLIENT_DATA:
        return r.read_lenenc_bytes()
    if caps & _SECURE_CONNECTION:
        return r.read_bytes(r.read_uint(1))
    return r.read_nul_bytes()


def _write_auth_response(data: bytes, caps: int) -> bytes:
    if caps & _LENENC_CLIENT_DATA:
        return lenenc_bytes(data)
    if caps & _SECURE_CONNECTION:
        if len(data) > 0xFF:
            raise LocalProtocolError("auth response too long for SECURE_CONNECTION")
        return bytes((len(data),)) + data
    if b"\0" in data:
        raise LocalProtocolError("auth response with NUL needs SECURE_CONNECTION")
    return data + b"\0"


# Connection attributes, decoded and encoded once per distinct block: a client library sends the
# same block on every connection of a process (``_pid`` included), so logins mostly hit.
_ATTRIBUTE_CACHE_SIZE = 256  # entries
_ATTRIBUTE_CACHE_MAX = 1024  # bytes: bigger blocks are not cached
_decoded_attributes: dict[bytes, tuple[tuple[str, str], ...]] = {}
_encoded_attributes: dict[tuple[tuple[str, str], ...], bytes] = {}


def _read_attributes(r: Reader) -> tuple[tuple[str, str], ...]:
    if r.at_end():
        return ()
    block = r.read_lenenc_bytes()
    attrs = _decoded_attributes.get(block)
    if attrs is None:
        attrs = _decode_attributes(block)
        if len(block) <= _ATTRIBUTE_CACHE_MAX:
            if len(_decoded_attributes) >= _ATTRIBUTE_CACHE_SIZE:
                _decoded_attributes.clear()
            _decoded_attributes[block] = attrs
    return attrs


def _decode_attributes(block: bytes) -> tuple[tuple[str, str], ...]:
    size = len(block)
    pos = 0
    items: list[bytes] = []
    while pos < size:
        length = block[pos]
        if length < 0xFB:  # the usual one-byte length
            end = pos + 1 + length
            if end > size:
                raise RemoteProtocolError("connection attribute truncated")
            items.append(block[pos + 1 : end])
            pos = end
        else:
            sub = Reader(block, pos)
            items.append(sub.read_lenenc_bytes())
            pos = sub.pos
    if len(items) % 2:
        raise RemoteProtocolError("connection attribute without a value")
    try:
        texts = [item.decode() for item in items]
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("connection attribute is not valid UTF-8") from exc
    return tuple(zip(texts[::2], texts[1::2], strict=True))


def _lenenc_text(text: str) -> bytes:
    raw = text.encode()
    return bytes((len(raw),)) + raw if len(raw) < 0xFB else lenenc_bytes(raw)


def _write_attributes(attrs: tuple[tuple[str, str], ...]) -> bytes:
    encoded = _encoded_attributes.get(attrs)
    if encoded is None:
        block = b"".join([_lenenc_text(k) + _lenenc_text(v) for k, v in attrs])
        encoded = lenenc_bytes(block)
        if len(block) <= _ATTRIBUTE_CACHE_MAX:
            if len(_encoded_attributes) >= _ATTRIBUTE_CACHE_SIZE:
                _encoded_attributes.clear()
            _encoded_attributes[attrs] = encoded
    return encoded


def parse_handshake_response41(
    payload: bytes | memoryview, server_caps: Capability
) -> HandshakeResponse41:
    """Parse a client's HandshakeResponse41.

    Optional fields are read according to the capabilities both sides have (client & server).
    """
    data = payload if type(payload) is bytes else bytes(payload)
    server = int(server_caps)
    caps, max_packet, charset = _read_fixed_part(data, server)
    eff = caps & server
    end = data.find(b"\0", _FIXED.size)
    if end < 0:
        raise RemoteProtocolError("missing NUL terminator")
    username = decode_text(data[_FIXED.size : end], "user name")
    pos = end + 1
    if eff & _SECURE_CONNECTION and not eff & _LENENC_CLIENT_DATA and pos < len(data):
        # the usual case: a 1-byte length, then the scramble
        end = pos + 1 + data[pos]
        if end > len(data):
            raise RemoteProtocolError("packet truncated in the auth response")
        auth = data[pos + 1 : end]
        r = Reader(data, end)
    else:
        r = Reader(data, pos)
        auth = _read_auth_response(r, eff)
    database = _optional_nul_text(r, "database") if eff & _CONNECT_WITH_DB else None
    plugin = _optional_nul_text(r, "auth plugin") if eff & _PLUGIN_AUTH else None
    attrs = _read_attributes(r) if eff & _CONNECT_ATTRS else ()
    return HandshakeResponse41(as_capability(caps), max_packet, charset, username, auth,
                               database, plugin, attrs)


def build_handshake_response41(r: HandshakeResponse41, server_caps: Capability) -> bytes:
    caps = int(r.capabilities)
    server = int(server_caps)
    eff = caps & server
    parts = [
        _fixed_part(caps, r.max_packet_size, r.charset, not server & _CLIENT_MYSQL),
        r.username.encode() + b"\0",
        _write_auth_response(r.auth_response, eff),
    ]
    if eff & _CONNECT_WITH_DB:
        parts.append((r.database or "").encode() + b"\0")
    if eff & _PLUGIN_AUTH:
        parts.append((r.auth_plugin or "").encode() + b"\0")
    if eff & _CONNECT_ATTRS:
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
    "HandshakeTemplate",
    "HandshakeV10",
    "SslRequest",
    "as_capability",
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
