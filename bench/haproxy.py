"""HAProxy from Debian's package, in TCP mode in front of one server: the reference proxy.

It does no SQL work at all (bytes in, bytes out), so it shows what merely putting a userspace
hop between sysbench and MariaDB costs on this machine.  The configuration is the plain TCP
proxy a user would write, with the package's defaults for everything else (threads included).
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.sysbench import BenchError
from interlock.sandbox.process import _preexec, stop_child
from interlock.sandbox.proxy import read_first_packet

BINARY_PATHS = ("/usr/sbin/haproxy",)
CONFIG = """\
global
    maxconn {maxconn}

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend mariadb
    bind {host}:{port}
    default_backend primary

backend primary
    server primary {server_host}:{server_port}
"""


def binary() -> str:
    found = shutil.which("haproxy")
    if found:
        return found
    for path in BINARY_PATHS:
        if Path(path).exists():
            return path
    raise BenchError("haproxy is not installed: run scripts/install-deps.sh bench")


def version() -> str:
    out = subprocess.run([binary(), "-v"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"version (\S+)", out)
    return match.group(1) if match else out.strip()


def max_connections() -> int:
    """HAProxy refuses to start when maxconn needs more descriptors than the limit allows."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(100, min(8000, (soft - 200) // 2))


@dataclass(slots=True)
class HAProxy:
    host: str
    port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_child(self.process)


def start(
    directory: Path, host: str, port: int, server_host: str, server_port: int
) -> HAProxy:
    config = CONFIG.format(
        maxconn=max_connections(),
        host=host,
        port=port,
        server_host=server_host,
        server_port=server_port,
    )
    config_path = directory / "haproxy.cfg"
    config_path.write_text(config)
    log_path = directory / "haproxy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [binary(), "-db", "-f", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(True),
        )
    handle = HAProxy(host, port, config_path, log_path, proc)
    try:
        _wait_ready(handle)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_ready(handle: HAProxy, timeout: float = 15.0) -> None:
    """Ready when the server's handshake arrives through it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise BenchError(
                f"haproxy exited with code {handle.process.returncode}:\n"
                + handle.log_path.read_text(errors="replace")[-2000:]
            )
        try:
            if read_first_packet(handle.host, handle.port)[:1] == b"\x0a":
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"haproxy did not relay a handshake within {timeout:.0f}s")
