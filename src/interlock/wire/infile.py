"""The client side of LOCAL INFILE: find the empty packet that ends the file.

The client sends its file as packets of any size (sequence ids continuing after the server's
0xFB request) and ends it with an empty packet; an empty packet right after a 0xFFFFFF-byte
packet is the end of that logical packet, not of the file.  Payloads are skipped by length.
"""

from __future__ import annotations

from interlock.wire.errors import RemoteProtocolError

_MAX = 0xFFFFFF


class ClientFileTracker:
    """Walks the client's file packets; ``feed`` returns True once the file is complete."""

    __slots__ = ("_cont", "_hdr", "_skip", "seq")

    def __init__(self, request_seq: int) -> None:
        self.seq = request_seq  # last sequence id seen (the server's request, then the client's)
        self._hdr = b""
        self._skip = 0
        self._cont = False

    def feed(self, data: bytes) -> bool:
        n = len(data)
        pos = 0
        if self._skip:
            if self._skip >= n:
                self._skip -= n
                return False
            pos, self._skip = self._skip, 0
        if self._hdr:
            head = self._hdr + bytes(data[pos : pos + 4 - len(self._hdr)])
            if len(head) < 4:
                self._hdr = head
                return False
            pos += 4 - len(self._hdr)
            self._hdr = b""
            if self._packet(head[0] | head[1] << 8 | head[2] << 16, head[3]):
                return self._finished(n, pos)
            pos, self._skip = pos + self._skip, 0
        while pos < n:
            if n - pos < 4:
                self._hdr = bytes(data[pos:n])
                return False
            if self._packet(data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16, data[pos + 3]):
                return self._finished(n, pos + 4)
            pos, self._skip = pos + 4 + self._skip, 0
        self._skip = pos - n
        return False

    def _packet(self, plen: int, seq: int) -> bool:
        if seq != (self.seq + 1) & 0xFF:
            raise RemoteProtocolError(f"LOCAL INFILE packet out of order: sequence id {seq}")
        self.seq = seq
        if plen == 0 and not self._cont:
            return True
        self._cont = plen == _MAX
        self._skip = plen
        return False

    def _finished(self, n: int, pos: int) -> bool:
        if pos < n:
            raise RemoteProtocolError("client sent data after the end of its LOCAL INFILE file")
        return True
