"""The client side of LOCAL INFILE: the terminating empty packet, at any split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_fixtures import split

from interlock.wire.errors import RemoteProtocolError
from interlock.wire.framing import MAX_PAYLOAD, encode_packet
from interlock.wire.infile import ClientFileTracker


def file_stream(sizes: list[int], first_seq: int) -> tuple[bytes, int]:
    parts = []
    seq = first_seq
    for size in sizes:
        parts.append(encode_packet(bytes(size), seq))
        seq += size // MAX_PAYLOAD + 1
    parts.append(encode_packet(b"", seq))
    return b"".join(parts), seq & 0xFF


@given(st.lists(st.integers(1, 3000), max_size=6), st.integers(0, 255),
       st.lists(st.integers(0, 20_000), max_size=20))
def test_end_found_at_any_split(sizes: list[int], request_seq: int, cuts: list[int]) -> None:
    stream, last_seq = file_stream(sizes, request_seq + 1)
    tracker = ClientFileTracker(request_seq)
    results = [tracker.feed(piece) for piece in split(stream, cuts)]
    assert results[-1] and not any(results[:-1])
    assert tracker.seq == last_seq


def test_empty_continuation_is_not_the_end() -> None:
    stream, _ = file_stream([MAX_PAYLOAD], 2)
    tracker = ClientFileTracker(1)
    full_and_continuation = 4 + MAX_PAYLOAD + 4
    assert not tracker.feed(stream[:full_and_continuation])
    assert tracker.feed(stream[full_and_continuation:])


def test_wrong_sequence_id() -> None:
    with pytest.raises(RemoteProtocolError):
        ClientFileTracker(1).feed(encode_packet(b"", 3))


def test_data_after_the_end() -> None:
    with pytest.raises(RemoteProtocolError):
        ClientFileTracker(1).feed(encode_packet(b"", 2) + b"\x01")
