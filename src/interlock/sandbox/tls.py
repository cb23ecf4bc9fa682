"""Self-signed CA and server certificate for the sandbox servers and the proxy listener, and
client certificates signed by that CA (:func:`client_certificate`)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    ca_key: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, directory: Path) -> TlsFiles:
        return cls(
            ca=directory / "ca.pem",
            ca_key=directory / "ca-key.pem",
            cert=directory / "server-cert.pem",
            key=directory / "server-key.pem",
        )

    def exist(self) -> bool:
        return all(path.is_file() for path in (self.ca, self.ca_key, self.cert, self.key))


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Interlock sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _ca_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = _name("Interlock sandbox CA")
    return (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey
) -> x509.Certificate:
    alt_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    return (
        _builder(_name("localhost"), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(alt_names, critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def generate(directory: Path) -> TlsFiles:
    """Create (once) a CA and a server certificate for localhost/127.0.0.1 in ``directory``."""
    files = TlsFiles.in_dir(directory)
    if files.exist():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = _new_key(), _new_key()
    ca_cert = _ca_certificate(ca_key)
    _write_key(files.ca_key, ca_key)
    _write_cert(files.ca, ca_cert)
    _write_key(files.key, server_key)
    _write_cert(files.cert, _server_certificate(server_key, ca_cert, ca_key))
    return files


def _load_ca(files: TlsFiles) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{files.ca_key} is not the RSA key of the sandbox CA")
    return cert, key


def client_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A client certificate (common name ``name``, extended key usage clientAuth) signed by
    the CA in ``directory`` (made by :func:`generate`), written next to it as
    ``NAME-client-cert.pem`` and ``NAME-client-key.pem`` (0600); returns (cert, key)."""
    ca_cert, ca_key = _load_ca(TlsFiles.in_dir(directory))
    key = _new_key()
    cert = (
        _builder(_name(name), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / f"{name}-client-cert.pem"
    key_path = directory / f"{name}-client-key.pem"
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert_path, key_path
