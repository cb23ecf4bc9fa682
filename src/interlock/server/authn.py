"""Checking a client's mysql_native_password response at the proxy (pure).

The client scrambles its password with the proxy's nonce.  With the account's stored
``SHA1(SHA1(pw))`` the proxy recovers ``SHA1(pw)`` (:func:`wire.auth.recover_sha1`), which is
all it needs to log in to backends later.  The errors are the server's own, word for word.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from interlock.errors import ClientError
from interlock.server import errors
from interlock.server.accounts import AccountTable, normalize_ip
from interlock.wire.auth import parse_stored_hash, recover_sha1
from interlock.wire.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class Verdict:
    sha1_password: bytes | None = None  # SHA1(pw) (b"" for an empty password) when accepted
    error: ClientError | None = None
    retry: bool = False  # reloading the accounts might change the outcome

    @property
    def ok(self) -> bool:
        return self.error is None


def verify(
    table: AccountTable,
    user: str,
    address: str,
    response: bytes,
    nonce: bytes,
    *,
    service: str,
    enable_root_user: bool,
) -> Verdict:
    host = normalize_ip(address)
    if user == "root" and not enable_root_user:
        return Verdict(error=errors.root_denied(user, host, service))
    account = table.find(user, host)
    if account is None:
        return _denied(user, host, response)
    if not account.is_native:
        return Verdict(error=errors.unsupported_plugin(account.user, account.host, account.plugin))
    try:
        stored = _stored_hash(account.auth_string)
    except ProtocolError:
        return _denied(user, host, response)
    sha1 = recover_sha1(response, nonce, stored)
    if sha1 is None:
        return _denied(user, host, response)
    if account.locked:
        return Verdict(error=errors.account_locked())
    return Verdict(sha1_password=sha1)


def _denied(user: str, host: str, response: bytes) -> Verdict:
    return Verdict(error=errors.access_denied(user, host, using_password=bool(response)),
                   retry=True)


@functools.lru_cache(maxsize=1024)
def _stored_hash(auth_string: str) -> bytes:
    """``parse_stored_hash``, once per distinct account hash (it runs at every login)."""
    return parse_stored_hash(auth_string)
