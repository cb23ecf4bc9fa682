"""Connection phase packets: captured from MariaDB 10.11 and real clients, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_fixtures import DATA, load_kv

from interlock.wire.constants import CLIENT_MYSQL, Capability, ServerStatus
from interlock.wire.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from interlock.wire.framing import encode_packet
from interlock.wire.handshake import (
    AuthMoreData,
    AuthSwitchRequest,
    ChangeUser,
    HandshakeResponse41,
    HandshakeTemplate,
    HandshakeV10,
    as_capability,
    build_auth_more_data,
    build_auth_switch,
    build_change_user,
    build_handshake_response41,
    build_handshake_v10,
    build_ssl_request,
    is_auth_switch,
    is_ssl_request,
    parse_auth_more_data,
    parse_auth_switch,
    parse_change_user,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ssl_request,
)

MARIADB_EXT = (Capability.MARIADB_CLIENT_PROGRESS | Capability.MARIADB_CLIENT_STMT_BULK_OPERATIONS
               | Capability.MARIADB_CLIENT_EXTENDED_METADATA
               | Capability.MARIADB_CLIENT_CACHE_METADATA)


def greeting_bytes() -> bytes:
    return bytes.fromhex((DATA / "handshake_v10.hex").read_text().strip())


def test_captured_mariadb_greeting() -> None:
    payload = greeting_bytes()
    h = parse_handshake_v10(payload)
    assert h.server_version.startswith("5.5.5-10.11.") and "MariaDB" in h.server_version
    assert len(h.nonce) == 20 and b"\0" not in h.nonce
    assert h.auth_plugin == "mysql_native_password"
    assert not h.capabilities & CLIENT_MYSQL  # MariaDB clears it to offer its extensions
    assert h.capabilities & MARIADB_EXT == MARIADB_EXT
    assert h.capabilities & Capability.DEPRECATE_EOF and h.capabilities & Capability.SESSION_TRACK
    assert h.status == ServerStatus.AUTOCOMMIT
    assert build_handshake_v10(h) == payload


@pytest.mark.parametrize("label", ["mariadb_cli", "pymysql", "connector"])
def test_captured_client_responses(label: str) -> None:
    kv = load_kv(f"client_{label}")
    greeting = parse_handshake_v10(kv["greeting"][0])
    response = parse_handshake_response41(kv["response"][0], greeting.capabilities)
    assert response.username == "cap" and response.database == "wt"
    assert response.auth_plugin == "mysql_native_password" and len(response.auth_response) == 20
    assert dict(response.attributes)["_client_name"]
    assert build_handshake_response41(response, greeting.capabilities) == kv["response"][0]
    assert not is_ssl_request(kv["response"][0])


def test_libmariadb_sends_extended_capabilities() -> None:
    kv = load_kv("client_mariadb_cli")
    greeting = parse_handshake_v10(kv["greeting"][0])
    response = parse_handshake_response41(kv["response"][0], greeting.capabilities)
    assert not response.capabilities & CLIENT_MYSQL
    assert response.capabilities & Capability.MARIADB_CLIENT_STMT_BULK_OPERATIONS
    # the same bytes sent to a MySQL-style server (CLIENT_MYSQL set): no extended bits read
    mysql_server = greeting.capabilities | CLIENT_MYSQL
    plain = parse_handshake_response41(kv["response"][0], mysql_server)
    assert not plain.capabilities & Capability(0xFFFFFFFF << 32)


def test_captured_change_user() -> None:
    kv = load_kv("client_connector")
    greeting = parse_handshake_v10(kv["greeting"][0])
    response = parse_handshake_response41(kv["response"][0], greeting.capabilities)
    caps = response.capabilities & greeting.capabilities
    (payload,) = kv["change_user"]
    cu = parse_change_user(payload, caps)
    assert (cu.username, cu.auth_response, cu.database) == ("nopw", b"", "wt")
    assert cu.charset == 45 and cu.auth_plugin == "mysql_native_password"
    assert build_change_user(cu, caps) == payload


def test_ssl_request() -> None:
    caps = Capability.PROTOCOL_41 | Capability.SSL | Capability.MARIADB_CLIENT_STMT_BULK_OPERATIONS
    payload = build_ssl_request(caps, 1 << 24, 45)
    assert len(payload) == 32 and is_ssl_request(payload)
    request = parse_ssl_request(payload, Capability.PROTOCOL_41)  # server with extensions
    assert request.capabilities == caps and request.charset == 45
    assert not is_ssl_request(build_ssl_request(Capability.PROTOCOL_41, 1 << 24, 45))


def test_auth_switch_and_more_data() -> None:
    req = AuthSwitchRequest("mysql_native_password", b"12345678901234567890\0")
    payload = build_auth_switch(req)
    assert is_auth_switch(payload) and parse_auth_switch(payload) == req
    assert parse_auth_more_data(build_auth_more_data(b"\x03")) == AuthMoreData(b"\x03")
    with pytest.raises(RemoteProtocolError):
        parse_auth_switch(b"\xfe")  # pre-4.1 "use old password"


def test_pre41_response_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_handshake_response41(bytes(40), Capability.PROTOCOL_41)


def test_greeting_with_error_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_handshake_v10(b"\xff\x69\x04Host '1.2.3.4' is blocked")


def test_auth_response_with_nul_needs_secure_connection() -> None:
    r = HandshakeResponse41(Capability.PROTOCOL_41, 0, 45, "u", b"a\0b")
    with pytest.raises(LocalProtocolError):
        build_handshake_response41(r, Capability.PROTOCOL_41)


# -- round trips ---------------------------------------------------------------------------

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=30)
low_caps = st.integers(0, 0xFFFFFFFF).map(Capability)
ext_caps = st.integers(0, 0xFFFFFFFF).map(lambda v: Capability(v << 32))


@given(names, st.integers(0, 0xFFFFFFFF), st.binary(min_size=20, max_size=20), low_caps,
       ext_caps, st.integers(0, 255), st.integers(0, 0xFFFF), names)
def test_handshake_v10_round_trip(version: str, conn_id: int, nonce: bytes, caps: Capability,
                                  ext: Capability, charset: int, status: int,
                                  plugin: str) -> None:
    caps |= Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH | Capability.PROTOCOL_41
    if not caps & CLIENT_MYSQL:
        caps |= ext
    h = HandshakeV10(version, conn_id, nonce, caps, charset, ServerStatus(status), plugin)
    assert parse_handshake_v10(build_handshake_v10(h)) == h


attrs = st.lists(st.tuples(names, names), max_size=4).map(tuple)


@given(low_caps, ext_caps, low_caps, st.integers(0, 0xFFFFFFFF), st.integers(0, 255), names,
       st.binary(max_size=40), names, names, attrs)
def test_handshake_response41_round_trip(
    caps: Capability, ext: Capability, server_caps: Capability, max_packet: int, charset: int,
    user: str, auth: bytes, db: str, plugin: str, attributes: tuple[tuple[str, str], ...],
) -> None:
    caps |= Capability.PROTOCOL_41
    if not caps & CLIENT_MYSQL and not server_caps & CLIENT_MYSQL:
        caps |= ext
    eff = caps & server_caps
    if not eff & (Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA):
        auth = auth.replace(b"\0", b"")
    r = HandshakeResponse41(
        caps, max_packet, charset, user, auth,
        db if eff & Capability.CONNECT_WITH_DB else None,
        plugin if eff & Capability.PLUGIN_AUTH else None,
        attributes if eff & Capability.CONNECT_ATTRS else (),
    )
    payload = build_handshake_response41(r, server_caps)
    assert parse_handshake_response41(payload, server_caps) == r


@given(low_caps, names, st.binary(max_size=40), names, st.one_of(st.none(), st.integers(0, 0xFFFF)),
       names, attrs)
def test_change_user_round_trip(caps: Capability, user: str, auth: bytes, db: str,
                                charset: int | None, plugin: str,
                                attributes: tuple[tuple[str, str], ...]) -> None:
    if not caps & Capability.SECURE_CONNECTION:
        auth = auth.replace(b"\0", b"")
    has_tail = charset is not None
    cu = ChangeUser(user, auth, db, charset,
                    plugin if has_tail and caps & Capability.PLUGIN_AUTH else None,
                    attributes if has_tail and caps & Capability.CONNECT_ATTRS else ())
    assert parse_change_user(build_change_user(cu, caps), caps) == cu


# -- the proxy's greeting template and the login fast paths ----------------------------------


@given(names, st.integers(0, 0xFFFFFFFF), st.binary(min_size=20, max_size=20), low_caps,
       ext_caps, st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
       st.binary(min_size=20, max_size=20))
def test_template_renders_what_build_handshake_v10_frames(
    version: str, conn_id: int, nonce: bytes, caps: Capability, ext: Capability, charset: int,
    status: int, other_id: int, other_nonce: bytes,
) -> None:
    caps |= Capability.PROTOCOL_41
    if not caps & CLIENT_MYSQL:
        caps |= ext
    made = HandshakeV10(version, conn_id, nonce, caps, charset, ServerStatus(status),
                        "mysql_native_password")
    template = HandshakeTemplate(made)
    for cid, n in ((conn_id, nonce), (other_id, other_nonce)):
        h = HandshakeV10(version, cid, n, caps, charset, ServerStatus(status),
                         "mysql_native_password")
        assert template.render(cid, n) == encode_packet(build_handshake_v10(h), 0)


def test_template_of_the_captured_greeting_and_nonce_size() -> None:
    h = parse_handshake_v10(greeting_bytes())
    template = HandshakeTemplate(h)
    assert template.render(h.connection_id, h.nonce)[4:] == greeting_bytes()
    with pytest.raises(LocalProtocolError):
        template.render(1, h.nonce[:8])


def test_attributes_cached_and_uncached_parse_alike() -> None:
    long_value = "v" * 300  # a two-byte length (0xFC prefix)
    attrs = (("_client_name", "x"), ("k", long_value), ("empty", ""), ("utf8", "\u00e9"))
    r = HandshakeResponse41(Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION
                            | Capability.CONNECT_ATTRS, 1 << 24, 45, "u", b"a" * 20,
                            attributes=attrs)
    server = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.CONNECT_ATTRS
    payload = build_handshake_response41(r, server)
    assert build_handshake_response41(r, server) == payload  # cached encoding, same bytes
    first = parse_handshake_response41(payload, server)
    second = parse_handshake_response41(payload, server)  # from the cache
    assert first == second == r
    big = (("k", "x" * 2000),)  # too big for the cache: parsed every time
    rb = HandshakeResponse41(r.capabilities, 1 << 24, 45, "u", b"", attributes=big)
    assert parse_handshake_response41(build_handshake_response41(rb, server), server) == rb


def test_bad_attribute_blocks_are_protocol_errors() -> None:
    server = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.CONNECT_ATTRS
    r = HandshakeResponse41(server, 1 << 24, 45, "u", b"")
    head = build_handshake_response41(r, server)[:-1]  # without its empty attribute block
    for block in (b"\x01k", b"\x05ab", b"\x01\xff\x01v", b"\x01k\x01"):
        with pytest.raises(RemoteProtocolError):
            parse_handshake_response41(head + bytes((len(block),)) + block, server)


@given(st.integers(0, (1 << 38) - 1))
def test_as_capability_is_the_enum_value(value: int) -> None:
    assert as_capability(value) == Capability(value)
    assert as_capability(value) is as_capability(value)
