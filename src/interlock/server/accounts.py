"""User accounts as the server sees them, and matching a client to one (pure: no I/O).

The proxy loads ``(user, host, plugin, authentication_string)`` rows from the primary
(``account_loader.py``) and answers "which account does ``user`` connecting from ``ip`` log in
as?" the way MariaDB's ``sql_acl.cc`` does:

* A host pattern matches the client's IP address: ``%`` is any run of characters, ``_`` exactly
  one, ``\\`` escapes the next character; ``a.b.c.d/m.m.m.m`` (and ``a.b.c.d/len``) is an IPv4
  network; the empty host matches everything.  Interlock does no reverse DNS (like a server
  with ``skip_name_resolve``), except that a loopback client also matches ``localhost``.
* Among the rows of the user, the most specific host wins (the server's ``get_sort``: a host
  without wildcards first, then patterns by the position of their first wildcard, ``%`` last,
  the empty host after that; ``localhost`` before ``127.0.0.1`` on a tie).
* The anonymous user ``''`` is considered after the named user and wins only when its host is
  strictly more specific (``''@localhost`` shadows ``app@%``, as on the server).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

NATIVE_PLUGINS = frozenset({"mysql_native_password", ""})
LOOPBACK = frozenset({"127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    host: str
    plugin: str = "mysql_native_password"
    auth_string: str = ""  # "*" + 40 hex digits for mysql_native_password, "" = no password
    locked: bool = False

    @property
    def is_native(self) -> bool:
        return self.plugin in NATIVE_PLUGINS


@functools.lru_cache(maxsize=4096)
def normalize_ip(address: str) -> str:
    """``::ffff:1.2.3.4`` (an IPv4 client on a dual-stack socket) -> ``1.2.3.4``.

    Cached: it runs several times per login, and clients come from few addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _sort_value(host: str) -> int:
    """The server's ``get_sort`` for one string: higher is more specific."""
    if not host:
        return 0
    pos = 0
    while pos < len(host):
        char = host[pos]
        if char == "\\" and pos + 1 < len(host):
            pos += 2
            continue
        if char in "%_":
            wild_pos = pos + 1
            if not (pos == 0 and char == "%" and len(host) == 1):
                wild_pos += 1
            return min(wild_pos, 127)
        pos += 1
    return 128


def _parse_network(host: str) -> ipaddress.IPv4Network | None:
    if "/" not in host:
        return None
    address, _, mask = host.partition("/")
    try:
        if "." in mask:
            return ipaddress.IPv4Network(f"{address}/{mask}", strict=True)
        return ipaddress.IPv4Network(f"{address}/{int(mask)}", strict=True)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class HostPattern:
    text: str
    network: ipaddress.IPv4Network | None
    regex: re.Pattern[str] | None
    sort: int

    @classmethod
    def compile(cls, text: str) -> HostPattern:
        network = _parse_network(text)
        if network is not None:
            return cls(text, network, None, 128)
        regex = _wildcard_regex(text) if text else None
        return cls(text, None, regex, _sort_value(text))

    @property
    def is_exact(self) -> bool:
        return self.network is None and self.sort == 128

    def matches(self, ip: str) -> bool:
        if self.network is not None:
            try:
                return ipaddress.ip_address(ip) in self.network
            except ValueError:
                return False
        if self.regex is None:
            return True
        if self.regex.fullmatch(ip):
            return True
        return ip in LOOPBACK and self.regex.fullmatch("localhost") is not None


@dataclass(frozen=True, slots=True)
class _Entry:
    account: Account
    pattern: HostPattern

    def key(self) -> tuple[int, int, tuple[int, ...]]:
        # descending: sort value, exact before network, then host string descending (the
        # server's -strcmp tie-break that puts 'localhost' before '127.0.0.1')
        host = self.pattern.text.encode()
        return (-self.pattern.sort, 0 if self.pattern.is_exact else 1, tuple(-b for b in host))


@dataclass(frozen=True, slots=True)
class AccountTable:
    """Accounts grouped by user name, each group in the order the server tries them."""

    by_user: dict[str, tuple[_Entry, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, accounts: Iterable[Account]) -> AccountTable:
        groups: dict[str, list[_Entry]] = {}
        for account in accounts:
            entry = _Entry(account, HostPattern.compile(account.host))
            groups.setdefault(account.user, []).append(entry)
        return cls({user: tuple(sorted(g, key=_Entry.key)) for user, g in groups.items()})

    def __len__(self) -> int:
        return sum(len(group) for group in self.by_user.values())

    def _first_match(self, user: str, ip: str) -> _Entry | None:
        for entry in self.by_user.get(user, ()):
            if entry.pattern.matches(ip):
                return entry
        return None

    def find(self, user: str, address: str) -> Account | None:
        """The account ``user`` connecting from ``address`` would log in as, or ``None``."""
        ip = normalize_ip(address)
        named = self._first_match(user, ip) if user else None
        anonymous = self._first_match("", ip)
        if anonymous is not None and (
            named is None or anonymous.pattern.sort > named.pattern.sort
        ):
            return anonymous.account
        return named.account if named is not None else None

    def ordered(self, user: str) -> list[Account]:
        """The rows of ``user`` in matching order (for tests and diagnostics)."""
        return [entry.account for entry in self.by_user.get(user, ())]
