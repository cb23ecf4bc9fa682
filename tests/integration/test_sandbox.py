"""The sandbox against real mariadbd: replication, settings, accounts, TLS, config, lifecycle."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest

from interlock.errors import SandboxError
from interlock.sandbox import ConnParams, Role, Sandbox
from interlock.sandbox.ports import find_free_block, find_free_port
from interlock.sandbox.proxy import ProxyHandle, read_first_packet

pytestmark = pytest.mark.integration

ER_TABLEACCESS_DENIED = 1142
ER_DBACCESS_DENIED = 1044
ER_OPTION_PREVENTS_STATEMENT = 1290


def one(sb: Sandbox, name: str, sql: str) -> str:
    rows = sb.sql(name, sql)
    assert len(rows) == 1, rows
    return next(iter(rows[0].values()))


def write_and_sync(sb: Sandbox, table: str, value: str) -> None:
    """Insert ``value`` on the primary and wait (by GTID) until every replica applied it."""
    sb.sql(sb.primary.name, f"CREATE TABLE IF NOT EXISTS test.{table} (v VARCHAR(64))")
    sb.sql(sb.primary.name, f"INSERT INTO test.{table} VALUES ('{value}')")
    gtid = one(sb, sb.primary.name, "SELECT @@GLOBAL.gtid_binlog_pos")
    for replica in sb.replicas:
        assert one(sb, replica.name, f"SELECT MASTER_GTID_WAIT('{gtid}', 30)") == "0"


def count_rows(sb: Sandbox, name: str, table: str, value: str) -> int:
    return int(one(sb, name, f"SELECT COUNT(*) FROM test.{table} WHERE v='{value}'"))


# -- the session sandbox --------------------------------------------------------------------


def test_primary_and_two_replicas(sandbox: Sandbox) -> None:
    assert [s.name for s in sandbox.servers] == ["server1", "server2", "server3"]
    assert sandbox.primary.name == "server1"
    assert [s.server_id for s in sandbox.servers] == [1, 2, 3]
    for server in sandbox.servers:
        assert sandbox.is_running(server)
        assert server.pid is not None
        assert server.datadir.is_dir()
        assert one(sandbox, server.name, "SELECT @@server_id") == str(server.server_id)
        assert one(sandbox, server.name, "SELECT @@port") == str(server.port)
        assert one(sandbox, server.name, "SELECT @@bind_address") == "127.0.0.1"


def test_row_written_on_primary_appears_on_replicas(sandbox: Sandbox) -> None:
    token = os.urandom(6).hex()
    write_and_sync(sandbox, "replication_check", token)
    for server in sandbox.servers:
        assert count_rows(sandbox, server.name, "replication_check", token) == 1


def test_replicas_replicate_from_primary_with_gtid(sandbox: Sandbox) -> None:
    assert sandbox.sql(sandbox.primary.name, "SHOW SLAVE STATUS") == []
    for replica in sandbox.replicas:
        (status,) = sandbox.sql(replica.name, "SHOW SLAVE STATUS")
        assert status["Slave_IO_Running"] == "Yes"
        assert status["Slave_SQL_Running"] == "Yes"
        assert status["Using_Gtid"] == "Slave_Pos"
        assert status["Master_Host"] == "127.0.0.1"
        assert status["Master_Port"] == str(sandbox.primary.port)
        assert status["Master_User"] == sandbox.repl_user


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("gtid_strict_mode", "1"),
        ("log_bin", "1"),
        ("log_slave_updates", "1"),
        ("binlog_format", "ROW"),
        ("max_connections", "1000"),
        ("local_infile", "1"),
        ("skip_name_resolve", "1"),
        ("performance_schema", "0"),
        ("innodb_flush_log_at_trx_commit", "2"),
        ("sync_binlog", "0"),
        ("max_allowed_packet", str(64 * 1024 * 1024)),
        ("have_ssl", "YES"),
    ],
)
def test_server_settings(sandbox: Sandbox, variable: str, expected: str) -> None:
    for server in sandbox.servers:
        assert one(sandbox, server.name, f"SELECT @@GLOBAL.{variable}") == expected, server.name


def test_only_replicas_are_read_only(sandbox: Sandbox) -> None:
    assert one(sandbox, sandbox.primary.name, "SELECT @@GLOBAL.read_only") == "0"
    for replica in sandbox.replicas:
        assert one(sandbox, replica.name, "SELECT @@GLOBAL.read_only") == "1"
        conn = sandbox.connect(replica.name, role=Role.APP, database="test")
        try:
            with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("CREATE TABLE read_only_check (i INT)")
            assert err.value.args[0] == ER_OPTION_PREVENTS_STATEMENT
        finally:
            conn.close()


# -- accounts --------------------------------------------------------------------------------


def test_accounts_exist_everywhere_with_native_password(sandbox: Sandbox) -> None:
    expected = {
        ("app", "%"),
        ("monitor", "%"),
        ("repl", "%"),
        ("interlock", "%"),
        ("sandbox_admin", "127.0.0.1"),
        ("sandbox_admin", "localhost"),
    }
    for server in sandbox.servers:
        rows = sandbox.sql(server.name, "SELECT User, Host, plugin FROM mysql.user")
        accounts = {(r["User"], r["Host"]): r["plugin"] for r in rows}
        assert expected <= set(accounts), server.name
        assert {accounts[key] for key in expected} == {"mysql_native_password"}
        # root only on the unix socket: no passwordless root over TCP
        assert [host for user, host in accounts if user == "root"] == ["localhost"]


def test_app_user_is_narrow(sandbox: Sandbox) -> None:
    conn = sandbox.connect(role=Role.APP, database="app")
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS app_grant_check (i INT)")
            cur.execute("INSERT INTO app_grant_check VALUES (1)")
            cur.execute("DROP TABLE app_grant_check")
            cur.execute("CREATE TABLE IF NOT EXISTS test.app_grant_check (i INT)")
            cur.execute("DROP TABLE test.app_grant_check")
            cur.execute("SHOW DATABASES")
            assert {row[0] for row in cur.fetchall()} == {"app", "test", "information_schema"}
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("SELECT * FROM mysql.user")
            assert err.value.args[0] == ER_TABLEACCESS_DENIED
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("CREATE DATABASE app_should_not")
            assert err.value.args[0] == ER_DBACCESS_DENIED
    finally:
        conn.close()


def test_service_user_reads_accounts(sandbox: Sandbox) -> None:
    conn = sandbox.connect(role=Role.SERVICE)
    try:
        with conn.cursor() as cur:
            for table in (
                "user",
                "global_priv",
                "db",
                "tables_priv",
                "columns_priv",
                "procs_priv",
                "proxies_priv",
                "roles_mapping",
            ):
                cur.execute(f"SELECT COUNT(*) FROM mysql.{table}")
            cur.execute("SELECT COUNT(*) FROM mysql.global_priv WHERE User='app'")
            assert cur.fetchone() == (1,)
            cur.execute("SHOW DATABASES")
            assert {"app", "test", "mysql"} <= {row[0] for row in cur.fetchall()}
            with pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute("CREATE TABLE test.service_should_not (i INT)")
            assert err.value.args[0] in (ER_TABLEACCESS_DENIED, ER_DBACCESS_DENIED)
    finally:
        conn.close()


def grants_of(sandbox: Sandbox, user: str, host: str = "%") -> str:
    rows = sandbox.sql(sandbox.primary.name, f"SHOW GRANTS FOR '{user}'@'{host}'")
    return "\n".join(next(iter(row.values())) for row in rows)


def test_monitor_and_replication_grants(sandbox: Sandbox) -> None:
    monitor = grants_of(sandbox, "monitor")
    for privilege in (
        "SLAVE MONITOR",
        "BINLOG MONITOR",
        "SUPER",
        "RELOAD",
        "PROCESS",
        "SHOW DATABASES",
        "EVENT",
        "READ_ONLY ADMIN",
        "REPLICATION SLAVE ADMIN",
        "BINLOG ADMIN",
        "CONNECTION ADMIN",
        "SET USER",
    ):
        assert privilege in monitor
    assert "SELECT ON `mysql`.`global_priv`" in monitor
    repl = grants_of(sandbox, "repl")
    assert "GRANT REPLICATION SLAVE ON *.*" in repl
    assert "SUPER" not in repl
    admin = grants_of(sandbox, "sandbox_admin", "127.0.0.1")
    assert "GRANT ALL PRIVILEGES ON *.*" in admin and "WITH GRANT OPTION" in admin


def test_monitor_can_watch_replication(sandbox: Sandbox) -> None:
    conn = sandbox.connect(sandbox.replicas[0].name, role=Role.MONITOR)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SHOW ALL SLAVES STATUS")
            (status,) = cur.fetchall()
            assert status["Slave_SQL_Running"] == "Yes"
            cur.execute("SELECT @@gtid_current_pos, @@gtid_binlog_pos, @@read_only")
    finally:
        conn.close()


# -- TLS --------------------------------------------------------------------------------------


def test_servers_speak_tls_with_the_generated_certificate(sandbox: Sandbox) -> None:
    context = ssl.create_default_context(cafile=str(sandbox.tls_ca))  # verifies name + chain
    for server in sandbox.servers:
        conn = pymysql.connect(**sandbox.params(server.name).pymysql_kwargs(), ssl=context)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                _, cipher = cur.fetchone()
                assert cipher
        finally:
            conn.close()
    assert sandbox.tls_cert.is_file() and sandbox.tls_key.is_file()
    assert oct(sandbox.tls_key.stat().st_mode & 0o777) == "0o600"


# -- the generated Interlock config -----------------------------------------------------------


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_config_file_describes_the_cluster(sandbox: Sandbox) -> None:
    cfg = parse(sandbox.config_path.read_text())
    assert cfg.sections() == [
        "maxscale",
        "server1",
        "server2",
        "server3",
        "Replication-Monitor",
        "Read-Write-Service",
        "Read-Write-Listener",
    ]
    for server in sandbox.servers:
        assert dict(cfg[server.name]) == {
            "type": "server",
            "address": "127.0.0.1",
            "port": str(server.port),
            "protocol": "MariaDBBackend",
        }
    service = cfg["Read-Write-Service"]
    assert service["servers"] == "server1,server2,server3"
    assert (service["user"], service["password"]) == (
        sandbox.service_user,
        sandbox.service_password,
    )
    monitor = cfg["Replication-Monitor"]
    assert (monitor["module"], monitor["user"]) == ("mariadbmon", sandbox.monitor_user)
    listener = cfg["Read-Write-Listener"]
    assert listener["port"] == str(sandbox.proxy_port)
    assert listener["ssl"] == "true"
    assert Path(listener["ssl_cert"]) == sandbox.tls_cert
    assert Path(listener["ssl_ca"]) == sandbox.tls_ca


def test_config_loads_with_interlocks_own_loader(sandbox: Sandbox) -> None:
    from interlock.config.loader import load_config

    load_config(sandbox.config_path)
    variant = sandbox.config_path.with_name("variant.cnf")
    variant.write_text(sandbox.render_config(listener_port=find_free_port(), tls=False))
    load_config(variant)


def test_config_variants(sandbox: Sandbox) -> None:
    cfg = parse(
        sandbox.render_config(
            listener_port=14599,
            tls=False,
            overrides={"server1": {"port": "1"}, "Replication-Monitor": None},
        )
    )
    assert cfg["Read-Write-Listener"]["port"] == "14599"
    assert "ssl" not in cfg["Read-Write-Listener"]
    assert cfg["server1"]["port"] == "1"
    assert "Replication-Monitor" not in cfg


# -- lifecycle (own clusters) -----------------------------------------------------------------


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    base = find_free_block(3)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 1))
        blocker.listen()
        sb = Sandbox.create(tmp_path / "sb", base_port=base, proxy_port=find_free_port())
        with pytest.raises(SandboxError) as err:
            sb.up()
    message = str(err.value)
    assert f"port {base + 1}" in message and "--base-port" in message
    assert not list(tmp_path.glob("sb/server*/data"))  # nothing was initialised


def test_down_then_up_keeps_data(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(replicas=1)
    token = os.urandom(6).hex()
    write_and_sync(sb, "kept", token)
    sb.down()
    assert not any(sb.is_running(server) for server in sb.servers)
    assert all(status.pid is None for status in sb.status())
    again = Sandbox.open(sb.dir, die_with_parent=True).up()
    for server in again.servers:
        assert count_rows(again, server.name, "kept", token) == 1
    newer = os.urandom(6).hex()
    write_and_sync(again, "kept", newer)
    assert count_rows(again, again.replicas[0].name, "kept", newer) == 1


def test_killed_replica_catches_up_after_start(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(replicas=1)
    replica = sb.replicas[0]
    sb.kill(replica.name, signal.SIGKILL)
    assert not sb.is_running(replica)
    token = os.urandom(6).hex()
    sb.sql(sb.primary.name, "CREATE TABLE test.while_down (v VARCHAR(64))")
    sb.sql(sb.primary.name, f"INSERT INTO test.while_down VALUES ('{token}')")
    sb.start(replica.name)
    write_and_sync(sb, "while_down", "after")
    assert count_rows(sb, replica.name, "while_down", token) == 1


def test_semi_sync_variant(fresh_sandbox: Callable[..., Sandbox]) -> None:
    sb = fresh_sandbox(replicas=1, semi_sync=True)
    primary, replica = sb.primary.name, sb.replicas[0].name
    assert one(sb, primary, "SELECT @@GLOBAL.rpl_semi_sync_master_enabled") == "1"
    assert one(sb, replica, "SELECT @@GLOBAL.rpl_semi_sync_slave_enabled") == "1"
    assert one(sb, replica, "SELECT @@GLOBAL.rpl_semi_sync_master_enabled") == "0"

    def status(name: str, variable: str) -> str:
        (row,) = sb.sql(name, f"SHOW GLOBAL STATUS LIKE '{variable}'")
        return row["Value"]

    assert status(primary, "Rpl_semi_sync_master_status") == "ON"
    assert status(primary, "Rpl_semi_sync_master_clients") == "1"
    assert status(replica, "Rpl_semi_sync_slave_status") == "ON"
    acked = int(status(primary, "Rpl_semi_sync_master_yes_tx"))
    write_and_sync(sb, "semi", "acked")
    assert int(status(primary, "Rpl_semi_sync_master_yes_tx")) > acked
    assert status(primary, "Rpl_semi_sync_master_no_tx") == "0"


def test_server_that_fails_to_start_shows_its_error_log(
    fresh_sandbox: Callable[..., Sandbox],
) -> None:
    sb = fresh_sandbox(replicas=0)
    sb.down()
    shutil.rmtree(sb.primary.datadir / "mysql")  # no privilege tables: mariadbd aborts
    with pytest.raises(SandboxError) as err:
        Sandbox.open(sb.dir, die_with_parent=True).up(timeout=30)
    message = str(err.value)
    assert "server1" in message and "failed to start" in message
    assert "[ERROR]" in message  # the tail of the server's own error log


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_cli_up_status_down_destroy(tmp_path: Path) -> None:
    directory = tmp_path / "cli"
    base, proxy_port = find_free_block(2), find_free_port()
    common = ("--dir", str(directory))
    try:
        up = run_cli(
            "up",
            *common,
            "--replicas",
            "1",
            "--base-port",
            str(base),
            "--proxy-port",
            str(proxy_port),
        )
        assert up.returncode == 0, up.stderr
        assert f"mariadb -h127.0.0.1 -P{proxy_port} -uapp -papp-secret app" in up.stdout
        assert (directory / "interlock.cnf").is_file()
        status = run_cli("status", *common)
        assert status.returncode == 0, status.stderr
        assert "IO=Yes SQL=Yes" in status.stdout
        again = run_cli("up", *common)  # idempotent on a running sandbox
        assert again.returncode == 0, again.stderr
        other = run_cli("up", *common, "--replicas", "3")
        assert other.returncode == 1 and "already holds a sandbox" in other.stderr
        down = run_cli("down", *common)
        assert down.returncode == 0, down.stderr
        stopped = run_cli("status", *common)
        assert stopped.returncode == 3 and "stopped" in stopped.stdout
        assert (directory / "server1" / "data").is_dir()
        destroy = run_cli("destroy", *common)
        assert destroy.returncode == 0, destroy.stderr
        assert not directory.exists()
    finally:
        if directory.exists():
            Sandbox.open(directory).destroy()


# -- the proxy fixtures -------------------------------------------------------------------------


def test_first_packet_of_a_real_server_is_a_handshake(sandbox: Sandbox) -> None:
    packet = read_first_packet(sandbox.primary.host, sandbox.primary.port)
    assert packet[0] == 0x0A
    assert b"MariaDB" in packet


def test_proxy_fixture_is_ready(proxy: ProxyHandle, sandbox: Sandbox) -> None:
    assert proxy.running()
    assert proxy.pid == proxy.process.pid
    assert proxy.first_packet[0] == 0x0A
    assert proxy.log_path is not None and proxy.log_path.is_file()
    assert proxy.port not in {server.port for server in sandbox.servers}


def test_proxy_params_reach_the_primary(
    proxy_params: ConnParams, direct_params: ConnParams, sandbox: Sandbox
) -> None:
    assert (proxy_params.user, proxy_params.database) == (direct_params.user, "app")
    assert direct_params.port == sandbox.primary.port
    conn = pymysql.connect(**proxy_params.pymysql_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@port, DATABASE(), CURRENT_USER()")
            assert cur.fetchone() == (sandbox.primary.port, "app", "app@%")
    finally:
        conn.close()


def test_start_proxy_variants(
    start_proxy: Callable[..., ProxyHandle],
    sandbox: Sandbox,
    free_port: Callable[[], int],
) -> None:
    plain = start_proxy(tls=False)
    assert plain.running() and plain.first_packet[0] == 0x0A
    assert "ssl" not in parse(plain.config_path.read_text())["Read-Write-Listener"]
    port = free_port()
    text = sandbox.render_config(listener_port=port, tls=False)
    from_text = start_proxy(text)
    assert (from_text.port, from_text.config_path.read_text()) == (port, text)
    from_text.stop()
    assert not from_text.running()
