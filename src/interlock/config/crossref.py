"""Checks across sections: references between objects, TLS files, listener ports.

- a listener's ``service`` names a service; a service's ``servers`` and a monitor's ``servers``
  name servers; a server is in at most one monitor;
- TLS: a listener with ``ssl=true`` needs ``ssl_cert`` and ``ssl_key``, and with
  ``ssl_verify_peer_certificate=true`` also ``ssl_ca`` (the CA of the client certificates);
  every TLS file named by an object with TLS on must exist; TLS files (or client-certificate
  verification) without ``ssl=true`` get a warning;
- at least one listener, and no two listeners on the same port of overlapping addresses.

Sections whose type could not be used (already reported) are skipped, so one mistake is
reported once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from interlock.config.diagnostics import Diagnostics
from interlock.config.values import did_you_mean

if TYPE_CHECKING:
    from interlock.config.loader import Checked

_WILDCARDS = frozenset({"::", "0.0.0.0", "*"})
_TLS_FILES = (("ssl_cert", "tls.cert"), ("ssl_key", "tls.key"), ("ssl_ca", "tls.ca"))


def check(checked: Sequence[Checked], diag: Diagnostics) -> None:
    kinds = {c.name: c.kind for c in checked}
    monitored: dict[str, str] = {}
    for item in checked:
        if item.kind == "listener":
            _refs(item, "service", "service", kinds, diag)
        elif item.kind in ("service", "monitor"):
            _refs(item, "servers", "server", kinds, diag)
        if item.kind == "monitor":
            _one_monitor(item, kinds, monitored, diag)
        if item.kind in _TLS_CHECKS:
            _TLS_CHECKS[item.kind](item, diag)
        if item.kind == "maxscale":
            _cluster(item, diag)
    _listeners([c for c in checked if c.kind == "listener"], diag)


def _refs(
    item: Checked, key: str, want: str, kinds: dict[str, str | None], diag: Diagnostics
) -> None:
    value = item.values.get(key)
    if value is None:
        return
    names = (value,) if isinstance(value, str) else tuple(value)
    candidates = [n for n, k in kinds.items() if k == want]
    for name in names:
        if name not in kinds:
            hint = did_you_mean(name, candidates)
            diag.error(
                f"{key}: {want} '{name}' does not exist{hint}; "
                f"expected the name of a section with type={want}",
                item.lines[key],
                item.name,
            )
        elif kinds[name] is not None and kinds[name] != want:
            what = "the global section" if kinds[name] == "maxscale" else f"a {kinds[name]}"
            diag.error(f"{key}: '{name}' is {what}, not a {want}", item.lines[key], item.name)


def _one_monitor(
    item: Checked, kinds: dict[str, str | None], monitored: dict[str, str], diag: Diagnostics
) -> None:
    for name in item.values.get("servers", ()):
        if kinds.get(name) != "server":
            continue
        if name in monitored:
            diag.error(
                f"servers: server '{name}' is already monitored by [{monitored[name]}]; "
                "a server can be in one monitor only",
                item.lines["servers"],
                item.name,
            )
        else:
            monitored[name] = item.name


def _listener_tls(item: Checked, diag: Diagnostics) -> None:
    if item.values.get("tls.enabled"):
        missing = [p for p, f in _TLS_FILES[:2] if f not in item.values]
        if missing:
            diag.error(
                f"ssl=true needs ssl_cert and ssl_key; missing: {', '.join(missing)}",
                item.lines["ssl"],
                item.name,
            )
    _client_certificates(item, diag)
    _tls_files(item, diag)


def _client_certificates(item: Checked, diag: Diagnostics) -> None:
    """``ssl_verify_peer_certificate=true`` on a listener: clients must present a certificate
    signed by ``ssl_ca``, so ``ssl_ca`` is required (no fallback to the system CAs)."""
    if not item.values.get("tls.verify_peer_certificate"):
        return
    line = item.lines["ssl_verify_peer_certificate"]
    if not item.values.get("tls.enabled"):
        diag.warning(
            "ssl_verify_peer_certificate is set but ssl is not true: TLS is off for this "
            "listener, so no client certificate is asked for",
            line,
            item.name,
        )
    elif "tls.ca" not in item.values:
        diag.error(
            "ssl_verify_peer_certificate=true needs ssl_ca; expected ssl_ca=<path> of the PEM "
            "CA bundle that signs the client certificates",
            line,
            item.name,
        )


def _cluster(item: Checked, diag: Diagnostics) -> None:
    """``cluster=etcd`` needs somewhere to find etcd."""
    if item.values.get("cluster") == "etcd" and not item.values.get("etcd_endpoints"):
        diag.error("cluster=etcd needs etcd_endpoints; expected etcd_endpoints="
                   "http://HOST:2379[,http://HOST2:2379...]", item.lines["cluster"], item.name)


def _server_tls(item: Checked, diag: Diagnostics) -> None:
    if item.values.get("tls.enabled"):
        given = [p for p, f in _TLS_FILES[:2] if f in item.values]
        if len(given) == 1:
            other = "ssl_key" if given[0] == "ssl_cert" else "ssl_cert"
            diag.error(
                f"{given[0]} needs {other} too (a client certificate needs its key)",
                item.lines[given[0]],
                item.name,
            )
    _tls_files(item, diag)


def _tls_files(item: Checked, diag: Diagnostics) -> None:
    enabled = bool(item.values.get("tls.enabled"))
    for param, fld in _TLS_FILES:
        path = item.values.get(fld)
        if path is None:
            continue
        if not enabled:
            diag.warning(
                f"{param} is set but ssl is not true: TLS is off for this {item.kind}",
                item.lines[param],
                item.name,
            )
        elif not os.path.isfile(path):
            diag.error(
                f"{param}: file '{path}' does not exist; expected a PEM file",
                item.lines[param],
                item.name,
            )


_TLS_CHECKS: dict[str, Callable[[Checked, Diagnostics], None]] = {
    "listener": _listener_tls,
    "server": _server_tls,
}


def _listeners(listeners: list[Checked], diag: Diagnostics) -> None:
    if not listeners:
        diag.error(
            "no listener defined; add a section with type=listener, service=<service name> "
            "and port=<port>"
        )
    taken: dict[int, list[tuple[str, Checked]]] = {}
    for item in listeners:
        port = item.values.get("port")
        if port is None:
            continue
        address = item.values.get("address", "::")
        for other_address, other in taken.get(port, []):
            if address == other_address or {address, other_address} & _WILDCARDS:
                diag.error(
                    f"port {port} is already used by listener [{other.name}] "
                    f"(line {other.line}); give each listener its own port",
                    item.lines["port"],
                    item.name,
                )
                break
        taken.setdefault(port, []).append((address, item))
