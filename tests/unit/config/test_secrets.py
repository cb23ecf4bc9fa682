"""Encrypted passwords: MaxScale's key file formats and cipher, checked against openssl."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from config_helpers import BASE
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.cli import main
from interlock.config import secrets
from interlock.config.model import Config
from interlock.config.secrets import SecretKey, SecretsError

KEY = bytes(range(32))
IV = bytes(range(100, 116))


def openssl_encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
    """AES-256-CBC by the openssl command line (PKCS#7 padding is its default)."""
    run = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()],
        input=plain, capture_output=True, check=True,
    )  # fmt: skip
    return run.stdout


def openssl_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    run = subprocess.run(
        ["openssl", "enc", "-d", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()],
        input=data, capture_output=True, check=True,
    )  # fmt: skip
    return run.stdout


# -- the cipher -----------------------------------------------------------------------------


def test_a_fixed_vector_matches_openssl() -> None:
    expected = (IV + openssl_encrypt(KEY, IV, b"maxscale-pw")).hex().upper()
    key = SecretKey(KEY, "test")
    assert key.encrypt("maxscale-pw", IV) == expected
    assert key.decrypt(expected) == "maxscale-pw"
    assert key.decrypt(expected.lower()) == "maxscale-pw"
    assert len(expected) == 64  # 16-byte IV + one block, upper-case hex
    assert expected == expected.upper()


def test_our_values_decrypt_with_openssl() -> None:
    value = SecretKey(KEY, "test").encrypt("a longer password of 33 bytes....")
    data = bytes.fromhex(value)
    assert openssl_decrypt(KEY, data[:16], data[16:]) == b"a longer password of 33 bytes...."
    assert len(data) == 16 + 48


@settings(max_examples=50)
@given(st.text(max_size=80))
def test_round_trip(password: str) -> None:
    key = SecretKey(KEY, "test")
    value = key.encrypt(password)
    assert key.looks_encrypted(value)
    assert key.decrypt(value) == password


def test_each_encryption_uses_a_fresh_iv() -> None:
    key = SecretKey(KEY, "test")
    assert key.encrypt("same") != key.encrypt("same")


def test_legacy_key_uses_the_files_iv_and_no_iv_prefix() -> None:
    legacy = secrets.parse_key_file(KEY + IV, "old/.secrets")
    assert legacy.legacy
    expected = openssl_encrypt(KEY, IV, b"pw-2.4").hex().upper()
    assert legacy.encrypt("pw-2.4") == expected
    assert legacy.decrypt(expected) == "pw-2.4"
    assert len(expected) == 32


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("00" * 32, "does not decrypt"),  # bad padding
        ("AB" * 40, "whole number of 16-byte blocks"),
        ("XYZ", "not an encrypted value"),
    ],
)
def test_values_that_do_not_decrypt(value: str, problem: str) -> None:
    with pytest.raises(SecretsError, match=problem):
        SecretKey(KEY, "test").decrypt(value)


def test_wrong_key_is_reported() -> None:
    value = SecretKey(KEY, "a").encrypt("pw")
    other = SecretKey(bytes(32), "other/.secrets")
    with pytest.raises(SecretsError, match=r"other/\.secrets|not UTF-8"):
        other.decrypt(value)


# -- the key file ---------------------------------------------------------------------------


def test_keys_writes_a_private_maxscale_json_key_file(tmp_path: Path) -> None:
    path = Path(secrets.write_key_file(str(tmp_path / "lib")))
    assert path == tmp_path / "lib" / ".secrets"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert set(document) == {
        "description", "maxscale_version", "encryption_cipher", "encryption_key"
    }  # fmt: skip
    assert document["encryption_cipher"] == "EVP_aes_256_cbc"
    assert len(document["encryption_key"]) == 64
    assert document["encryption_key"] == document["encryption_key"].upper()
    key = secrets.load_key_file(str(path))
    assert key.key == bytes.fromhex(document["encryption_key"])
    assert not key.legacy


def test_keys_refuses_to_replace_a_key_without_force(tmp_path: Path) -> None:
    first = Path(secrets.write_key_file(str(tmp_path)))
    before = first.read_bytes()
    with pytest.raises(SecretsError, match="already exists"):
        secrets.write_key_file(str(tmp_path))
    assert first.read_bytes() == before
    secrets.write_key_file(str(tmp_path), force=True)
    assert first.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".secrets"]


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = secrets.write_key_file(str(tmp_path))
    os.chmod(path, 0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        secrets.load_key_file(path)
    os.chmod(path, 0o400)  # maxkeys of MaxScale 2.4 made it read-only
    assert len(secrets.load_key_file(path).key) == 32


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"encryption_cipher": "EVP_aes_128_cbc", "encryption_key": "00"}', "not supported"),
        (b'{"encryption_key": "00"}', "64 hex digits"),
        (b"[1, 2]", "JSON object"),
        (b"garbage", "neither"),
    ],
)
def test_bad_key_files(data: bytes, problem: str) -> None:
    with pytest.raises(SecretsError, match=problem):
        secrets.parse_key_file(data, "x/.secrets")


def test_key_dirs() -> None:
    assert secrets.key_dirs("/s", "/d") == ("/s",)
    assert secrets.key_dirs(None, "/d") == ("/d",)
    assert secrets.key_dirs(None, None) == ("/var/lib/interlock", "/var/lib/maxscale")


# -- the loader -----------------------------------------------------------------------------


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    secrets.write_key_file(str(tmp_path / "keys"))
    return tmp_path / "keys"


def encrypted(keydir: Path, password: str) -> str:
    return secrets.load_key_file(str(keydir / ".secrets")).encrypt(password)


MONITOR = """\
[mon]
type=monitor
module=mariadbmon
servers=server1
user=mon
password={mon}
replication_user=repl
replication_password={repl}
"""


