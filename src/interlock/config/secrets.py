"""Encrypted passwords, compatible with MaxScale's ``maxkeys``/``maxpasswd``.

The key file is ``.secrets`` in the key directory.  Two formats are read:

- MaxScale 2.5 and later (written by ``interlock keys``): JSON
  ``{"description": ..., "maxscale_version": ..., "encryption_cipher": "EVP_aes_256_cbc",
  "encryption_key": "<64 hex digits>"}``.  An encrypted password is
  ``HEX(IV) + HEX(AES-256-CBC(key, IV, password with PKCS#7 padding))``: a fresh random 16-byte
  IV per password, upper-case hex, so 64 or more hex digits.
- MaxScale 2.4 and earlier: 48 bytes of binary, a 32-byte key then a 16-byte IV used for every
  password; an encrypted password is ``HEX(ciphertext)`` only (32 or more hex digits).

MaxScale's rule, applied by the loader: when a key file exists, a password value that looks
encrypted (hex digits of a length the key's format can produce) is decrypted; other values are
plain text.  A value that looks encrypted but does not decrypt is an error.

The key directory is ``secretsdir`` if set, else ``datadir``, else ``/var/lib/interlock`` and
then ``/var/lib/maxscale`` (the first that has a ``.secrets``), so a MaxScale installation's key
works unchanged.  Pure: files only, no sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets as _random
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from interlock import __version__
from interlock.config.ini import IniSection
from interlock.config.tables import GLOBAL_SECTION
from interlock.errors import ConfigError

SECRETS_FILE = ".secrets"
#: where the key file is looked for when neither ``secretsdir`` nor ``datadir`` is set
DEFAULT_DIRS = ("/var/lib/interlock", "/var/lib/maxscale")
CIPHER = "EVP_aes_256_cbc"
KEY_LEN = 32
IV_LEN = 16
BLOCK = 16
LEGACY_FILE_LEN = KEY_LEN + IV_LEN
DESCRIPTION = "MaxScale encryption/decryption key (written by Interlock)"

_HEX = re.compile(r"^[0-9A-Fa-f]+$")


class SecretsError(ConfigError):
    """A key file that cannot be used, or a value that does not decrypt."""


@dataclass(frozen=True, slots=True)
class SecretKey:
    """A loaded key; ``legacy_iv`` is set for MaxScale 2.4's binary format (fixed IV)."""

    key: bytes
    path: str
    legacy_iv: bytes | None = None

    @property
    def legacy(self) -> bool:
        return self.legacy_iv is not None

    def looks_encrypted(self, value: str) -> bool:
        """True when ``value`` has the shape of an encrypted password for this key's format."""
        least = 2 * BLOCK if self.legacy else 2 * (IV_LEN + BLOCK)
        return len(value) >= least and len(value) % 2 == 0 and _HEX.match(value) is not None

    def encrypt(self, password: str, iv: bytes | None = None) -> str:
        """The encrypted value of ``password`` (upper-case hex), as ``maxpasswd`` prints it."""
        if self.legacy_iv is not None:
            return _aes(self.key, self.legacy_iv, password.encode("utf-8"), True).hex().upper()
        iv = _random.token_bytes(IV_LEN) if iv is None else iv
        if len(iv) != IV_LEN:
            raise SecretsError(f"the IV must be {IV_LEN} bytes")
        return (iv + _aes(self.key, iv, password.encode("utf-8"), True)).hex().upper()

    def decrypt(self, value: str) -> str:
        """The password ``value`` encrypts; SecretsError saying why when it does not decrypt."""
        if not self.looks_encrypted(value):
            raise SecretsError("not an encrypted value (hex digits of IV and ciphertext)")
        data = bytes.fromhex(value)
        iv, body = (
            (self.legacy_iv, data) if self.legacy_iv is not None else (data[:IV_LEN], data[IV_LEN:])
        )
        if len(body) % BLOCK:
            raise SecretsError(f"the ciphertext is not a whole number of {BLOCK}-byte blocks")
        try:
            plain = _aes(self.key, iv, body, False)
        except ValueError:
            raise SecretsError(f"it does not decrypt with the key in {self.path}") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretsError(
                f"it decrypts with the key in {self.path} to bytes that are not UTF-8 text"
            ) from None


