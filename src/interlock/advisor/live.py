"""Reading a live server: sample ``Connections`` every second over a window, then read the
whole ``SHOW GLOBAL STATUS`` and ``SHOW GLOBAL VARIABLES`` (I/O; uses the proxy's own client,
:mod:`interlock.server.backend`, so the command needs no driver)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from interlock.advisor.errors import LiveSampleError
from interlock.config.model import ServerConfig
from interlock.server import backend
from interlock.server.errors import BackendError

CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 10.0
COUNTER_QUERY = "SHOW GLOBAL STATUS LIKE 'Connections'"

Progress = Callable[[int, int], None]  # (seconds done, seconds in all)


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    user: str
    password: str

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LiveReading:
    status: dict[str, str]  # lower-case names
    variables: dict[str, str]
    samples: tuple[tuple[float, int], ...]  # (monotonic seconds, Connections)


def _as_dict(rows: list[tuple[bytes | None, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in rows:
        if len(row) >= 2 and row[0] is not None:
            value = row[1].decode("utf-8", "replace") if row[1] is not None else ""
            out[row[0].decode("utf-8", "replace").lower()] = value
    return out


async def _query(conn: backend.BackendConnection, sql: str) -> dict[str, str]:
    try:
        async with asyncio.timeout(QUERY_TIMEOUT):
            return _as_dict(await conn.query(sql))
    except BackendError as exc:
        raise LiveSampleError(f"{sql}: {exc.message}") from exc
    except (OSError, TimeoutError) as exc:
        raise LiveSampleError(f"{sql}: the connection failed ({exc or 'timed out'})") from exc


async def _connections(conn: backend.BackendConnection) -> int:
    text = (await _query(conn, COUNTER_QUERY)).get("connections")
    if text is None or not text.isdigit():
        raise LiveSampleError(f"{COUNTER_QUERY} did not return a number")
    return int(text)


async def sample(target: Target, seconds: float, progress: Progress | None = None) -> LiveReading:
    """Connect, read ``Connections`` every second for ``seconds`` (0: once), then read
    everything."""
    server = ServerConfig(name=target.label, address=target.host, port=target.port)
    login = backend.Login(
        user=target.user,
        capabilities=backend.SERVICE_CAPABILITIES,
        password=target.password.encode(),
    )
    try:
        conn = await backend.connect(server, login, CONNECT_TIMEOUT, None)
    except BackendError as exc:
        raise LiveSampleError(f"{target.label}: {exc.message}") from exc
    try:
        samples = await _window(conn, seconds, progress)
        status = await _query(conn, "SHOW GLOBAL STATUS")
        variables = await _query(conn, "SHOW GLOBAL VARIABLES")
    finally:
        await backend.close_quietly(conn)
    return LiveReading(status, variables, tuple(samples))


async def _window(
    conn: backend.BackendConnection, seconds: float, progress: Progress | None
) -> list[tuple[float, int]]:
    ticks = max(0, math.ceil(seconds))
    start = time.monotonic()
    samples = [(start, await _connections(conn))]
    for tick in range(1, ticks + 1):
        await asyncio.sleep(max(0.0, start + tick - time.monotonic()))
        at = time.monotonic()
        samples.append((at, await _connections(conn)))
        if progress is not None:
            progress(tick, ticks)
    return samples


def read_live(target: Target, seconds: float, progress: Progress | None = None) -> LiveReading:
    return asyncio.run(sample(target, seconds, progress))
