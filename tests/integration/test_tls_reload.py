"""``POST /v1/maxscale/tls/reload`` on a real proxy: certificate files replaced on disk (made
with openssl) are served to new TLS connections of the listener and the admin listener after
the reload; a connection made before keeps working; a file that does not load changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.conftest import ProxyFactory
from tests.integration.admin_support import AdminApi

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import LISTENER
from interlock.sandbox.proxy import ProxyHandle
from interlock.wire.constants import Capability
from interlock.wire.framing import PacketBuffer, encode_packet
from interlock.wire.handshake import build_ssl_request, parse_handshake_v10

pytestmark = pytest.mark.integration

UNVERIFIED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE  # self-signed test certificates: compared by fingerprint


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN=interlock-{name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def fingerprint_of_file(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def listener_fingerprint(handle: ProxyHandle) -> str:
    """TLS handshake with the proxy's listener (MySQL SSL request first): its certificate's
    SHA-256 fingerprint."""
    with socket.create_connection((handle.host, handle.port), timeout=10) as sock:
        packets = PacketBuffer()
        greeting = None
        while greeting is None:
            chunk = sock.recv(4096)
            assert chunk, "the proxy closed the connection before its greeting"
            packets.feed(chunk)
            greeting = packets.next_packet()
        caps = parse_handshake_v10(greeting.payload).capabilities
        assert caps & Capability.SSL, "the listener does not offer TLS"
        wanted = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.SSL
        sock.sendall(encode_packet(build_ssl_request(wanted, 1 << 24, 45), 1))
        with UNVERIFIED.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def admin_fingerprint(api: AdminApi) -> str:
    host, port = api.base.removeprefix("https://").rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def post(api: AdminApi, path: str, auth: tuple[str, str] | None) -> tuple[int, str]:
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(api.base + path, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=UNVERIFIED) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def tls_session(sandbox: Sandbox, handle: ProxyHandle) -> Any:
    params = sandbox.proxy_params(port=handle.port).with_(host=handle.host)
    return pymysql.connect(**params.pymysql_kwargs(), ssl=UNVERIFIED, autocommit=True)


def peer_fingerprint(conn: Any) -> str:
    der = conn._sock.getpeercert(binary_form=True)  # pymysql's socket: TLS after the login
    return hashlib.sha256(der).hexdigest()


def select_one(conn: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchall()


def install(source: tuple[Path, Path], target: tuple[Path, Path]) -> None:
    """Replace the files ``target`` with copies of ``source`` (each renamed into place)."""
    for src, dst in zip(source, target, strict=True):
        staging = dst.with_suffix(".new")
        shutil.copyfile(src, staging)
        os.replace(staging, dst)


def test_reload_serves_new_certificates_to_new_connections_only(
        sandbox: Sandbox, start_proxy: ProxyFactory, tmp_path: Path) -> None:
    old = make_cert(tmp_path, "old")
    new = make_cert(tmp_path, "new")
    listener_files = (tmp_path / "listener.pem", tmp_path / "listener-key.pem")
    admin_files = (tmp_path / "admin.pem", tmp_path / "admin-key.pem")
    install(old, listener_files)
    install(old, admin_files)
    handle = start_proxy({
        LISTENER: {"ssl": "true", "ssl_cert": str(listener_files[0]),
                   "ssl_key": str(listener_files[1]), "ssl_ca": None},
        "maxscale": {"admin_ssl_cert": str(admin_files[0]), "admin_ssl_key": str(admin_files[1])},
    })
    api = AdminApi.of_config(handle.config_path)
    assert api.base.startswith("https://")
    old_fp, new_fp = fingerprint_of_file(old[0]), fingerprint_of_file(new[0])
    assert old_fp != new_fp
    assert listener_fingerprint(handle) == old_fp
    assert admin_fingerprint(api) == old_fp

    existing = tls_session(sandbox, handle)
    try:
        assert peer_fingerprint(existing) == old_fp
        install(new, listener_files)
        install(new, admin_files)
        assert listener_fingerprint(handle) == old_fp  # nothing reloads on its own

        assert post(api, "/v1/maxscale/tls/reload", auth=None)[0] == 401
        status, body = post(api, "/v1/maxscale/tls/reload", auth=api.admin)
        assert status == 204, body

        assert listener_fingerprint(handle) == new_fp
        assert admin_fingerprint(api) == new_fp
        fresh = tls_session(sandbox, handle)  # a whole login over the new certificate
        try:
            assert peer_fingerprint(fresh) == new_fp
            assert select_one(fresh) == ((1,),)
        finally:
            fresh.close()
        # the connection made before the reload keeps its TLS session and works
        assert select_one(existing) == ((1,),)
        assert peer_fingerprint(existing) == old_fp
    finally:
        existing.close()
    assert "TLS certificates reloaded: 1 listener(s), 0 backend server(s), the admin " \
           "listener" in handle.log_text()


def test_a_file_that_does_not_load_changes_nothing(
        sandbox: Sandbox, start_proxy: ProxyFactory, tmp_path: Path) -> None:
    old = make_cert(tmp_path, "old")
    other = make_cert(tmp_path, "other")
    listener_files = (tmp_path / "listener.pem", tmp_path / "listener-key.pem")
    install(old, listener_files)
    handle = start_proxy({LISTENER: {"ssl": "true", "ssl_cert": str(listener_files[0]),
                                     "ssl_key": str(listener_files[1]), "ssl_ca": None}})
    api = AdminApi.of_config(handle.config_path)
    # a certificate whose key is another one's: the pair does not load
    install((other[0], old[1]), listener_files)
    status, body = post(api, "/v1/maxscale/tls/reload", auth=api.admin)
    assert status == 400, body
    assert "listener-key.pem" in body and "old certificates stay in use" in body
    assert listener_fingerprint(handle) == fingerprint_of_file(old[0])
    conn = tls_session(sandbox, handle)
    try:
        assert select_one(conn) == ((1,),)
    finally:
        conn.close()
