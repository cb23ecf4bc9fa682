"""Run ``interlock start -c FILE`` as a child process and know when it is ready.

Ready means the listener accepts a TCP connection *and* sends the first packet of the MySQL
protocol (a Handshake v10; with ``require_handshake=False`` an ERR packet counts too).  Used by
the test fixtures and by ``interlock sandbox demo``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from interlock.errors import SandboxError
from interlock.sandbox.process import _preexec, stop_child, tail

HANDSHAKE_V10 = 0x0A
ERR_PACKET = 0xFF


@dataclass(slots=True, eq=False)
class ProxyHandle:
    host: str
    port: int
    config_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    first_packet: bytes = field(default=b"", repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines) if self.log_path else "(see its output above)"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        return stop_child(self.process, timeout)


def read_first_packet(host: str, port: int, timeout: float = 2.0) -> bytes:
    """Connect and return the payload of the first packet the server sends."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        header = _recv_exactly(sock, 4)
        length = int.from_bytes(header[:3], "little")
        return _recv_exactly(sock, length)


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed before a whole packet arrived")
        data += chunk
    return data


def launch(
    config_path: Path,
    log_path: Path | None = None,
    die_with_parent: bool = True,
    extra_args: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "interlock", "start", "-c", str(config_path), *extra_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out: IO[bytes] | None = log_path.open("ab") if log_path is not None else None
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            env=env,
            start_new_session=True,
            preexec_fn=_preexec(die_with_parent),
        )
    finally:
        if out is not None:
            out.close()


def wait_ready(handle: ProxyHandle, timeout: float = 30.0, require_handshake: bool = True) -> None:
    """Wait for the proxy's first packet; raise with the log's tail if it exits or times out."""
    accepted = (HANDSHAKE_V10,) if require_handshake else (HANDSHAKE_V10, ERR_PACKET)
    deadline = time.monotonic() + timeout
    last = "nothing listened"
    while time.monotonic() < deadline:
        code = handle.process.poll()
        if code is not None:
            raise SandboxError(
                f"interlock exited with code {code} while starting ({handle.config_path});"
                f" the end of its log:\n{handle.log_tail()}"
            )
        try:
            packet = read_first_packet(handle.host, handle.port)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if packet and packet[0] in accepted:
                handle.first_packet = packet
                return
            last = f"first packet {packet[:64]!r}"
        time.sleep(0.1)
    raise SandboxError(
        f"interlock did not answer on {handle.host}:{handle.port} within {timeout:.0f}s"
        f" ({last}); the end of its log:\n{handle.log_tail()}"
    )


def start(
    config_path: Path,
    host: str,
    port: int,
    log_path: Path | None = None,
    timeout: float = 30.0,
    require_handshake: bool = True,
    die_with_parent: bool = True,
) -> ProxyHandle:
    """Start a proxy for ``config_path`` (listening on ``host:port``) and wait until it answers."""
    handle = ProxyHandle(
        host, port, config_path, launch(config_path, log_path, die_with_parent), log_path
    )
    try:
        wait_ready(handle, timeout, require_handshake)
    except BaseException:
        handle.stop()
        raise
    return handle
