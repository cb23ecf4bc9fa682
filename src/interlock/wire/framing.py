"""Packet framing: 4-byte headers (3-byte little-endian length + sequence id).

A logical packet whose payload is ``0xFFFFFF`` bytes or longer is sent as several physical
packets of ``0xFFFFFF`` bytes followed by a shorter one; a payload whose length is an exact
multiple of ``0xFFFFFF`` is terminated by an empty packet.  Every physical packet carries the
next sequence id (mod 256).

:class:`PacketBuffer` is used where whole logical packets are needed (the handshake, client
commands).  Result sets are relayed without it, see :mod:`interlock.wire.response`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from interlock.wire.errors import LocalProtocolError, PacketTooLarge, RemoteProtocolError

MAX_PAYLOAD = 0xFFFFFF
HEADER_SIZE = 4
DEFAULT_MAX_LOGICAL_PAYLOAD = 1 << 30


@dataclass(frozen=True, slots=True)
class Packet:
    """One logical packet; ``seq`` is the sequence id of its last physical fragment."""

    seq: int
    payload: bytes


def encode_header(length: int, seq: int) -> bytes:
    if not 0 <= length <= MAX_PAYLOAD:
        raise LocalProtocolError(f"physical packet length out of range: {length}")
    return bytes((length & 0xFF, (length >> 8) & 0xFF, length >> 16, seq & 0xFF))


def encode_packet(payload: bytes | bytearray | memoryview, seq: int) -> bytes:
    """Frame ``payload`` starting at sequence id ``seq`` (split when >= 16 MiB)."""
    size = len(payload)
    if size < MAX_PAYLOAD:
        return encode_header(size, seq) + bytes(payload)
    view = memoryview(payload)
    parts: list[bytes | memoryview] = []
    pos = 0
    while True:
        chunk = view[pos : pos + MAX_PAYLOAD]
        parts.append(encode_header(len(chunk), seq))
        parts.append(chunk)
        seq += 1
        pos += len(chunk)
        if len(chunk) < MAX_PAYLOAD:
            break
    return b"".join(parts)


def packets_needed(payload_length: int) -> int:
    """Number of physical packets :func:`encode_packet` emits for this payload length."""
    return payload_length // MAX_PAYLOAD + 1


def peek_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """``(payload length, sequence id)`` of the header at ``buf[pos:pos+4]``."""
    if pos < 0 or len(buf) - pos < HEADER_SIZE:
        raise RemoteProtocolError("incomplete packet header")
    return buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16, buf[pos + 3]


#: ``unpack_header_first(buf, pos=0) -> (length | seq << 24, first payload byte)``: the header
#: and the byte after it in one C call, for the relay's hot paths (the caller checks bounds:
#: at least 5 bytes from ``pos``).
unpack_header_first: Callable[..., tuple[int, int]] = struct.Struct("<IB").unpack_from


class PacketBuffer:
    """Reassembles logical packets from bytes received in arbitrary pieces."""

    __slots__ = ("_buf", "_parts", "_parts_len", "_pos", "_seq", "max_payload")

    def __init__(self, max_payload: int = DEFAULT_MAX_LOGICAL_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._pos = 0
        self._parts: list[bytes] = []
        self._parts_len = 0
        self._seq = -1  # sequence id of the last fragment taken (while joining)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets (incl. pending fragments)."""
        return len(self._buf) - self._pos + self._parts_len

    def next_packet(self) -> Packet | None:
        buf = self._buf
        while True:
            pos = self._pos
            if len(buf) - pos < HEADER_SIZE:
                return None
            length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            seq = buf[pos + 3]
            if self._parts_len + length > self.max_payload:
                raise PacketTooLarge(
                    f"packet of at least {self._parts_len + length} bytes exceeds the limit of"
                    f" {self.max_payload} bytes"
                )
            if self._parts and seq != (self._seq + 1) & 0xFF:
                raise RemoteProtocolError(
                    f"packet fragment out of order: sequence id {seq} after {self._seq}"
                )
            end = pos + HEADER_SIZE + length
            if len(buf) < end:
                return None
            payload = bytes(buf[pos + HEADER_SIZE : end])
            self._pos = end
            self._seq = seq
            if length == MAX_PAYLOAD:
                self._parts.append(payload)
                self._parts_len += length
                continue
            if self._parts:
                self._parts.append(payload)
                payload = b"".join(self._parts)
                self._parts = []
                self._parts_len = 0
            return Packet(seq, payload)

    def packets(self) -> list[Packet]:
        """All complete packets currently buffered."""
        out: list[Packet] = []
        while (packet := self.next_packet()) is not None:
            out.append(packet)
        return out