def test_loader_decrypts_every_password_field(keydir: Path, cnf: Callable[[str], Config]) -> None:
    text = BASE.replace("threads=auto", "threads=auto\ndatadir=keys").replace(
        "password=maxscale", f"password={encrypted(keydir, 'svc-pw')}"
    ) + MONITOR.format(mon=encrypted(keydir, "mon-pw"), repl=encrypted(keydir, "repl-pw"))
    config = cnf(text)
    assert config.services["Read-Write-Service"].password == "svc-pw"
    assert config.monitors["mon"].password == "mon-pw"
    assert config.monitors["mon"].mariadbmon.replication_password == "repl-pw"
    assert not [w for w in config.warnings if "datadir" in w]


def test_secretsdir_wins_and_plain_values_stay_plain(
    keydir: Path, cnf: Callable[[str], Config]
) -> None:
    text = BASE.replace(
        "threads=auto", "threads=auto\ndatadir=/nonexistent\nsecretsdir=keys"
    ) + MONITOR.format(mon=encrypted(keydir, "mon-pw"), repl="DEADBEEF")
    config = cnf(text)
    assert config.monitors["mon"].password == "mon-pw"
    assert config.monitors["mon"].mariadbmon.replication_password == "DEADBEEF"  # too short
    assert config.services["Read-Write-Service"].password == "maxscale"


def test_a_value_that_looks_encrypted_but_does_not_decrypt_is_an_error(
    keydir: Path, errors: Callable[[str], list[str]]
) -> None:
    bad = "00" * 32
    text = BASE.replace("threads=auto", "threads=auto\ndatadir=keys").replace(
        "password=maxscale", f"password={bad}"
    )
    assert errors(text) == [
        f"interlock.cnf:13: [Read-Write-Service] the value of 'password' looks encrypted but "
        f"does not decrypt: it does not decrypt with the key in {keydir}/.secrets"
    ]


def test_without_a_key_file_an_encrypted_looking_value_is_plain_with_a_warning(
    tmp_path: Path, cnf: Callable[[str], Config]
) -> None:
    value = SecretKey(KEY, "x").encrypt("pw")
    text = BASE.replace("threads=auto", "threads=auto\ndatadir=nokeys").replace(
        "password=maxscale", f"password={value}"
    )
    config = cnf(text)
    assert config.services["Read-Write-Service"].password == value
    assert config.warnings == (
        f"interlock.cnf:13: [Read-Write-Service] the value of 'password' looks like an "
        f"encrypted password but there is no key file ({tmp_path}/nokeys/.secrets); it is "
        "used as plain text",
    )


def test_an_unusable_key_file_is_an_error(keydir: Path, errors: Callable[[str], list[str]]) -> None:
    value = encrypted(keydir, "x")
    os.chmod(keydir / ".secrets", 0o640)
    text = BASE.replace("threads=auto", "threads=auto\ndatadir=keys").replace(
        "password=maxscale", f"password={value}"
    )
    (message,) = errors(text)
    assert message.startswith("interlock.cnf: cannot decrypt the encrypted passwords: key file ")
    assert "chmod 600" in message


def test_a_legacy_key_file_decrypts_legacy_values(
    tmp_path: Path, cnf: Callable[[str], Config]
) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".secrets").write_bytes(KEY + IV)
    os.chmod(tmp_path / "old" / ".secrets", 0o400)
    value = openssl_encrypt(KEY, IV, b"svc-pw").hex().upper()
    text = BASE.replace("threads=auto", "threads=auto\ndatadir=old").replace(
        "password=maxscale", f"password={value}"
    )
    assert cnf(text).services["Read-Write-Service"].password == "svc-pw"


def test_a_bad_value_is_reported_with_every_other_error(
    keydir: Path, errors: Callable[[str], list[str]]
) -> None:
    text = (
        BASE.replace("threads=auto", "threads=auto\ndatadir=keys")
        .replace("password=maxscale", f"password={'AB' * 40}")
        .replace("port=4006", "port=0")
    )
    found = errors(text)
    assert len(found) == 2
    assert found[0].startswith("interlock.cnf:13: [Read-Write-Service] the value of 'password'")
    assert found[0].endswith("the ciphertext is not a whole number of 16-byte blocks")
    assert found[1].startswith("interlock.cnf:17: [Read-Write-Listener] invalid value for 'port'")


# -- the commands ---------------------------------------------------------------------------


def test_keys_and_passwd_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "lib"
    assert main(["keys", str(directory)]) == 0
    assert capsys.readouterr().out == f"Wrote {directory}/.secrets\n"
    assert main(["keys", str(directory)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["passwd", "--dir", str(directory), "s3cret"]) == 0
    value = capsys.readouterr().out.strip()
    key = secrets.load_key_file(str(directory / ".secrets"))
    assert key.decrypt(value) == "s3cret"
    assert value == value.upper() and len(value) == 64


def test_commands_take_the_directory_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "interlock.cnf"
    config.write_text(BASE.replace("threads=auto", "threads=auto\ndatadir=state"))
    assert main(["keys", "-c", str(config)]) == 0
    assert (tmp_path / "state" / ".secrets").exists()
    capsys.readouterr()
    assert main(["passwd", "-c", str(config), "pw"]) == 0
    value = capsys.readouterr().out.strip()
    assert secrets.load_key_file(str(tmp_path / "state" / ".secrets")).decrypt(value) == "pw"


def test_passwd_without_a_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["passwd", "-d", str(tmp_path), "pw"]) == 1
    assert capsys.readouterr().err == (
        f"interlock passwd: no key file {tmp_path}/.secrets; create one with "
        f"'interlock keys {tmp_path}'\n"
    )
