"""The proxy's backend errors on the wire: server codes only (see server/errors.py)."""

from __future__ import annotations

import pytest

from interlock.errors import ClientError
from interlock.server import errors
from interlock.wire.framing import PacketBuffer
from interlock.wire.packets import ErrPacket, parse_err


def _on_the_wire(error: ClientError) -> ErrPacket:
    buffer = PacketBuffer()
    buffer.feed(errors.err_packet(error, 3))
    packet = buffer.next_packet()
    assert packet is not None and packet.seq == 3
    return parse_err(packet.payload)


@pytest.mark.parametrize("error", [
    errors.lost_backend("server1", "127.0.0.1", 3306),
    errors.lost_backend("server1", "127.0.0.1", 3306, "malformed response"),
    errors.cant_connect("server1", "127.0.0.1", 3306, "Connection refused"),
    errors.no_server("svc"),
], ids=["lost", "lost-reason", "cant-connect", "no-server"])
def test_backend_errors_go_out_as_1927_08S01_with_their_text(error: ClientError) -> None:
    assert 2000 <= error.code < 3000  # inside the proxy: the CR_* code the monitor reads
    assert _on_the_wire(error) == ErrPacket(1927, "08S01", error.message)


def test_server_codes_go_out_unchanged() -> None:
    denied = errors.access_denied("u", "h", True)
    assert _on_the_wire(denied) == ErrPacket(1045, "28000", denied.message)
    assert _on_the_wire(errors.unknown_command()) == ErrPacket(1047, "08S01", "Unknown command")
