"""Proxy memory per idle session: RSS of the Interlock process with N idle logged-in clients.

The clients are minimal asyncio connections that log in with mysql_native_password (built with
the pure :mod:`interlock.wire` functions) and then say nothing.  A session counts once the
client has received the OK packet, which the proxy sends only after its own backend login
succeeded, so every session measured holds its backend connection too.  Before the first
measurement a few sessions are opened and closed, so code paths loaded lazily on the first
login are not charged to the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.sysbench import BenchError, Endpoint
from interlock.wire.auth import NATIVE_PASSWORD, scramble_native_password
from interlock.wire.constants import Capability
from interlock.wire.framing import encode_packet
from interlock.wire.handshake import (
    HandshakeResponse41,
    build_handshake_response41,
    parse_handshake_v10,
)

CLIENT_CAPABILITIES = (
    Capability.LONG_FLAG
    | Capability.CONNECT_WITH_DB
    | Capability.PROTOCOL_41
    | Capability.TRANSACTIONS
    | Capability.SECURE_CONNECTION
    | Capability.MULTI_RESULTS
    | Capability.PLUGIN_AUTH
)
CONCURRENCY = 16  # logins in flight at once
LOGIN_TIMEOUT = 30.0
WARMUP = 20
SETTLE = 1.0  # seconds to wait before reading RSS


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    sessions: int
    rss_kb: int


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(4)
    length = int.from_bytes(header[:3], "little")
    return header[3], await reader.readexactly(length)


async def login(ep: Endpoint) -> asyncio.StreamWriter:
    """A logged-in connection (raises BenchError when the login is refused)."""
    reader, writer = await asyncio.open_connection(ep.host, ep.port, limit=4096)
    try:
        seq, payload = await _read_packet(reader)
        hello = parse_handshake_v10(payload)
        caps = CLIENT_CAPABILITIES & hello.capabilities
        response = HandshakeResponse41(
            capabilities=caps,
            max_packet_size=1 << 24,
            charset=45,
            username=ep.user,
            auth_response=scramble_native_password(ep.password.encode(), hello.nonce[:20]),
            database=ep.database,
            auth_plugin=NATIVE_PASSWORD,
        )
        writer.write(encode_packet(build_handshake_response41(response, hello.capabilities),
                                   seq + 1))
        _, answer = await _read_packet(reader)
        if answer[:1] != b"\x00":
            raise BenchError(f"login through {ep.name} refused: {answer[:80]!r}")
    except BaseException:
        writer.close()
        raise
    return writer


class IdleSessions:
    """A growing set of idle logged-in connections."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.writers: list[asyncio.StreamWriter] = []

    async def grow_to(self, count: int) -> None:
        missing = count - len(self.writers)
        if missing <= 0:
            return
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate:
                writer = await asyncio.wait_for(login(self.ep), LOGIN_TIMEOUT)
                self.writers.append(writer)

        await asyncio.gather(*(one() for _ in range(missing)))

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        for writer in self.writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self.writers.clear()


async def _measure(ep: Endpoint, pid: int, levels: Sequence[int],
                   settle: float) -> list[MemoryPoint]:
    warm = IdleSessions(ep)
    await warm.grow_to(WARMUP)
    await warm.close()
    sessions = IdleSessions(ep)
    points: list[MemoryPoint] = []
    try:
        for level in sorted(levels):
            await sessions.grow_to(level)
            await asyncio.sleep(settle)
            points.append(MemoryPoint(level, rss_kb(pid)))
    finally:
        await sessions.close()
    return points


def measure(ep: Endpoint, pid: int, levels: Sequence[int],
            settle: float = SETTLE) -> list[MemoryPoint]:
    """RSS of process ``pid`` with each number of idle sessions in ``levels`` open through
    ``ep`` (the sessions accumulate: 0, then 1000, then 5000...), read ``settle`` seconds after
    the sessions of each level are open."""
    return asyncio.run(_measure(ep, pid, levels, settle))


def per_session_kb(points: Sequence[MemoryPoint]) -> dict[int, float]:
    """KB per session at each level above the lowest one, relative to the lowest one."""
    base = min(points, key=lambda p: p.sessions)
    return {
        p.sessions: (p.rss_kb - base.rss_kb) / (p.sessions - base.sessions)
        for p in points
        if p.sessions > base.sessions
    }
