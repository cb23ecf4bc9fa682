"""Locate the MariaDB programs the sandbox runs, with the install command when one is missing."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from interlock.errors import SandboxError

INSTALL_HINT = "apt-get install -y mariadb-server mariadb-client"
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def _find(name: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    raise SandboxError(
        f"{name} not found: the sandbox runs real MariaDB servers from the {package} package. "
        f"Install them with: {INSTALL_HINT} (or run `make demo` / `make test`, which do it)"
    )


@functools.cache
def server_binary() -> str:
    return _find("mariadbd", "mariadb-server")


@functools.cache
def install_db_binary() -> str:
    return _find("mariadb-install-db", "mariadb-server")


@functools.cache
def client_binary() -> str:
    return _find("mariadb", "mariadb-client")


def check_all() -> None:
    """Raise :class:`SandboxError` (with the install command) unless every program is there."""
    server_binary()
    install_db_binary()
    client_binary()
