"""mysql_native_password: scramble, verification and recovery of SHA1(password)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_fixtures import load_kv

from interlock.wire.auth import (
    NATIVE_PASSWORD,
    double_sha1,
    format_stored_hash,
    new_nonce,
    parse_stored_hash,
    recover_sha1,
    scramble_native_password,
    token_from_sha1,
)
from interlock.wire.errors import InvalidStoredHash, ProtocolError
from interlock.wire.handshake import parse_handshake_response41, parse_handshake_v10

# PASSWORD('secret') as shown by MariaDB 10.11 (mysql.global_priv of the capture user)
SECRET_HASH = "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def reference_scramble(password: bytes, nonce: bytes) -> bytes:
    """The textbook formula, written independently of the module under test."""
    stage1 = sha1(password)
    mask = sha1(nonce + sha1(stage1))
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))


def test_stored_hash_of_secret() -> None:
    assert parse_stored_hash(SECRET_HASH) == sha1(sha1(b"secret"))
    assert format_stored_hash(double_sha1(b"secret")) == SECRET_HASH
    assert NATIVE_PASSWORD == "mysql_native_password"


@pytest.mark.parametrize("label", ["pymysql", "mariadb_cli", "connector"])
def test_real_client_responses(label: str) -> None:
    """Real clients logged in as cap/secret: our scramble matches theirs, and recovery works."""
    kv = load_kv(f"client_{label}")
    greeting = parse_handshake_v10(kv["greeting"][0])
    response = parse_handshake_response41(kv["response"][0], greeting.capabilities)
    assert response.auth_response == scramble_native_password(b"secret", greeting.nonce)
    assert response.auth_response == reference_scramble(b"secret", greeting.nonce)
    recovered = recover_sha1(response.auth_response, greeting.nonce,
                             parse_stored_hash(SECRET_HASH))
    assert recovered == sha1(b"secret")


def test_known_vector() -> None:
    nonce = bytes(range(1, 21))
    expected = reference_scramble(b"password", nonce)
    assert scramble_native_password(b"password", nonce) == expected
    assert token_from_sha1(sha1(b"password"), nonce) == expected


@given(st.binary(min_size=1, max_size=64), st.binary(min_size=20, max_size=20),
       st.binary(min_size=20, max_size=20))
def test_recover_then_answer_another_nonce(password: bytes, nonce: bytes, other: bytes) -> None:
    stored = double_sha1(password)
    response = scramble_native_password(password, nonce)
    sha1_pw = recover_sha1(response, nonce, stored)
    assert sha1_pw == sha1(password)
    assert token_from_sha1(sha1_pw, other) == scramble_native_password(password, other)


@given(st.binary(min_size=1, max_size=32), st.binary(min_size=1, max_size=32))
def test_wrong_password_is_rejected(password: bytes, wrong: bytes) -> None:
    nonce = bytes(range(20))
    stored = double_sha1(password)
    response = scramble_native_password(wrong, nonce)
    assert (recover_sha1(response, nonce, stored) is not None) == (wrong == password)


def test_empty_password() -> None:
    nonce = new_nonce()
    assert scramble_native_password(b"", nonce) == b""
    assert recover_sha1(b"", nonce, b"") == b""
    assert recover_sha1(b"x" * 20, nonce, b"") is None
    assert recover_sha1(b"", nonce, double_sha1(b"pw")) is None
    assert parse_stored_hash("") == b""


def test_nonce_with_trailing_nul_is_accepted() -> None:
    nonce = new_nonce()
    stored = double_sha1(b"pw")
    response = scramble_native_password(b"pw", nonce + b"\0")
    assert recover_sha1(response, nonce, stored) == sha1(b"pw")


@pytest.mark.parametrize("text", ["*ABC", "14E65567ABDB5135D0CFD9A70B3032C179A49EE7X",
                                  "*" + "G" * 40, "*" + "\u0663" * 40, "$A$005$xyz"])
def test_invalid_stored_hash(text: str) -> None:
    with pytest.raises(InvalidStoredHash):
        parse_stored_hash(text)
    assert issubclass(InvalidStoredHash, ProtocolError)
    assert issubclass(InvalidStoredHash, ValueError)


def test_new_nonce() -> None:
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        assert len(nonce) == 20
        assert all(33 <= b <= 126 for b in nonce)
