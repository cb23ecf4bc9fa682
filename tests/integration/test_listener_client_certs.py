"""Client certificates on a TLS listener (``ssl_verify_peer_certificate``), on a real proxy in
front of the sandbox.

With ``ssl_verify_peer_certificate=true`` a client must present a certificate signed by the
listener's ``ssl_ca``: the mariadb CLI and pymysql with one log in; without one, or with one
from another CA, the TLS handshake is refused.  With the default (``false``) no client
certificate is asked for: clients without one, or with one from an unrelated CA, log in.

What a refused client sees: TLS 1.3 clients finish their side of the handshake before the
proxy has checked their certificate, so they see the connection closed right after it (the
CLI: ``ERROR 2026 ... TLS/SSL error``; pymysql: error 2013 or 2006).
"""

from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.conftest import ProxyFactory

from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox.interlock_cnf import LISTENER
from interlock.sandbox.proxy import ProxyHandle
from interlock.sandbox.tls import client_certificate, generate

pytestmark = pytest.mark.integration

REQUIRED = {LISTENER: {"ssl_verify_peer_certificate": "true"}}
LOST_CONNECTION = (2006, 2013)  # pymysql: server gone away / lost connection


def proxy_params(sandbox: Sandbox, handle: ProxyHandle) -> ConnParams:
    return sandbox.proxy_params(port=handle.port).with_(host=handle.host)


def cli(params: ConnParams, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mariadb", *params.cli_args(), "--connect-timeout=10", *args,
         "--skip-column-names", "-e", "SELECT CURRENT_USER()"],
        capture_output=True, text=True, timeout=60,
    )


def cli_with_tls(params: ConnParams, ca: Path, cert: tuple[Path, Path] | None
                 ) -> subprocess.CompletedProcess[str]:
    files = [f"--ssl-cert={cert[0]}", f"--ssl-key={cert[1]}"] if cert is not None else []
    return cli(params, "--ssl", f"--ssl-ca={ca}", "--ssl-verify-server-cert", *files)


def tls_context(ca: Path, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    """A client context that verifies the proxy against ``ca`` and presents ``cert``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # the sandbox certificate names localhost/127.0.0.1; CA is enough
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def login(params: ConnParams, ctx: ssl.SSLContext) -> tuple[str, Any]:
    """pymysql over TLS: CURRENT_USER() and the TLS version of the connection."""
    conn = pymysql.connect(**params.pymysql_kwargs(), ssl=ctx, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            row = cur.fetchone()
        assert row is not None
        return row[0], conn._sock.version()  # pymysql's socket is the TLS socket after login
    finally:
        conn.close()


def refused_by_pymysql(params: ConnParams, ctx: ssl.SSLContext) -> None:
    with pytest.raises(pymysql.err.OperationalError) as caught:
        login(params, ctx)
    assert caught.value.args[0] in LOST_CONNECTION, caught.value.args


def stranger_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate from a CA the listener does not know."""
    other = tmp_path / "other-ca"
    generate(other)
    return client_certificate(other, "stranger")


def warnings_about_certificates(handle: ProxyHandle) -> list[str]:
    return [line for line in handle.log_text().splitlines()
            if re.search(r"\b(warning|error)\s*:", line) and "certificate" in line.lower()]


def test_a_required_client_certificate_lets_in_only_clients_that_have_one(
        sandbox: Sandbox, start_proxy: ProxyFactory, tmp_path: Path) -> None:
    cert = client_certificate(sandbox.tls_ca.parent, "verify-required")
    handle = start_proxy(REQUIRED)
    params = proxy_params(sandbox, handle)
    account = f"{params.user}@%"

    # a certificate of the listener's CA: the CLI and pymysql log in over TLS
    ok = cli_with_tls(params, sandbox.tls_ca, cert)
    assert (ok.returncode, ok.stdout.strip()) == (0, account), ok.stderr
    assert login(params, tls_context(sandbox.tls_ca, cert)) == (account, "TLSv1.3")

    # no certificate: the handshake is refused, nobody logs in
    no_cert = cli_with_tls(params, sandbox.tls_ca, None)
    assert no_cert.returncode != 0 and account not in no_cert.stdout
    assert "ERROR 2026" in no_cert.stderr and "TLS/SSL error" in no_cert.stderr, no_cert.stderr
    refused_by_pymysql(params, tls_context(sandbox.tls_ca, None))

    # a certificate of another CA: refused as well
    stranger = stranger_certificate(tmp_path)
    other = cli_with_tls(params, sandbox.tls_ca, stranger)
    assert other.returncode != 0 and "ERROR 2026" in other.stderr, other.stderr
    refused_by_pymysql(params, tls_context(sandbox.tls_ca, stranger))

    # the refusals cost nothing: a client with a good certificate still gets in
    assert login(params, tls_context(sandbox.tls_ca, cert))[0] == account


def test_without_verification_no_client_certificate_is_asked_for(
        sandbox: Sandbox, start_proxy: ProxyFactory, tmp_path: Path) -> None:
    handle = start_proxy()  # the sandbox listener: ssl=true with ssl_ca, verification off
    params = proxy_params(sandbox, handle)
    account = f"{params.user}@%"
    plain_tls = cli_with_tls(params, sandbox.tls_ca, None)
    assert (plain_tls.returncode, plain_tls.stdout.strip()) == (0, account), plain_tls.stderr
    assert login(params, tls_context(sandbox.tls_ca, None))[0] == account
    # a client that has a certificate from an unrelated CA is not asked for it (as MaxScale)
    stranger = stranger_certificate(tmp_path)
    assert login(params, tls_context(sandbox.tls_ca, stranger))[0] == account
    assert warnings_about_certificates(handle) == []


def test_a_refused_handshake_is_logged_in_one_line(
        sandbox: Sandbox, start_proxy: ProxyFactory) -> None:
    handle = start_proxy(REQUIRED)
    params = proxy_params(sandbox, handle)
    refused_by_pymysql(params, tls_context(sandbox.tls_ca, None))
    lines = warnings_about_certificates(handle)
    assert len(lines) == 1, lines
    assert "127.0.0.1" in lines[0] and "TLS" in lines[0], lines


def test_a_client_without_tls_is_refused_when_certificates_are_required(
        sandbox: Sandbox, start_proxy: ProxyFactory) -> None:
    handle = start_proxy(REQUIRED)
    params = proxy_params(sandbox, handle)
    plain = cli(params, "--skip-ssl")
    assert plain.returncode != 0 and f"{params.user}@%" not in plain.stdout, plain.stdout
