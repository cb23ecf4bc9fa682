"""Encrypted passwords end to end: `interlock keys` / `interlock passwd` as commands, a proxy
whose service, monitor and replication passwords are all encrypted, logging in to the
sandbox's real servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pymysql
import pytest
from tests.conftest import ProxyFactory

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_port

pytestmark = pytest.mark.integration


def interlock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock", *args], capture_output=True, text=True, timeout=60
    )


def encrypt(keydir: Path, password: str) -> str:
    run = interlock("passwd", "--dir", str(keydir), password)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    run = interlock("keys", str(tmp_path / "state"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "state" / ".secrets").stat().st_mode & 0o777 == 0o600
    return tmp_path / "state"


def encrypted_overrides(sandbox: Sandbox, keydir: Path) -> dict[str, dict[str, str | None]]:
    service = sandbox.spec.account(Role.SERVICE)
    monitor = sandbox.spec.account(Role.MONITOR)
    repl = sandbox.spec.account(Role.REPLICATION)
    return {
        "maxscale": {"datadir": str(keydir)},
        SERVICE: {"router": "readconnroute", "router_options": "master",
                  "password": encrypt(keydir, service.password)},
        MONITOR: {"password": encrypt(keydir, monitor.password),
                  "replication_password": encrypt(keydir, repl.password)},
    }  # fmt: skip


def test_the_proxy_uses_encrypted_passwords(
    sandbox: Sandbox, start_proxy: ProxyFactory, keydir: Path
) -> None:
    overrides = encrypted_overrides(sandbox, keydir)
    assert overrides[SERVICE]["password"] != sandbox.spec.account(Role.SERVICE).password
    proxy = start_proxy(overrides, tls=False)
    params = sandbox.proxy_params(port=proxy.port).with_(host=proxy.host)
    with pymysql.connect(**params.pymysql_kwargs()) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        (user,) = cur.fetchone()
    assert user.startswith(f"{params.user}@")
    text = proxy.log_text()
    assert "Access denied" not in text, text
    assert "encrypted password but there is no key file" not in text
    assert f"Monitor '{MONITOR}' started" in text


def test_without_the_key_the_encrypted_value_is_a_wrong_password(
    sandbox: Sandbox, start_proxy: ProxyFactory, keydir: Path, tmp_path: Path
) -> None:
    overrides = encrypted_overrides(sandbox, keydir)
    overrides["maxscale"]["datadir"] = str(tmp_path / "empty")
    proxy = start_proxy(overrides, tls=False, require_handshake=False)
    params = sandbox.proxy_params(port=proxy.port).with_(host=proxy.host)
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(**params.pymysql_kwargs(), connect_timeout=10).close()
    text = proxy.log_text()
    assert (
        f"[{SERVICE}] the value of 'password' looks like an encrypted password but there is no "
        f"key file ({tmp_path}/empty/.secrets); it is used as plain text"
    ) in text


def test_a_value_encrypted_with_another_key_stops_the_start(
    sandbox: Sandbox, keydir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    assert interlock("keys", str(other)).returncode == 0
    overrides = encrypted_overrides(sandbox, keydir)
    overrides[SERVICE]["password"] = encrypt(other, "whatever")
    config = tmp_path / "interlock.cnf"
    config.write_text(
        sandbox.render_config(listener_port=find_free_port(), tls=False, overrides=overrides)
    )
    line = config.read_text().splitlines().index(f"password={overrides[SERVICE]['password']}") + 1
    for command in ("check", "start"):
        run = interlock(command, "-c", str(config))
        assert run.returncode == 1
        assert (
            f"{config}:{line}: [{SERVICE}] the value of 'password' looks encrypted but does not"
            " decrypt: it " in run.stdout + run.stderr
        ), run.stdout + run.stderr
