"""Start, find and stop one sandbox ``mariadbd`` process.

Servers are started with ``--defaults-file=DIR/serverN/my.cnf``; that argument is how a pid is
recognised as ours (``/proc/PID/cmdline``), so a stale pid file never makes us signal another
process.  A server can be tied to its parent (``die_with_parent``): Linux then kills it when the
thread that started it goes away, which is what the test fixtures want even on a hard crash.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from interlock.errors import SandboxError
from interlock.sandbox.binaries import install_db_binary, server_binary
from interlock.sandbox.model import SandboxServer

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _preexec(die_with_parent: bool) -> Callable[[], None] | None:
    return _die_with_parent if die_with_parent else None


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


# -- datadir initialisation ---------------------------------------------------------------------


def start_install_db(server: SandboxServer) -> subprocess.Popen[bytes]:
    """Begin ``mariadb-install-db`` for ``server`` (several run at once; then
    :func:`finish_install_db`)."""
    if server.datadir.exists():
        shutil.rmtree(server.datadir)
    server.tmpdir.mkdir(parents=True, exist_ok=True)
    argv = [
        install_db_binary(),
        "--no-defaults",
        f"--datadir={server.datadir}",
        f"--tmpdir={server.tmpdir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        "--innodb-log-file-size=16M",
        "--innodb-use-native-aio=0",
    ]
    if os.geteuid() == 0:
        argv.append("--user=root")
    log = (server.directory / "install-db.log").open("wb")
    with log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def finish_install_db(server: SandboxServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -1
    if code != 0:
        raise SandboxError(
            f"{server.name}: mariadb-install-db failed (exit {code}):\n"
            + tail(server.directory / "install-db.log")
        )


# -- running servers ----------------------------------------------------------------------------


def is_ours(pid: int, server: SandboxServer) -> bool:
    """True when ``pid`` is a live (not zombie) mariadbd started with this server's my.cnf."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = status.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and f"--defaults-file={server.cnf}".encode() in cmdline


def running_pid(server: SandboxServer) -> int | None:
    pid = server.pid
    return pid if pid is not None and is_ours(pid, server) else None


def launch(server: SandboxServer, die_with_parent: bool) -> subprocess.Popen[bytes]:
    """Start mariadbd in the background; it writes its own error log and pid file."""
    server.pid_file.unlink(missing_ok=True)
    server.tmpdir.mkdir(parents=True, exist_ok=True)
    out = (server.directory / "mariadbd.out").open("ab")
    with out:
        return subprocess.Popen(
            [server_binary(), f"--defaults-file={server.cnf}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_preexec(die_with_parent),
        )


def startup_failure(server: SandboxServer, code: int | None) -> SandboxError:
    return SandboxError(
        f"{server.name} (port {server.port}) failed to start (exit code {code}); "
        f"the end of {server.error_log}:\n{tail(server.error_log)}"
    )


def wait_gone(
    pid: int, server: SandboxServer, timeout: float, proc: subprocess.Popen[bytes] | None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return True
        if not is_ours(pid, server):
            return True
        time.sleep(0.05)
    return False


def signal_server(server: SandboxServer, sig: int) -> int | None:
    """Send ``sig`` to the server if it runs; returns the pid signalled."""
    pid = running_pid(server)
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return None
    return pid


def stop(
    server: SandboxServer, proc: subprocess.Popen[bytes] | None, timeout: float = 60.0
) -> None:
    """SIGTERM (clean shutdown), then SIGKILL after ``timeout`` seconds."""
    pid = signal_server(server, signal.SIGTERM)
    if pid is None:
        reap(proc)
        return
    if not wait_gone(pid, server, timeout, proc):
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, server, 10.0, proc)
    reap(proc)


def reap(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def stop_child(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM a child process, SIGKILL it after ``timeout`` seconds; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode
