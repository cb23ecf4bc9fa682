"""Packet framing: headers, >= 16 MiB splitting, reassembly from arbitrary pieces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_fixtures import load, split

from interlock.wire.errors import PacketTooLarge, ProtocolError, RemoteProtocolError
from interlock.wire.framing import (
    MAX_PAYLOAD,
    Packet,
    PacketBuffer,
    encode_packet,
    packets_needed,
    peek_header,
)


def headers(stream: bytes) -> list[tuple[int, int]]:
    out = []
    pos = 0
    while pos < len(stream):
        length, seq = peek_header(stream, pos)
        out.append((length, seq))
        pos += 4 + length
    assert pos == len(stream)
    return out


def test_small_packet() -> None:
    assert encode_packet(b"\x0e", 0) == b"\x01\x00\x00\x00\x0e"
    assert encode_packet(b"", 7) == b"\x00\x00\x00\x07"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (MAX_PAYLOAD - 1, [(MAX_PAYLOAD - 1, 0)]),
        (MAX_PAYLOAD, [(MAX_PAYLOAD, 0), (0, 1)]),
        (MAX_PAYLOAD + 1, [(MAX_PAYLOAD, 0), (1, 1)]),
        (2 * MAX_PAYLOAD, [(MAX_PAYLOAD, 0), (MAX_PAYLOAD, 1), (0, 2)]),
    ],
)
def test_large_payloads_are_split(size: int, expected: list[tuple[int, int]]) -> None:
    payload = bytes(size)
    stream = encode_packet(payload, 0)
    assert headers(stream) == expected
    assert packets_needed(size) == len(expected)
    buf = PacketBuffer()
    buf.feed(stream)
    assert buf.next_packet() == Packet(len(expected) - 1, payload)
    assert buf.next_packet() is None and buf.buffered == 0


def test_sequence_ids_wrap() -> None:
    stream = encode_packet(bytes(MAX_PAYLOAD), 255)
    assert headers(stream) == [(MAX_PAYLOAD, 255), (0, 0)]
    buf = PacketBuffer()
    buf.feed(stream)
    packet = buf.next_packet()
    assert packet is not None and packet.seq == 0


@settings(max_examples=6, deadline=None)
@given(st.integers(MAX_PAYLOAD - 3, MAX_PAYLOAD + 3), st.integers(0, 255))
def test_round_trip_around_16mib(size: int, seq: int) -> None:
    payload = bytes([size & 0xFF]) * size
    buf = PacketBuffer()
    stream = encode_packet(payload, seq)
    for i in range(0, len(stream), 1 << 22):
        buf.feed(stream[i : i + (1 << 22)])
    packet = buf.next_packet()
    assert packet is not None and packet.payload == payload
    assert packet.seq == (seq + packets_needed(size) - 1) & 0xFF


@given(st.lists(st.binary(max_size=600), min_size=1, max_size=8),
       st.lists(st.integers(0, 6000), max_size=30))
def test_any_split_yields_the_same_packets(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_packet(p, i) for i, p in enumerate(payloads))
    buf = PacketBuffer()
    got: list[Packet] = []
    for piece in split(stream, cuts):
        buf.feed(piece)
        got += buf.packets()
    assert got == [Packet(i, p) for i, p in enumerate(payloads)]
    assert buf.buffered == 0


@given(st.lists(st.integers(0, 40_000), max_size=40))
def test_captured_stream_any_split(cuts: list[int]) -> None:
    stream = load("big_result_eof").server_bytes()
    whole = PacketBuffer()
    whole.feed(stream)
    expected = whole.packets()
    assert len(expected) == 1005
    buf = PacketBuffer()
    got: list[Packet] = []
    for piece in split(stream, cuts):
        buf.feed(piece)
        got += buf.packets()
    assert got == expected


def test_partial_packet_is_buffered() -> None:
    buf = PacketBuffer()
    buf.feed(b"\x05\x00\x00\x00ab")
    assert buf.next_packet() is None and buf.buffered == 6
    buf.feed(b"cde")
    assert buf.next_packet() == Packet(0, b"abcde")


def test_max_payload_limit() -> None:
    buf = PacketBuffer(max_payload=10)
    buf.feed(b"\x0b\x00\x00\x00")  # 11 bytes announced: refused before they arrive
    with pytest.raises(PacketTooLarge):
        buf.next_packet()
    buf = PacketBuffer(max_payload=MAX_PAYLOAD + 5)
    buf.feed(encode_packet(bytes(MAX_PAYLOAD + 6), 0))
    with pytest.raises(ProtocolError):
        buf.next_packet()


def test_fragments_out_of_order() -> None:
    stream = bytearray(encode_packet(bytes(MAX_PAYLOAD + 1), 0))
    stream[4 + MAX_PAYLOAD + 3] = 5  # second fragment should have seq 1
    buf = PacketBuffer()
    buf.feed(bytes(stream))
    with pytest.raises(RemoteProtocolError):
        buf.next_packet()


def test_peek_header_needs_four_bytes() -> None:
    assert peek_header(b"\x01\x02\x03\x04", 0) == (0x030201, 4)
    with pytest.raises(RemoteProtocolError):
        peek_header(b"\x01\x02\x03", 0)
