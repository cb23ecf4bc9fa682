"""Where a client connects: the primary itself (``direct``) or Interlock (``proxy``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DIRECT = "direct"
PROXY = "proxy"
RWS = "rwsplit"  # through a readwritesplit proxy


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    host: str
    port: int
    user: str
    password: str
    database: str = "test"
    log_path: Path | None = None

    @property
    def is_direct(self) -> bool:
        return self.name == DIRECT

    def with_database(self, database: str) -> Target:
        return replace(self, database=database)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the proxy's log, to put in a failure message (empty when direct)."""
        if self.log_path is None or not Path(self.log_path).exists():
            return ""
        text = Path(self.log_path).read_text(errors="replace").splitlines()[-lines:]
        return "\n--- proxy log tail ---\n" + "\n".join(text)


def direct_target(sandbox: Any) -> Target:
    primary = sandbox.primary
    return Target(DIRECT, primary.host, int(primary.port), sandbox.app_user, sandbox.app_password)


def proxy_target(sandbox: Any, proxy: Any, name: str = PROXY) -> Target:
    log_path = getattr(proxy, "log_path", None)
    return Target(
        name,
        proxy.host,
        int(proxy.port),
        sandbox.app_user,
        sandbox.app_password,
        log_path=Path(log_path) if log_path else None,
    )


def admin_target(sandbox: Any) -> Target:
    """The admin account straight on the primary: for server status counters only."""
    primary = sandbox.primary
    return Target(
        "admin", primary.host, int(primary.port), sandbox.admin_user, sandbox.admin_password
    )
