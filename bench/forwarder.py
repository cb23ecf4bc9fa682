"""A bare uvloop byte forwarder: the floor for a proxy written in Python on this machine.

    python -m bench.forwarder LISTEN_PORT SERVER_HOST SERVER_PORT [--host 127.0.0.1]

Accepts a connection, connects to the server, and relays bytes both ways with
``asyncio.Protocol`` and ``transport.write``: nothing else (no parsing, no flow control, no
logging).  The benchmark runs it as one more target next to direct, HAProxy and Interlock, so
every results file shows what pure Python + uvloop costs per query and per connection here;
whatever Interlock adds beyond it is Interlock's own work.  Client bytes that arrive while the
server connection is still being made are kept and sent once it is up.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import uvloop

from interlock.sandbox.process import stop_child


class ServerSide(asyncio.Protocol):
    """The connection to the server: whatever it sends goes to the client."""

    __slots__ = ("client", "transport")

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client.server_ready(self)

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(data)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client.transport
        if client is not None:
            client.close()


class ClientSide(asyncio.Protocol):
    """An accepted client: its bytes go to the server once that connection is made."""

    __slots__ = ("pending", "server", "target", "transport")

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.pending: list[bytes] | None = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            loop.create_connection(lambda: ServerSide(self), self.target[0], self.target[1])
        )
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[tuple[asyncio.BaseTransport, ServerSide]]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if failed and self.transport is not None:
            self.transport.close()

    def server_ready(self, server: ServerSide) -> None:
        self.server = server.transport
        pending, self.pending = self.pending, None
        if self.transport is None or self.transport.is_closing():
            self.server.close()  # type: ignore[union-attr]
        elif pending:
            self.server.write(b"".join(pending))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        server = self.server
        if server is not None:
            server.write(data)
        elif self.pending is not None:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.server is not None:
            self.server.close()


@dataclass(slots=True)
class Forwarder:
    """A running ``python -m bench.forwarder`` (a benchmark target)."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_child(self.process)


def start(host: str, port: int, server_host: str, server_port: int,
          timeout: float = 15.0) -> Forwarder:
    """Start the forwarder in front of ``server_host:server_port``; ready when the server's
    handshake arrives through it."""
    from bench.sysbench import BenchError  # the bench package, not needed to run the module
    from interlock.sandbox.proxy import read_first_packet

    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.forwarder", str(port), server_host, str(server_port),
         "--host", host],
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    handle = Forwarder(host, port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the forwarder exited with code {proc.returncode}")
        try:
            if read_first_packet(host, port)[:1] == b"\x0a":
                return handle
        except OSError:
            pass
        time.sleep(0.1)
    handle.stop()
    raise BenchError(f"the forwarder did not relay a handshake within {timeout:.0f}s")


async def serve(host: str, port: int, target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(target), host, port, backlog=1024)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.forwarder",
                                description=__doc__.split("\n")[0])
    p.add_argument("port", type=int)
    p.add_argument("server_host")
    p.add_argument("server_port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args(argv)
    uvloop.run(serve(a.host, a.port, (a.server_host, a.server_port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
