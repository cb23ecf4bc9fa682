"""Reading a live server: sample ``Connections`` and ``Threads_connected`` every second over a
window, then read the whole ``SHOW GLOBAL STATUS`` and ``SHOW GLOBAL VARIABLES`` (I/O; uses the
proxy's own client, :mod:`interlock.server.backend`, so the command needs no driver).

:func:`open_session` keeps the one connection open for what follows the reading (``--apply``
runs its ``SET GLOBAL`` on it); :func:`read_live` is the one-shot form.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from interlock.advisor.errors import LiveSampleError, ServerRefusedError
from interlock.config.model import ServerConfig
from interlock.server import backend
from interlock.server.errors import BackendError

CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 10.0
COUNTER_QUERY = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Threads_connected')"
)

Progress = Callable[[int, int], None]  # (seconds done, seconds in all)
Series = tuple[tuple[float, int], ...]  # (monotonic seconds, value)


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
    samples: Series  # (monotonic seconds, Connections)
    threads: Series = ()  # (monotonic seconds, Threads_connected), at the same instants


def _as_dict(rows: list[tuple[bytes | None, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in rows:
        if len(row) >= 2 and row[0] is not None:
            value = row[1].decode("utf-8", "replace") if row[1] is not None else ""
            out[row[0].decode("utf-8", "replace").lower()] = value
    return out


class LiveSession:
    """One logged-in connection to the server being advised."""

    def __init__(self, target: Target, conn: backend.BackendConnection) -> None:
        self.target = target
        self.conn = conn

    async def rows(self, sql: str) -> list[tuple[bytes | None, ...]]:
        """The text rows of ``sql`` (none for a statement that returns OK)."""
        try:
            async with asyncio.timeout(QUERY_TIMEOUT):
                return await self.conn.query(sql)
        except BackendError as exc:
            if isinstance(exc, backend.BackendRefused):
                raise ServerRefusedError(sql, exc.code, exc.message) from exc
            raise LiveSampleError(f"{sql}: {exc.message}") from exc
        except (OSError, TimeoutError, EOFError) as exc:
            raise LiveSampleError(
                f"{sql}: the connection to {self.target.label} failed ({exc or 'timed out'})"
            ) from exc

    async def values(self, sql: str) -> dict[str, str]:
        return _as_dict(await self.rows(sql))

    async def scalar(self, sql: str) -> str | None:
        rows = await self.rows(sql)
        if not rows or not rows[0] or rows[0][0] is None:
            return None
        return rows[0][0].decode("utf-8", "replace")

    async def _counters(self) -> tuple[int, int]:
        found = await self.values(COUNTER_QUERY)
        connections, threads = found.get("connections"), found.get("threads_connected")
        if connections is None or not connections.isdigit():
            raise LiveSampleError(f"{COUNTER_QUERY} did not return Connections as a number")
        return int(connections), int(threads) if threads and threads.isdigit() else -1

    async def read(self, seconds: float, progress: Progress | None = None) -> LiveReading:
        """Read the counters every second for ``seconds`` (0: once), then everything."""
        ticks = max(0, math.ceil(seconds))
        start = time.monotonic()
        readings = [(start, *await self._counters())]
        for tick in range(1, ticks + 1):
            await asyncio.sleep(max(0.0, start + tick - time.monotonic()))
            at = time.monotonic()
            readings.append((at, *await self._counters()))
            if progress is not None:
                progress(tick, ticks)
        status = await self.values("SHOW GLOBAL STATUS")
        variables = await self.values("SHOW GLOBAL VARIABLES")
        samples = tuple((t, c) for t, c, _ in readings)
        threads = tuple((t, n) for t, _, n in readings if n >= 0)
        return LiveReading(status, variables, samples, threads)


@contextlib.asynccontextmanager
async def open_session(target: Target) -> AsyncIterator[LiveSession]:
    """Log in to ``target`` (``LiveSampleError`` naming it when that fails); closed on exit."""
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
        yield LiveSession(target, conn)
    finally:
        await backend.close_quietly(conn)


async def sample(target: Target, seconds: float, progress: Progress | None = None) -> LiveReading:
    """Connect, read the counters every second for ``seconds`` (0: once), read everything,
    disconnect."""
    async with open_session(target) as session:
        return await session.read(seconds, progress)


def read_live(target: Target, seconds: float, progress: Progress | None = None) -> LiveReading:
    return asyncio.run(sample(target, seconds, progress))
