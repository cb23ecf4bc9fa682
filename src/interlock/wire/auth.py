"""mysql_native_password, including the proxy trick of logging in without the plaintext.

The server stores ``SHA1(SHA1(pw))``.  A client answers the nonce with
``SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))``.  Knowing the stored hash, the proxy can undo the
XOR to recover ``SHA1(pw)``, check it against the stored hash, and later answer a backend's
nonce with :func:`token_from_sha1` — never knowing the password itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from interlock.wire.errors import InvalidStoredHash

NATIVE_PASSWORD = "mysql_native_password"
NONCE_SIZE = 20
_HASH_SIZE = 20
_PRINTABLE_FIRST = 33  # servers use printable ASCII 33..126 for their nonces
_PRINTABLE_COUNT = 94


_new_sha1 = hashlib.sha1


def _sha1(*parts: bytes) -> bytes:
    return _new_sha1(b"".join(parts) if len(parts) != 1 else parts[0]).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR of two equal-length strings (as one big-int XOR: 5x faster than a loop)."""
    if len(a) != len(b):
        raise ValueError("_xor needs equal lengths")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _nonce20(nonce: bytes) -> bytes:
    return nonce[:NONCE_SIZE]


def token_from_sha1(sha1_pw: bytes, nonce: bytes) -> bytes:
    """Answer ``nonce`` knowing only ``SHA1(password)``."""
    return _xor(sha1_pw, _sha1(_nonce20(nonce), _sha1(sha1_pw)))


def scramble_native_password(password: bytes, nonce: bytes) -> bytes:
    """The client's auth response for ``password``; ``b""`` for an empty password."""
    if not password:
        return b""
    return token_from_sha1(_sha1(password), nonce)


def double_sha1(password: bytes) -> bytes:
    """What the server stores: ``SHA1(SHA1(password))`` (``b""`` for no password)."""
    return _sha1(_sha1(password)) if password else b""


def recover_sha1(response: bytes, nonce: bytes, stored: bytes) -> bytes | None:
    """Verify a client's response; return ``SHA1(password)`` if valid, else ``None``.

    ``stored`` is ``SHA1(SHA1(password))`` as 20 raw bytes, or ``b""`` for an account without a
    password (then only an empty response is valid and ``b""`` is returned).
    """
    if not stored:
        return b"" if not response else None
    if len(stored) != _HASH_SIZE or len(response) != _HASH_SIZE:
        return None
    candidate = _xor(response, _sha1(_nonce20(nonce), stored))
    return candidate if hmac.compare_digest(_sha1(candidate), stored) else None


def parse_stored_hash(text: str) -> bytes:
    """``"*"`` + 40 hex digits (``mysql.user.authentication_string``) to 20 raw bytes."""
    if text == "":
        return b""
    if len(text) != 1 + 2 * _HASH_SIZE or text[0] != "*":
        raise InvalidStoredHash(f"not a mysql_native_password hash: {text[:8]!r}...")
    try:
        return bytes.fromhex(text[1:])
    except ValueError as exc:
        raise InvalidStoredHash("mysql_native_password hash is not hexadecimal") from exc


def format_stored_hash(stored: bytes) -> str:
    """Inverse of :func:`parse_stored_hash` (upper-case hex, as the server shows it)."""
    return "*" + stored.hex().upper() if stored else ""


# random byte b < 188 -> 33 + b % 94 (unbiased: 188 = 2 * 94); bytes >= 188 are dropped
_TO_PRINTABLE = bytes(_PRINTABLE_FIRST + b % _PRINTABLE_COUNT if b < 2 * _PRINTABLE_COUNT else 0
                      for b in range(256))
_REJECTED = bytes(range(2 * _PRINTABLE_COUNT, 256))


def new_nonce() -> bytes:
    """20 random printable ASCII bytes (33..126), never NUL, like the server's scramble."""
    # one C-level pass: 40 random bytes keep on average 29 (at least 20 with p > 0.9993)
    out = os.urandom(NONCE_SIZE * 2).translate(_TO_PRINTABLE, _REJECTED)
    while len(out) < NONCE_SIZE:
        out += os.urandom(NONCE_SIZE).translate(_TO_PRINTABLE, _REJECTED)
    return out[:NONCE_SIZE]
