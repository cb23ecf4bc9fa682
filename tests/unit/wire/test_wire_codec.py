"""Length-encoded integers/strings and the Reader cursor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock.wire.codec import Reader, lenenc_bytes, lenenc_int, lenenc_int_size
from interlock.wire.errors import LocalProtocolError, ProtocolError, RemoteProtocolError


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (250, b"\xfa"),
        (251, b"\xfc\xfb\x00"),
        (0xFFFF, b"\xfc\xff\xff"),
        (0x10000, b"\xfd\x00\x00\x01"),
        (0xFFFFFF, b"\xfd\xff\xff\xff"),
        (0x1000000, b"\xfe\x00\x00\x00\x01\x00\x00\x00\x00"),
        ((1 << 64) - 1, b"\xfe" + b"\xff" * 8),
    ],
)
def test_lenenc_int_boundaries(value: int, encoded: bytes) -> None:
    assert lenenc_int(value) == encoded
    assert lenenc_int_size(encoded[0]) == len(encoded)
    r = Reader(encoded)
    assert r.read_lenenc_int() == value and r.at_end()


@given(st.integers(0, (1 << 64) - 1))
def test_lenenc_int_round_trip(value: int) -> None:
    assert Reader(lenenc_int(value)).read_lenenc_int() == value


@given(st.binary(max_size=300), st.binary(max_size=10))
def test_lenenc_bytes_round_trip(value: bytes, tail: bytes) -> None:
    r = Reader(lenenc_bytes(value) + tail)
    assert r.read_lenenc_bytes() == value
    assert r.read_rest() == tail


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_lenenc_int_out_of_range(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        lenenc_int(value)


@pytest.mark.parametrize("prefix", [0xFB, 0xFF])
def test_invalid_lenenc_prefix(prefix: int) -> None:
    with pytest.raises(RemoteProtocolError):
        Reader(bytes((prefix, 1, 2, 3))).read_lenenc_int()


def test_reader_reads_in_order() -> None:
    r = Reader(b"\x01\x02\x03\x04abc\x00rest")
    assert r.read_uint(2) == 0x0201
    assert r.read_bytes(2) == b"\x03\x04"
    assert r.read_nul_bytes() == b"abc"
    assert r.remaining == 4
    assert r.read_rest() == b"rest" and r.at_end()


@pytest.mark.parametrize(
    "read",
    [
        lambda r: r.read_uint(4),
        lambda r: r.read_bytes(4),
        lambda r: r.read_lenenc_bytes(),
        lambda r: r.read_nul_bytes(),
        lambda r: Reader(b"\xfc\x01").read_lenenc_int(),
        lambda r: Reader(b"").peek(),
    ],
)
def test_truncation_raises_protocol_error(read: object) -> None:
    r = Reader(b"\x05ab")
    with pytest.raises(ProtocolError):
        read(r)  # type: ignore[operator]


def test_reader_accepts_memoryview() -> None:
    r = Reader(memoryview(b"\x03abc"))
    assert r.read_lenenc_bytes() == b"abc"