def _aes(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    """AES-256-CBC with PKCS#7 padding (OpenSSL's EVP default); ValueError on bad padding."""
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    if encrypt:
        padder = padding.PKCS7(BLOCK * 8).padder()
        enc = cipher.encryptor()
        return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
    dec = cipher.decryptor()
    padded = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


# -- the key file ---------------------------------------------------------------------------


def key_dirs(secretsdir: str | None, datadir: str | None) -> tuple[str, ...]:
    """The directories searched for ``.secrets``, in order."""
    if secretsdir:
        return (secretsdir,)
    if datadir:
        return (datadir,)
    return DEFAULT_DIRS


def key_dir_settings(sections: Iterable[IniSection], base: str) -> tuple[str | None, str | None]:
    """``secretsdir`` and ``datadir`` of the global section, relative paths resolved at
    ``base`` (the config file's directory), as the loader resolves every path."""
    found: dict[str, str | None] = {"secretsdir": None, "datadir": None}
    for section in sections:
        if section.name.lower() != GLOBAL_SECTION:
            continue
        for name in found:
            entry = section.get(name)
            if entry is not None and entry.value:
                found[name] = os.path.normpath(os.path.join(base, entry.value))
    return found["secretsdir"], found["datadir"]


def find_key_file(dirs: tuple[str, ...]) -> str | None:
    """The first ``DIR/.secrets`` that exists, or None."""
    for directory in dirs:
        path = os.path.join(directory, SECRETS_FILE)
        if os.path.lexists(path):
            return path
    return None


def render_key_file(key: bytes) -> bytes:
    """The JSON key file of MaxScale 2.5+ for ``key``."""
    document = {
        "description": DESCRIPTION,
        "maxscale_version": f"interlock {__version__}",
        "encryption_cipher": CIPHER,
        "encryption_key": key.hex().upper(),
    }
    return (json.dumps(document, indent=4) + "\n").encode("ascii")


def parse_key_file(data: bytes, path: str) -> SecretKey:
    """A key from the bytes of a key file (either format); SecretsError when unusable."""
    if len(data) == LEGACY_FILE_LEN and not data.lstrip().startswith(b"{"):
        return SecretKey(data[:KEY_LEN], path, legacy_iv=data[KEY_LEN:])
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SecretsError(
            f"key file {path} is neither MaxScale's JSON key file nor its {LEGACY_FILE_LEN}-byte"
            " binary key file of version 2.4 and earlier"
        ) from None
    if not isinstance(document, dict):
        raise SecretsError(f"key file {path}: expected a JSON object")
    cipher = document.get("encryption_cipher", CIPHER)
    if cipher != CIPHER:
        raise SecretsError(
            f"key file {path}: cipher {cipher!r} is not supported; expected {CIPHER}"
        )
    key = document.get("encryption_key")
    if not isinstance(key, str) or len(key) != 2 * KEY_LEN or not _HEX.match(key):
        raise SecretsError(f"key file {path}: 'encryption_key' must be {2 * KEY_LEN} hex digits")
    return SecretKey(bytes.fromhex(key), path)


def load_key_file(path: str) -> SecretKey:
    """Read and check a key file: a regular file that group and others cannot access."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SecretsError(f"key file {path} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretsError(
                f"key file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); make it private: chmod 600 {path}"
            )
        with open(path, "rb") as handle:
            data = handle.read(4096)
    except OSError as exc:
        raise SecretsError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    return parse_key_file(data, path)


def write_key_file(directory: str, force: bool = False) -> str:
    """Create ``directory/.secrets`` (mode 0600) with a new random key; returns its path.

    An existing key file is kept (the passwords encrypted with it would become unreadable)
    unless ``force``.
    """
    Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    path = os.path.join(directory, SECRETS_FILE)
    if os.path.lexists(path) and not force:
        raise SecretsError(
            f"{path} already exists; passwords encrypted with it would no longer decrypt "
            "(use --force to replace it)"
        )
    temp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(render_key_file(_random.token_bytes(KEY_LEN)))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)  # whatever the umask
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path
