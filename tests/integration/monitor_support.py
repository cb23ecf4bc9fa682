"""Helpers of the monitor/failover/switchover tests: an in-process proxy, table checks, a
fault-injecting TCP relay.

:class:`LiveProxy` runs :class:`~interlock.server.app.Proxy` on an event loop in a thread of
the test process, so a test drives the monitor's actions as Python calls
(``lp.call(lp.monitor.switchover())``) while its clients talk to the listener over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pymysql

from interlock import log as ilog
from interlock.config.loader import parse_config
from interlock.monitor.loop import MonitorRuntime
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.server.app import Proxy

T = TypeVar("T")
WAIT = 60.0


class ProxyLoop:
    """A :class:`Proxy` on its own event loop in a thread; tests call into it."""

    def __init__(self, config_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = Proxy(parse_config(config_path))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro: Awaitable[T], timeout: float = 180) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        """Call a plain function on the proxy's loop (monitor methods are not thread-safe)."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper())

    @property
    def monitor(self) -> MonitorRuntime:
        return next(iter(self.proxy.monitors.values()))


class LiveProxy(ProxyLoop):
    def __init__(self, sb: Sandbox, directory: Path, monitor: Mapping[str, str | None],
                 servers: Mapping[str, Mapping[str, str | None]] | None = None) -> None:
        self.port = find_free_port()
        overrides: dict[str, Mapping[str, str | None] | None] = {
            MONITOR: monitor,
            # today's single-backend Session relay, always to the primary
            SERVICE: {"router": "readconnroute", "router_options": "master"},
        }
        overrides.update(servers or {})
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / f"interlock-{self.port}.cnf"
        self.config_path.write_text(sb.render_config(listener_port=self.port, tls=False,
                                                     overrides=overrides))
        self.log_path = directory / f"interlock-{self.port}.log"
        self.sb = sb
        super().__init__(self.config_path)

    def __enter__(self) -> LiveProxy:
        logger = logging.getLogger("interlock")
        self._saved = (list(logger.handlers), logger.level, logger.propagate)
        ilog.setup(str(self.log_path), level=logging.INFO)
        self.thread.start()
        self.call(self.proxy.start(), 60)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.proxy.stop(), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self._restore_logging()

    def _restore_logging(self) -> None:
        logger = logging.getLogger("interlock")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        handlers, level, propagate = self._saved
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


    def primary(self) -> str | None:
        info = self.monitor.source.current.primary
        return info.name if info is not None else None

    def states(self) -> dict[str, str]:
        return {s.name: s.state for s in self.run(self.monitor.status)}

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g}s; states {self.states()}"
                                     f"; replication errors {replication_errors(self.sb)}"
                                     f"; events:\n" + "\n".join(
                                         str(e) for e in self.monitor.events.recent(30)))
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def connect(self, **kwargs: Any) -> pymysql.Connection:  # type: ignore[type-arg]
        params = self.sb.proxy_params(port=self.port)
        return pymysql.connect(**params.pymysql_kwargs(), autocommit=True, **kwargs)


# -- checks on the servers ------------------------------------------------------------------


def checksum(sb: Sandbox, name: str, table: str) -> str:
    return sb.sql(name, f"CHECKSUM TABLE {table}")[0]["Checksum"]


def replication_errors(sb: Sandbox) -> dict[str, str]:
    found = {}
    for server in sb.servers:
        for row in sb.sql(server.name, "SHOW ALL SLAVES STATUS"):
            text = "; ".join(row[k] for k in ("Last_IO_Error", "Last_SQL_Error") if row.get(k))
            if text:
                found[server.name] = text
    return found


def wait_gtid(sb: Sandbox, primary: str, others: list[str], timeout: float = WAIT) -> str:
    """Wait until every server in ``others`` applied the primary's gtid_binlog_pos."""
    pos = sb.sql(primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    for name in others:
        got = sb.sql(name, f"SELECT MASTER_GTID_WAIT('{pos}', {timeout:g}) AS r")[0]["r"]
        assert got == "0", f"{name} did not reach {pos}: {replication_errors(sb)}"
    return pos


# -- a TCP relay that a test can cut ---------------------------------------------------------


class FaultyRelay:
    """Forwards 127.0.0.1:<port> to a server; :meth:`cut` drops every connection and refuses
    (accepts and closes) new ones until :meth:`restore`."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()
        with self._lock:
            socks, self._socks = self._socks, set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self.listener.close()


@contextlib.contextmanager
def relay(target_port: int) -> Iterator[FaultyRelay]:
    r = FaultyRelay(target_port)
    try:
        yield r
    finally:
        r.close()
