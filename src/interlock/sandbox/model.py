"""What a sandbox is: its settings, its servers and its accounts (plain data, saved as JSON).

Everything here is derived from a :class:`SandboxSpec`, which is what ``DIR/sandbox.json``
holds, so a sandbox can be driven again by a later ``interlock sandbox ...`` command.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interlock.errors import SandboxError

SPEC_FILE = "sandbox.json"
SPEC_VERSION = 1
HOST = "127.0.0.1"


class Role(enum.StrEnum):
    APP = "app"
    MONITOR = "monitor"
    REPLICATION = "replication"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Account:
    """One MariaDB account (created on every host in ``hosts``) and its grants."""

    role: Role
    user: str
    password: str
    hosts: tuple[str, ...]
    grants: tuple[str, ...]  # GRANT ... ON ... lines without the "TO user" part


#: The grant tables the service user reads to authenticate clients as the servers would.
_ACCOUNT_TABLES = (
    "user",
    "global_priv",
    "db",
    "tables_priv",
    "columns_priv",
    "procs_priv",
    "proxies_priv",
    "roles_mapping",
)

#: Fixed, documented passwords: the sandbox is a local playground on 127.0.0.1 only.
DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account(
        Role.APP,
        "app",
        "app-secret",
        ("%",),
        ("ALL PRIVILEGES ON `app`.*", "ALL PRIVILEGES ON `test`.*"),
    ),
    Account(
        Role.MONITOR,
        "monitor",
        "monitor-secret",
        ("%",),
        (
            "REPLICA MONITOR, REPLICATION CLIENT, SUPER, RELOAD, PROCESS, SHOW DATABASES, EVENT,"
            " READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, BINLOG ADMIN, CONNECTION ADMIN,"
            " SET USER ON *.*",
            "SELECT ON `mysql`.`user`",
            "SELECT ON `mysql`.`global_priv`",
        ),
    ),
    Account(Role.REPLICATION, "repl", "repl-secret", ("%",), ("REPLICATION SLAVE ON *.*",)),
    Account(
        Role.SERVICE,
        "interlock",
        "interlock-secret",
        ("%",),
        ("SHOW DATABASES ON *.*", *(f"SELECT ON `mysql`.`{table}`" for table in _ACCOUNT_TABLES)),
    ),
    Account(
        Role.ADMIN,
        "sandbox_admin",
        "sandbox-admin-secret",
        ("127.0.0.1", "localhost"),
        ("ALL PRIVILEGES ON *.* WITH GRANT OPTION",),
    ),
)

#: Schemas created on the primary (they replicate).
SCHEMAS: tuple[str, ...] = ("app", "test")
#: Where the sandbox writes its replication marker rows.
MARKER_SCHEMA = "interlock_sandbox"


@dataclass(frozen=True, slots=True)
class SandboxServer:
    """One mariadbd of the sandbox; all its files live in ``directory``."""

    name: str
    host: str
    port: int
    server_id: int
    directory: Path
    is_primary: bool

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    @property
    def tmpdir(self) -> Path:
        return self.directory / "tmp"

    @property
    def socket(self) -> Path:
        return self.directory / "mariadbd.sock"

    @property
    def pid_file(self) -> Path:
        return self.directory / "mariadbd.pid"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    @property
    def cnf(self) -> Path:
        return self.directory / "my.cnf"

    @property
    def pid(self) -> int | None:
        """The pid mariadbd wrote, when the file exists (not a liveness check)."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    directory: Path
    replicas: int = 2
    base_port: int = 3310
    proxy_port: int = 4006
    semi_sync: bool = False
    host: str = HOST
    accounts: tuple[Account, ...] = field(default=DEFAULT_ACCOUNTS)

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise SandboxError(f"--replicas must be 0 or more, not {self.replicas}")
        if not 1 <= self.base_port <= 65535 - self.replicas:
            raise SandboxError(f"--base-port {self.base_port} leaves no room for the servers")
        if not 1 <= self.proxy_port <= 65535:
            raise SandboxError(f"--proxy-port {self.proxy_port} is not a TCP port")

    @property
    def servers(self) -> tuple[SandboxServer, ...]:
        return tuple(
            SandboxServer(
                name=f"server{index + 1}",
                host=self.host,
                port=self.base_port + index,
                server_id=index + 1,
                directory=self.directory / f"server{index + 1}",
                is_primary=index == 0,
            )
            for index in range(self.replicas + 1)
        )

    def account(self, role: Role) -> Account:
        return next(account for account in self.accounts if account.role is role)

    # -- persistence -------------------------------------------------------------------------

    def to_json(self, initialized: bool) -> str:
        data: dict[str, Any] = {
            "version": SPEC_VERSION,
            "initialized": initialized,
            "replicas": self.replicas,
            "base_port": self.base_port,
            "proxy_port": self.proxy_port,
            "semi_sync": self.semi_sync,
            "host": self.host,
            "accounts": [
                {**asdict(account), "role": account.role.value} for account in self.accounts
            ],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, directory: Path, text: str) -> tuple[SandboxSpec, bool]:
        try:
            data = json.loads(text)
            accounts = tuple(
                Account(
                    role=Role(item["role"]),
                    user=item["user"],
                    password=item["password"],
                    hosts=tuple(item["hosts"]),
                    grants=tuple(item["grants"]),
                )
                for item in data["accounts"]
            )
            spec = cls(
                directory=directory,
                replicas=int(data["replicas"]),
                base_port=int(data["base_port"]),
                proxy_port=int(data["proxy_port"]),
                semi_sync=bool(data["semi_sync"]),
                host=str(data["host"]),
                accounts=accounts,
            )
            return spec, bool(data.get("initialized", False))
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError(
                f"{directory / SPEC_FILE} is not a valid sandbox file: {exc}"
            ) from exc
