"""Run SQL on a sandbox server through the ``mariadb`` client, as root on the unix socket.

The sandbox needs no driver: the root account that ``mariadb-install-db`` creates logs in over
the socket without a password.  Results come back from ``--batch`` output as dicts of strings
(``NULL`` for SQL NULL).
"""

from __future__ import annotations

import subprocess

from interlock.errors import SandboxError
from interlock.sandbox.binaries import client_binary
from interlock.sandbox.model import SandboxServer

Row = dict[str, str]
TIMEOUT = 60.0


def _run(server: SandboxServer, sql: str, timeout: float, *extra: str) -> str:
    argv = [
        client_binary(),
        "--no-defaults",
        "--user=root",
        f"--socket={server.socket}",
        "--batch",
        "--connect-timeout=5",
        *extra,
        "--execute",
        sql,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{server.name}: SQL timed out after {timeout:.0f}s: {sql}") from exc
    if done.returncode != 0:
        raise SandboxError(f"{server.name}: {done.stderr.strip()} (while running: {sql})")
    return done.stdout


def execute(server: SandboxServer, sql: str, timeout: float = TIMEOUT) -> None:
    """Run one or more ``;``-separated statements, raising :class:`SandboxError` on failure."""
    _run(server, sql, timeout)


def query(server: SandboxServer, sql: str, timeout: float = TIMEOUT) -> list[Row]:
    """Rows of the last result set of ``sql``, as ``{column: value}``."""
    lines = _run(server, sql, timeout).splitlines()
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]


def scalar(server: SandboxServer, sql: str, timeout: float = TIMEOUT) -> str | None:
    rows = query(server, sql, timeout)
    if not rows:
        return None
    return next(iter(rows[0].values()))


def can_connect(server: SandboxServer) -> bool:
    try:
        _run(server, "SELECT 1", 10.0)
    except SandboxError:
        return False
    return True
