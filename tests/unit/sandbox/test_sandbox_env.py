"""Environment checks: missing binaries, ports, TLS material, proxy readiness."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from interlock.errors import SandboxError
from interlock.sandbox import binaries, ports, proxy, tls


def test_missing_mariadbd_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries.shutil, "which", lambda name: None)
    monkeypatch.setattr(binaries, "_EXTRA_DIRS", ())
    binaries.server_binary.cache_clear()
    try:
        with pytest.raises(SandboxError) as err:
            binaries.server_binary()
    finally:
        binaries.server_binary.cache_clear()
    assert "mariadbd not found" in str(err.value)
    assert "apt-get install -y mariadb-server mariadb-client" in str(err.value)


def test_port_checks() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert not ports.port_is_free(taken)
        assert ports.taken_ports([taken]) == [taken]
    start = ports.find_free_block(3)
    assert all(ports.port_is_free(port) for port in range(start, start + 3))
    assert ports.FIRST_TEST_PORT <= start < start + 3 <= ports.ephemeral_low()


def test_tls_material_is_a_valid_chain(tmp_path: Path) -> None:
    files = tls.generate(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ca.public_key().verify(  # type: ignore[call-arg]
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    before = files.cert.read_bytes()
    assert tls.generate(tmp_path / "tls") == files  # second call keeps what exists
    assert files.cert.read_bytes() == before


def serve_once(payload: bytes) -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(len(payload).to_bytes(3, "little") + b"\x00" + payload)
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    return int(server.getsockname()[1])


def test_read_first_packet_reassembles_the_payload() -> None:
    payload = b"\x0a10.11.0-fake\x00" + bytes(range(40))
    assert proxy.read_first_packet("127.0.0.1", serve_once(payload)) == payload


def test_proxy_that_exits_while_starting_reports_its_log(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    log.write_text("line one\nfatal: cannot load config\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    handle = proxy.ProxyHandle("127.0.0.1", ports.find_free_port(), tmp_path / "x.cnf", proc, log)
    with pytest.raises(SandboxError) as err:
        proxy.wait_ready(handle, timeout=30)
    assert "exited with code 3" in str(err.value)
    assert "fatal: cannot load config" in str(err.value)
