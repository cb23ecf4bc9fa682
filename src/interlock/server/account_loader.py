"""Loading a service's user accounts from its primary, with rate-limited reloads.

As MaxScale does it: the service user reads ``mysql.global_priv`` (MariaDB 10.4+: one JSON
document per account with ``plugin``, ``authentication_string``, ``auth_or`` alternatives,
``account_locked``, ``is_role``) or, on MySQL and older MariaDB, ``mysql.user``.  The same
connection tells the proxy the primary's version string and capabilities, which it uses for
its own handshake.  The server to load from is asked for at every load (a callable): the
current primary as the monitor publishes it, so accounts follow a failover or switchover.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable

from interlock.config.model import ServerConfig, ServiceConfig
from interlock.log import get_logger
from interlock.server import backend, errors
from interlock.server.accounts import Account, AccountTable
from interlock.wire.handshake import HandshakeV10

log = get_logger(__name__)

MARIADB_QUERY = "SELECT user, host, priv FROM mysql.global_priv"
MYSQL_QUERY = "SELECT user, host, plugin, authentication_string FROM mysql.user"
NEVER_LOADED_RETRY = 1.0  # seconds between attempts while no load has succeeded yet


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


def account_from_priv(user: str, host: str, priv: str) -> Account | None:
    """An :class:`Account` from a ``mysql.global_priv`` JSON document (``None`` for roles)."""
    try:
        doc = json.loads(priv) if priv else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict) or doc.get("is_role"):
        return None
    locked = bool(doc.get("account_locked", False))
    # an empty {} inside auth_or stands for the top-level method, which is listed first
    alternatives = doc.get("auth_or", [])
    methods = [doc] + [m for m in alternatives if isinstance(m, dict) and m.get("plugin")]
    for method in methods:
        plugin = str(method.get("plugin", "mysql_native_password"))
        if plugin in ("mysql_native_password", ""):
            auth = str(method.get("authentication_string", ""))
            return Account(user, host, "mysql_native_password", auth, locked)
    first = methods[0] if "plugin" in doc or len(methods) == 1 else methods[1]
    return Account(
        user, host, str(first.get("plugin", "")), str(first.get("authentication_string", "")),
        locked,
    )


def parse_mariadb_rows(rows: list[tuple[bytes | None, ...]]) -> list[Account]:
    accounts = []
    for row in rows:
        account = account_from_priv(_text(row[0]), _text(row[1]), _text(row[2]))
        if account is not None:
            accounts.append(account)
    return accounts


def parse_mysql_rows(rows: list[tuple[bytes | None, ...]]) -> list[Account]:
    return [
        Account(_text(r[0]), _text(r[1]), _text(r[2]) or "mysql_native_password", _text(r[3]))
        for r in rows
    ]


PrimaryOf = Callable[[], ServerConfig | None]


class ServiceAccounts:
    """The account table of one service and the primary's handshake, reloaded on demand.
    ``primary``: the server to load from, or a callable that names it at each load."""

    def __init__(
        self,
        service: ServiceConfig,
        primary: ServerConfig | PrimaryOf | None,
        refresh_time: float,
        tls_for: Callable[[ServerConfig], ssl.SSLContext | None],
    ) -> None:
        self.service = service
        self._primary_of: PrimaryOf = primary if callable(primary) else (lambda: primary)
        self.refresh_time = refresh_time
        self.tls_for = tls_for
        self.table = AccountTable.build([])
        self.handshake: HandshakeV10 | None = None
        self.loaded = False
        self.connect_error: errors.BackendError | None = None  # why the last load failed
        self._last_attempt: float | None = None
        self._task: asyncio.Task[bool] | None = None

    @property
    def primary(self) -> ServerConfig | None:
        """The server accounts are loaded from now."""
        return self._primary_of()

    async def load(self) -> bool:
        """Load now (one load at a time; concurrent callers share it)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._load())
        return await asyncio.shield(self._task)

    async def reload(self) -> bool:
        """Reload unless one happened less than ``users_refresh_time`` ago."""
        if self._task is not None and not self._task.done():
            return await asyncio.shield(self._task)
        if self.refresh_time < 0 and self.loaded:
            return False
        now = time.monotonic()
        limit = self.refresh_time if self.loaded else min(self.refresh_time, NEVER_LOADED_RETRY)
        if self._last_attempt is not None and now - self._last_attempt < limit:
            return False
        return await self.load()

    async def _load(self) -> bool:
        self._last_attempt = time.monotonic()
        server = self.primary
        if server is None:
            return False
        login = backend.Login(
            user=self.service.user,
            capabilities=backend.SERVICE_CAPABILITIES,
            password=self.service.password.encode(),
        )
        try:
            conn = await backend.connect(
                server, login, self.service.connect_timeout, self.tls_for(server)
            )
        except errors.BackendError as exc:
            log.error(
                "Service '%s': cannot load user accounts from server '%s': %s",
                self.service.name, server.name, exc.message,
            )
            if not isinstance(exc, backend.BackendRefused):
                self.connect_error = exc
            return False
        self.connect_error = None
        try:
            self.handshake = conn.handshake
            accounts = await self._fetch(conn)
        except (errors.BackendError, OSError) as exc:
            log.error(
                "Service '%s': loading user accounts from server '%s' failed: %s",
                self.service.name, server.name, getattr(exc, "message", exc),
            )
            return False
        finally:
            await backend.close_quietly(conn)
        self.table = AccountTable.build(accounts)
        self.loaded = True
        log.notice(
            "Service '%s': loaded %d user accounts from server '%s'",
            self.service.name, len(self.table), server.name,
        )
        return True

    async def _fetch(self, conn: backend.BackendConnection) -> list[Account]:
        try:
            return parse_mariadb_rows(await conn.query(MARIADB_QUERY))
        except backend.BackendRefused as exc:
            log.info("mysql.global_priv not readable (%s), trying mysql.user", exc.message)
        return parse_mysql_rows(await conn.query(MYSQL_QUERY))
