"""SandboxSpec: the servers it derives, its JSON form, its validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.errors import SandboxError
from interlock.sandbox import Role, SandboxSpec
from interlock.sandbox.model import DEFAULT_ACCOUNTS


def test_servers_follow_the_base_port(tmp_path: Path) -> None:
    spec = SandboxSpec(tmp_path, replicas=3, base_port=13500)
    servers = spec.servers
    assert [s.name for s in servers] == ["server1", "server2", "server3", "server4"]
    assert [s.port for s in servers] == [13500, 13501, 13502, 13503]
    assert [s.server_id for s in servers] == [1, 2, 3, 4]
    assert [s.is_primary for s in servers] == [True, False, False, False]
    assert servers[1].datadir == tmp_path / "server2" / "data"
    assert servers[1].socket == tmp_path / "server2" / "mariadbd.sock"
    assert {s.host for s in servers} == {"127.0.0.1"}


def test_pid_comes_from_the_pid_file(tmp_path: Path) -> None:
    server = SandboxSpec(tmp_path).servers[0]
    assert server.pid is None
    server.directory.mkdir()
    server.pid_file.write_text("4242\n")
    assert server.pid == 4242
    server.pid_file.write_text("garbage")
    assert server.pid is None


def test_json_round_trip(tmp_path: Path) -> None:
    spec = SandboxSpec(tmp_path, replicas=1, base_port=20000, proxy_port=20010, semi_sync=True)
    again, initialized = SandboxSpec.from_json(tmp_path, spec.to_json(initialized=True))
    assert again == spec
    assert initialized is True


def test_broken_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"sandbox\.json"):
        SandboxSpec.from_json(tmp_path, '{"replicas": 2}')


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicas": -1}, "--replicas"),
        ({"base_port": 0}, "--base-port"),
        ({"base_port": 65535, "replicas": 2}, "--base-port"),
        ({"proxy_port": 70000}, "--proxy-port"),
    ],
)
def test_invalid_settings(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        SandboxSpec(tmp_path, **kwargs)


def test_one_account_per_role_with_fixed_passwords(tmp_path: Path) -> None:
    spec = SandboxSpec(tmp_path)
    assert sorted(a.role for a in DEFAULT_ACCOUNTS) == sorted(Role)
    app = spec.account(Role.APP)
    assert (app.user, app.password, app.hosts) == ("app", "app-secret", ("%",))
    assert spec.account(Role.ADMIN).hosts == ("127.0.0.1", "localhost")
    assert spec.account(Role.REPLICATION).grants == ("REPLICATION SLAVE ON *.*",)
