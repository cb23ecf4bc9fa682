"""Length-encoded integers and strings, and a bounds-checked read cursor.

All readers raise :class:`~interlock.wire.errors.RemoteProtocolError` on truncated or invalid
input; they never let ``IndexError`` or ``UnicodeDecodeError`` escape.
"""

from __future__ import annotations

from interlock.wire.errors import LocalProtocolError, RemoteProtocolError

_LENENC_WIDTH = {0xFC: 2, 0xFD: 3, 0xFE: 8}


def lenenc_int(value: int) -> bytes:
    """Encode ``value`` as a length-encoded integer."""
    if value < 0:
        raise LocalProtocolError(f"negative length-encoded integer {value}")
    if value < 0xFB:
        return bytes((value,))
    if value < 1 << 16:
        return b"\xfc" + value.to_bytes(2, "little")
    if value < 1 << 24:
        return b"\xfd" + value.to_bytes(3, "little")
    if value < 1 << 64:
        return b"\xfe" + value.to_bytes(8, "little")
    raise LocalProtocolError(f"length-encoded integer too large: {value}")


def lenenc_bytes(value: bytes) -> bytes:
    """Encode ``value`` as a length-encoded string."""
    return lenenc_int(len(value)) + value


def lenenc_int_size(first: int) -> int:
    """Total size in bytes of a length-encoded integer whose first byte is ``first``."""
    if first < 0xFB:
        return 1
    width = _LENENC_WIDTH.get(first)
    if width is None:
        raise RemoteProtocolError(f"invalid length-encoded integer prefix 0x{first:02x}")
    return 1 + width


def decode_text(raw: bytes, what: str) -> str:
    """Decode protocol text (identifiers, messages) as UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"{what} is not valid UTF-8") from exc


class Reader:
    """A cursor over one packet payload.  Every read checks bounds."""

    __slots__ = ("_data", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0) -> None:
        self._data = bytes(data)
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self._data)

    def peek(self) -> int:
        if self.pos >= len(self._data):
            raise RemoteProtocolError("unexpected end of packet")
        return self._data[self.pos]

    def read_bytes(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self._data):
            raise RemoteProtocolError(f"packet truncated: wanted {n} bytes, {self.remaining} left")
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def read_uint(self, n: int) -> int:
        return int.from_bytes(self.read_bytes(n), "little")

    def read_lenenc_int(self) -> int:
        first = self.peek()
        if first < 0xFB:
            self.pos += 1
            return first
        size = lenenc_int_size(first)
        self.pos += 1
        return self.read_uint(size - 1)

    def read_lenenc_bytes(self) -> bytes:
        return self.read_bytes(self.read_lenenc_int())

    def read_nul_bytes(self) -> bytes:
        end = self._data.find(b"\0", self.pos)
        if end < 0:
            raise RemoteProtocolError("missing NUL terminator")
        chunk = self._data[self.pos : end]
        self.pos = end + 1
        return chunk

    def read_rest(self) -> bytes:
        chunk = self._data[self.pos :]
        self.pos = len(self._data)
        return chunk

    def skip(self, n: int) -> None:
        self.read_bytes(n)
