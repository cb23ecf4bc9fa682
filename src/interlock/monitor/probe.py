"""The monitor's connections to its servers and the probe of one tick (I/O).

:class:`ServerLink` is one monitor-user connection to one server, kept open between ticks
(reconnected after any failure).  It runs statements with a read timeout and returns rows as
``{column: text}`` dicts, the shape the parsers of :mod:`interlock.monitor.observations`
read.  A statement that does not answer within the timeout aborts the connection: its state is
unknown, the next use reconnects.

:func:`probe_all` probes every server concurrently; each probe is bounded by
``connect_timeout + len(PROBE_QUERIES) * read_timeout``, so a hung server cannot stall the
tick.  Failures become :func:`~interlock.monitor.observations.failed_observation` values
classified by :func:`~interlock.monitor.observations.classify_error` (a refused login is
``Auth Error``, not ``Down``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from interlock.config.model import ServerConfig
from interlock.log import get_logger
from interlock.monitor.errors import ObservationError
from interlock.monitor.observations import (
    PROBE_QUERIES,
    ProbeError,
    ProbeFailure,
    ServerObservation,
    build_observation,
    classify_error,
    failed_observation,
)
from interlock.server import backend, errors
from interlock.server import tls as tls_mod
from interlock.wire.codec import Reader
from interlock.wire.constants import Command
from interlock.wire.errors import ProtocolError
from interlock.wire.packets import parse_err

log = get_logger(__name__)

Row = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who the monitor logs in as, and its timeouts (MaxScale's monitor parameters)."""

    user: str
    password: str
    connect_timeout: float = 3.0  # backend_connect_timeout
    read_timeout: float = 3.0  # backend_read_timeout


class QueryTimeout(errors.BackendError):
    def __init__(self, server: str, seconds: float, sql: str) -> None:
        super().__init__(2013, "HY000", f"server '{server}' did not answer within {seconds:g}s"
                                        f" ({sql[:60]})")


def _column_name(payload: bytes) -> str:
    """The ``name`` of a column definition (catalog, schema, table, org_table, name, ...)."""
    reader = Reader(payload)
    for _ in range(4):
        reader.read_lenenc_bytes()
    return reader.read_lenenc_bytes().decode("utf-8", "replace")


def _row(payload: bytes, names: list[str]) -> Row:
    reader = Reader(payload)
    row: Row = {}
    for name in names:
        if reader.peek() == 0xFB:
            reader.skip(1)
            row[name] = None
        else:
            row[name] = reader.read_lenenc_bytes().decode("utf-8", "replace")
    return row


async def _read_result(conn: backend.BackendConnection) -> list[Row]:
    """One statement's text result as dicts (an OK is an empty list; ERR raises)."""
    first = (await conn.read_packet()).payload
    if first[:1] == b"\xff":
        raise backend.BackendRefused(parse_err(first))
    if first[:1] == b"\x00":
        return []
    count = Reader(first).read_lenenc_int()
    names = [_column_name((await conn.read_packet()).payload) for _ in range(count)]
    if (await conn.read_packet()).payload[:1] != b"\xfe":
        raise backend.MalformedBackendPacket("expected EOF after column definitions")
    rows: list[Row] = []
    while True:
        payload = (await conn.read_packet()).payload
        if payload[:1] == b"\xfe" and len(payload) < 9:
            return rows
        if payload[:1] == b"\xff":
            raise backend.BackendRefused(parse_err(payload))
        rows.append(_row(payload, names))


class ServerLink:
    """A persistent monitor connection to one server."""

    def __init__(self, server: ServerConfig, credentials: Credentials) -> None:
        self.server = server
        self.credentials = credentials
        self._conn: backend.BackendConnection | None = None
        self._lock = asyncio.Lock()
        self._tls = tls_mod.client_context(server.tls) if server.tls.enabled else None

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def thread_id(self) -> int:
        return self._conn.thread_id if self._conn is not None else 0

    async def _connection(self) -> backend.BackendConnection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        creds = self.credentials
        login = backend.Login(user=creds.user, capabilities=backend.SERVICE_CAPABILITIES,
                              password=creds.password.encode())
        self._conn = await backend.connect(self.server, login, creds.connect_timeout, self._tls)
        return self._conn

    async def query(self, sql: str, timeout: float | None = None) -> list[Row]:
        """Run one statement; rows of its result.  Raises ``errors.BackendError`` (a refused
        statement: :class:`backend.BackendRefused` with the server's code)."""
        limit = self.credentials.read_timeout if timeout is None else timeout
        async with self._lock:
            conn = await self._connection()
            conn.send_packet(bytes((Command.QUERY,)) + sql.encode(), 0)
            try:
                async with asyncio.timeout(limit):
                    return await _read_result(conn)
            except TimeoutError:
                self.drop()
                raise QueryTimeout(self.name, limit, sql) from None
            except backend.BackendRefused:
                raise
            except (OSError, ProtocolError, errors.BackendError) as exc:
                self.drop()
                raise errors.lost_backend(self.name, self.server.address, self.server.port,
                                          str(exc) or type(exc).__name__) from exc

    async def execute(self, statements: Iterable[str], timeout: float | None = None) -> None:
        for sql in statements:
            await self.query(sql, timeout)

    def drop(self) -> None:
        """Abort the connection (the next query reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await backend.close_quietly(conn)


def describe_error(exc: BaseException, timed_out: bool = False) -> ProbeError:
    """A probe's exception as a classified :class:`ProbeError`."""
    if isinstance(exc, errors.BackendError):
        timed_out = timed_out or isinstance(exc, QueryTimeout)
        return classify_error(exc.code, exc.message, timed_out)
    if isinstance(exc, TimeoutError):
        return classify_error(None, "timed out", True)
    return classify_error(None, str(exc) or type(exc).__name__)


async def probe(link: ServerLink) -> ServerObservation:
    """One server's observation (never raises; a failure is a failed observation)."""
    started = time.monotonic()
    try:
        results = [await link.query(sql) for sql in PROBE_QUERIES]
        variables, slaves, semi_status, semi_vars = results
        if len(variables) != 1:
            raise ObservationError(f"{len(variables)} rows for the variables query")
        return build_observation(link.name, time.monotonic(), variables[0], slaves,
                                 semi_status, semi_vars)
    except (errors.BackendError, OSError, TimeoutError, ObservationError) as exc:
        if isinstance(exc, ObservationError):
            error = ProbeError(ProbeFailure.QUERY, f"unreadable probe result: {exc}")
        else:
            error = describe_error(exc)
        if not isinstance(exc, backend.BackendRefused) or error.kind is ProbeFailure.AUTH:
            link.drop()
        return failed_observation(link.name, started, error)


async def probe_all(links: Mapping[str, ServerLink], budget: float
                    ) -> dict[str, ServerObservation]:
    """Every server probed concurrently; a probe still running after ``budget`` seconds
    fails with a timeout (and its connection is dropped)."""

    async def bounded(link: ServerLink) -> ServerObservation:
        try:
            async with asyncio.timeout(budget):
                return await probe(link)
        except TimeoutError:
            link.drop()
            return failed_observation(link.name, time.monotonic(),
                                      describe_error(TimeoutError(), True))

    names = list(links)
    results = await asyncio.gather(*(bounded(links[n]) for n in names))
    return dict(zip(names, results, strict=True))
