"""Connection parameters for a server or a proxy, in the shapes tests and clients want."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class ConnParams:
    host: str
    port: int
    user: str
    password: str
    database: str | None = None

    def with_(self, **changes: Any) -> ConnParams:
        return replace(self, **changes)

    def pymysql_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect`` / ``MySQLdb.connect`` style drivers."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        if self.database is not None:
            kwargs["database"] = self.database
        return kwargs

    def cli_args(self) -> list[str]:
        """Arguments for the ``mariadb`` command-line client (``--no-defaults`` first)."""
        args = [
            "--no-defaults",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--user={self.user}",
            f"--password={self.password}",
            "--protocol=TCP",
        ]
        if self.database is not None:
            args.append(self.database)
        return args

    def url(self, scheme: str = "mysql+pymysql") -> str:
        """An SQLAlchemy URL (passwords in the sandbox need no escaping)."""
        return (
            f"{scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{self.database or ''}"
        )

    def command_line(self) -> str:
        """What a human types: ``mariadb -h127.0.0.1 -P4006 -uapp -papp-secret app``."""
        text = f"mariadb -h{self.host} -P{self.port} -u{self.user} -p{self.password}"
        return f"{text} {self.database}" if self.database else text
