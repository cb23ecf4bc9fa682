"""Log throttling in a real proxy process, with MaxScale's default ``log_throttling=10, 1000ms,
10000ms``: a burst of bad handshakes (one warning each) is cut to ten lines, the tenth saying
that the rest is suppressed, then one summary line counts what was suppressed."""

from __future__ import annotations

import socket
import time

import pytest
from tests.conftest import ProxyFactory

from interlock.sandbox.proxy import ProxyHandle, read_first_packet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST = 40
WARNING = "bad handshake from"


def bad_handshake(proxy: ProxyHandle) -> bytes:
    """Connect, read the greeting, answer garbage; returns the proxy's reply (an ERR)."""
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
        header = sock.recv(4)
        length = int.from_bytes(header[:3], "little")
        while length:
            length -= len(sock.recv(length))
        sock.sendall(b"\x03\x00\x00\x01\x01\x02\x03")
        return sock.recv(4096)


def wait_for(proxy: ProxyHandle, needle: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proxy.log_text()
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not logged; the log:\n{proxy.log_tail(60)}")


def test_a_burst_of_warnings_is_throttled_then_summarised(start_proxy: ProxyFactory) -> None:
    proxy = start_proxy(tls=False)
    assert read_first_packet(proxy.host, proxy.port)[0] == 0x0A
    for _ in range(BURST):
        reply = bad_handshake(proxy)
        assert reply[4] == 0xFF  # every client still gets its ERR packet
    text = wait_for(proxy, "(this message was suppressed ")
    lines = [line for line in text.splitlines() if WARNING in line]
    assert all(" warning: Session " in line for line in lines), lines
    written = lines[:-1]
    assert len(written) == 10, lines
    assert written[-1].endswith("(subsequent similar messages suppressed for 10000 milliseconds)")
    assert lines[-1].endswith(
        f"(this message was suppressed {BURST - 10} times in 10000 milliseconds)"
    ), lines[-1]
