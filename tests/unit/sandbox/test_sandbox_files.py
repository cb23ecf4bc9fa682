"""What the sandbox writes: my.cnf, the Interlock config, account SQL, connection parameters."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from interlock.sandbox import ConnParams, Role, Sandbox, SandboxSpec, accounts, mycnf
from interlock.sandbox.model import Account
from interlock.sandbox.tls import TlsFiles


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


@pytest.fixture
def spec(tmp_path: Path) -> SandboxSpec:
    return SandboxSpec(tmp_path, replicas=2, base_port=13500, proxy_port=14500)


def test_mycnf_of_primary_and_replica(spec: SandboxSpec) -> None:
    files = TlsFiles.in_dir(spec.directory / "tls")
    primary = parse(mycnf.render(spec, spec.servers[0], files))["mariadbd"]
    replica = parse(mycnf.render(spec, spec.servers[1], files))["mariadbd"]
    assert primary["port"] == "13500" and replica["port"] == "13501"
    assert primary["server_id"] == "1" and replica["server_id"] == "2"
    assert primary["bind_address"] == "127.0.0.1"
    assert "read_only" not in primary and replica["read_only"] == "1"
    for key, value in {
        "gtid_strict_mode": "1",
        "log_slave_updates": "1",
        "binlog_format": "ROW",
        "max_connections": "1000",
    }.items():
        assert primary[key] == value == replica[key]
    assert primary["ssl_ca"] == str(files.ca)
    assert primary["datadir"] == str(spec.servers[0].datadir)
    assert "rpl_semi_sync_master_enabled" not in primary


def test_mycnf_semi_sync(tmp_path: Path) -> None:
    spec = SandboxSpec(tmp_path, replicas=1, semi_sync=True)
    files = TlsFiles.in_dir(tmp_path)
    primary = parse(mycnf.render(spec, spec.servers[0], files))["mariadbd"]
    replica = parse(mycnf.render(spec, spec.servers[1], files))["mariadbd"]
    assert primary["rpl_semi_sync_master_enabled"] == "1"
    assert primary["rpl_semi_sync_master_wait_point"] == "AFTER_SYNC"
    assert primary["rpl_semi_sync_slave_enabled"] == "1"  # acks once demoted
    assert primary["init_rpl_role"] == replica["init_rpl_role"] == "SLAVE"  # crash recovery
    assert replica["rpl_semi_sync_slave_enabled"] == "1"
    assert "rpl_semi_sync_master_enabled" not in replica


def test_interlock_config_shape(spec: SandboxSpec) -> None:
    sb = Sandbox(spec)
    cfg = parse(sb.render_config())
    assert cfg["maxscale"]["threads"] == "auto"
    assert [cfg[f"server{i}"]["port"] for i in (1, 2, 3)] == ["13500", "13501", "13502"]
    assert cfg["Read-Write-Service"]["router"] == "readwritesplit"
    assert cfg["Read-Write-Service"]["servers"] == "server1,server2,server3"
    assert cfg["Read-Write-Listener"]["service"] == "Read-Write-Service"
    assert cfg["Read-Write-Listener"]["port"] == "14500"
    assert cfg["Read-Write-Listener"]["ssl_key"] == str(spec.directory / "tls/server-key.pem")
    assert cfg["Replication-Monitor"]["monitor_interval"] == "2s"


def test_interlock_config_variants(spec: SandboxSpec) -> None:
    sb = Sandbox(spec)
    cfg = parse(
        sb.render_config(
            listener_port=14599,
            tls=False,
            overrides={
                "server2": None,
                "Read-Write-Service": {"servers": "server1", "user": None},
                "Extra": {"type": "server"},
            },
        )
    )
    listener = cfg["Read-Write-Listener"]
    assert listener["port"] == "14599"
    assert not {"ssl", "ssl_cert", "ssl_key", "ssl_ca"} & set(listener)
    assert "server2" not in cfg
    assert cfg["Read-Write-Service"]["servers"] == "server1"
    assert "user" not in cfg["Read-Write-Service"]
    assert cfg["Extra"]["type"] == "server"


def test_account_sql_quotes_and_grant_option() -> None:
    account = Account(
        Role.ADMIN,
        "o'neil",
        "p'w\\x",
        ("127.0.0.1", "localhost"),
        ("ALL PRIVILEGES ON *.* WITH GRANT OPTION",),
    )
    assert accounts.account_sql(account) == [
        "CREATE USER 'o\\'neil'@'127.0.0.1' IDENTIFIED BY 'p\\'w\\\\x'",
        "GRANT ALL PRIVILEGES ON *.* TO 'o\\'neil'@'127.0.0.1' WITH GRANT OPTION",
        "CREATE USER 'o\\'neil'@'localhost' IDENTIFIED BY 'p\\'w\\\\x'",
        "GRANT ALL PRIVILEGES ON *.* TO 'o\\'neil'@'localhost' WITH GRANT OPTION",
    ]


def test_schema_sql_creates_app_and_test() -> None:
    sql = " ".join(accounts.schema_sql())
    assert "CREATE DATABASE IF NOT EXISTS `app`" in sql
    assert "CREATE DATABASE IF NOT EXISTS `test`" in sql


def test_conn_params_shapes() -> None:
    params = ConnParams("127.0.0.1", 4006, "app", "app-secret", "app")
    assert params.command_line() == "mariadb -h127.0.0.1 -P4006 -uapp -papp-secret app"
    assert params.pymysql_kwargs() == {
        "host": "127.0.0.1",
        "port": 4006,
        "user": "app",
        "password": "app-secret",
        "database": "app",
    }
    assert params.cli_args()[-1] == "app" and "--port=4006" in params.cli_args()
    assert params.url() == "mysql+pymysql://app:app-secret@127.0.0.1:4006/app"
    assert "database" not in params.with_(database=None).pymysql_kwargs()


def test_sandbox_params(spec: SandboxSpec) -> None:
    sb = Sandbox(spec)
    assert sb.params() == ConnParams("127.0.0.1", 13500, "app", "app-secret", "app")
    assert sb.params("server3", Role.ADMIN, None) == ConnParams(
        "127.0.0.1", 13502, "sandbox_admin", "sandbox-admin-secret", None
    )
    assert sb.proxy_params().port == 14500
    assert (sb.service_user, sb.monitor_user, sb.repl_user) == ("interlock", "monitor", "repl")
