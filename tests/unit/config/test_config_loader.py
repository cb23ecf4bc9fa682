"""Good configuration files: what the loader builds from them."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from config_helpers import BASE, DATA

from interlock.config.loader import load_config, parse_config
from interlock.config.model import (
    Config,
    GlobalConfig,
    ListenerConfig,
    MonitorConfig,
    ServerConfig,
    ServiceConfig,
    TlsConfig,
)

ISSUE_SAMPLE = """\
[maxscale]
threads=auto
[server1]
type=server
address=127.0.0.1
port=3306
protocol=MariaDBBackend
[Read-Write-Service]
type=service
router=readwritesplit
servers=server1
user=maxscale
password=maxscale
[Read-Write-Listener]
type=listener
service=Read-Write-Service
protocol=MariaDBClient
port=4006
"""


def test_issue_sample_verbatim(cnf: Callable[[str], Config]) -> None:
    assert (DATA / "issue2-sample.cnf").read_text() == ISSUE_SAMPLE
    config = cnf(ISSUE_SAMPLE)
    assert config == Config(
        path="interlock.cnf",
        global_=GlobalConfig(threads="auto"),
        servers={"server1": ServerConfig(name="server1", address="127.0.0.1", port=3306)},
        services={
            "Read-Write-Service": ServiceConfig(
                name="Read-Write-Service",
                router="readwritesplit",
                servers=("server1",),
                user="maxscale",
                password="maxscale",
            )
        },
        listeners={
            "Read-Write-Listener": ListenerConfig(
                name="Read-Write-Listener", service="Read-Write-Service", port=4006
            )
        },
        monitors={},
        warnings=(),
    )


def test_issue_sample_file_loads_by_absolute_path() -> None:
    config = parse_config(DATA / "issue2-sample.cnf")
    assert config.path == str(DATA / "issue2-sample.cnf")
    assert list(config.servers) == ["server1"]


def test_every_supported_parameter(cnf: Callable[[str], Config], tmp_path: Path) -> None:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / "tls").mkdir(exist_ok=True)
        (tmp_path / "tls" / name).write_text("PEM")
    config = cnf(
        """\
# a comment
; another comment
[maxscale]
threads = 4
logdir = logs
log_file = /var/log/interlock.log
users_refresh_time = -1s
users_refresh_interval = 10m
admin_host = 127.0.0.2
admin_port = 8990

[primary]
type = server
address = db1.example
port = 3307
protocol = mariadb
ssl = on
ssl_cert = tls/cert.pem
ssl_key = tls/key.pem
ssl_ca_cert = tls/ca.pem
ssl_verify_peer_certificate = yes

[replica]
type=server
address=::1

[RW]
type=service
router=ReadWriteSplit
targets=primary, replica
user=svc
password=p#ss;word=x
backend_connect_timeout=1500ms
enable_root_user=1
version_string=10.11.0-Interlock

[RW-L]
type=listener
service=RW
protocol=MySQLClient
address=127.0.0.1
port=4006
ssl=true
ssl_cert=tls/cert.pem
ssl_key=./tls/key.pem
ssl_ca=tls/../tls/ca.pem
authenticator=mysqlauth

[Mon]
type=monitor
module=MariaDBMon
servers=primary,replica
user=mon
password=
monitor_interval=1h
"""
    )
    tls = str(tmp_path / "tls")
    assert config.global_ == GlobalConfig(
        threads="4",
        logdir=str(tmp_path / "logs"),
        log_file="/var/log/interlock.log",
        users_refresh_time=-1.0,
        users_refresh_interval=600.0,
        admin_host="127.0.0.2",
        admin_port=8990,
    )
    assert config.servers["primary"] == ServerConfig(
        name="primary",
        address="db1.example",
        port=3307,
        protocol="MariaDBBackend",
        tls=TlsConfig(True, f"{tls}/cert.pem", f"{tls}/key.pem", f"{tls}/ca.pem", True),
    )
    assert config.servers["replica"] == ServerConfig(name="replica", address="::1")
    assert config.services["RW"] == ServiceConfig(
        name="RW",
        router="readwritesplit",
        servers=("primary", "replica"),
        user="svc",
        password="p#ss;word=x",
        connect_timeout=1.5,
        enable_root_user=True,
        version_string="10.11.0-Interlock",
    )
    assert config.listeners["RW-L"] == ListenerConfig(
        name="RW-L",
        service="RW",
        port=4006,
        address="127.0.0.1",
        protocol="MariaDBClient",
        tls=TlsConfig(True, f"{tls}/cert.pem", f"{tls}/key.pem", f"{tls}/ca.pem"),
    )
    assert config.monitors["Mon"] == MonitorConfig(
        name="Mon",
        module="mariadbmon",
        servers=("primary", "replica"),
        user="mon",
        password="",
        monitor_interval=3600.0,
    )
    assert config.warnings == ()


def test_file_order_is_kept_and_the_first_server_is_first(cnf: Callable[[str], Config]) -> None:
    text = BASE.replace("servers=server1", "servers=server2,server1") + (
        "[server2]\ntype=server\naddress=10.0.0.2\n"
    )
    config = cnf(text)
    assert list(config.servers) == ["server1", "server2"]
    assert config.services["Read-Write-Service"].servers == ("server2", "server1")


def test_blank_lines_crlf_bom_and_indented_comments(cnf: Callable[[str], Config]) -> None:
    text = "\ufeff" + BASE.replace("\n", "\r\n").replace(
        "[server1]", "\r\n   # note\r\n\t; x\r\n[server1]"
    )
    config = cnf(text)
    assert config.servers["server1"].address == "127.0.0.1"


def test_section_without_maxscale_and_case_of_global(cnf: Callable[[str], Config]) -> None:
    without = BASE.replace("[maxscale]\nthreads=auto\n", "")
    assert cnf(without).global_ == GlobalConfig()
    upper = BASE.replace("[maxscale]\nthreads=auto", "[MaxScale]\nthreads=2")
    assert cnf(upper).global_.threads == "2"


def test_realworld_maxscale_cnf_loads_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "maxscale.cnf"
    shutil.copy(DATA / "realworld-maxscale.cnf", path)
    config = parse_config(path)
    assert list(config.servers) == ["db1", "db2", "db3"]
    assert config.servers["db3"] == ServerConfig(name="db3", address="10.0.0.13")
    assert config.services["Read-Only-Service"].router == "readconnroute"
    assert config.services["Splitter-Service"].servers == ("db1", "db2", "db3")
    assert config.listeners["Read-Only-Listener"].protocol == "MariaDBClient"
    assert config.global_.admin_host == "0.0.0.0"
    monitor = config.monitors["MariaDB-Monitor"]
    assert monitor.monitor_interval == 2.0
    assert monitor.password == "Mon#itor;pw"
    assert dict(monitor.params) == {"cooperative_monitoring_locks": "majority_of_running"}
    assert (monitor.connect_timeout, monitor.read_timeout) == (3.0, 3.0)
    mon = monitor.mariadbmon
    assert (mon.auto_failover, mon.auto_rejoin, mon.enforce_read_only_slaves) == (
        "true", True, True)
    assert (mon.replication_user, mon.replication_password, mon.failcount) == (
        "repl", "repl-pw", 3)
    assert mon.promotion_sql_file == str(tmp_path / "sql" / "promote.sql")
    assert dict(config.services["Read-Only-Service"].params) == {}
    assert config.services["Read-Only-Service"].connection_keepalive == 120.0
    assert (config.services["Splitter-Service"].connection_keepalive,
            config.services["Splitter-Service"].client_idle_timeout) == (300.0, 3600.0)
    assert config.services["Read-Only-Service"].routing.router_options == ("slave",)
    splitter = config.services["Splitter-Service"].routing
    assert (splitter.causal_reads, splitter.max_slave_connections,
            splitter.slave_selection_criteria) == ("local", "100%", "adaptive_routing")
    warned = {w.split("parameter '")[1].split("'")[0] for w in config.warnings}
    assert warned == {
        "admin_secure_gui", "query_classifier_cache_size", "persistpoolmax", "persistmaxtime",
        "rank", "cooperative_monitoring_locks", "max_connections",
    }  # fmt: skip
    assert len(config.warnings) == len(warned)  # one warning per parameter
    g = config.global_
    assert (g.log_info, g.log_warning, g.log_notice, g.syslog, g.maxlog, g.ms_timestamp) == (
        False, True, True, False, True, True)
    assert (
        f"{path}:80: [Splitter-Service] parameter 'max_connections' is accepted but "
        "ignored: Interlock does not implement it yet"
    ) in config.warnings


def test_load_config_logs_each_warning_once(
    cnf: Callable[[str], Config], caplog: pytest.LogCaptureFixture
) -> None:
    text = BASE.replace("password=maxscale\n", "password=maxscale\nmax_connections=5\n")
    cnf(text)  # writes the file
    logger = logging.getLogger("interlock")
    old = logger.propagate
    logger.propagate = True
    try:
        with caplog.at_level(logging.WARNING, logger="interlock"):
            config = load_config("interlock.cnf")
    finally:
        logger.propagate = old
    assert config.warnings == (
        "interlock.cnf:13: [Read-Write-Service] parameter 'max_connections' is accepted "
        "but ignored: Interlock does not implement it yet",
    )
    assert [r.getMessage() for r in caplog.records] == list(config.warnings)


def test_listener_socket_is_ignored_with_a_warning(cnf: Callable[[str], Config]) -> None:
    config = cnf(BASE + "socket=/tmp/interlock.sock\n")
    assert config.warnings == (
        "interlock.cnf:17: [Read-Write-Listener] parameter 'socket' is accepted but ignored: "
        "Interlock does not implement it yet; unix-socket listeners come later; "
        "the TCP port is used",
    )


def test_tls_files_without_ssl_warn(cnf: Callable[[str], Config]) -> None:
    config = cnf(BASE + "ssl_cert=cert.pem\n")
    assert config.listeners["Read-Write-Listener"].tls == TlsConfig(
        cert=os.path.join(os.getcwd(), "cert.pem")
    )
    assert config.warnings == (
        "interlock.cnf:17: [Read-Write-Listener] ssl_cert is set but ssl is not true: "
        "TLS is off for this listener",
    )


def test_same_port_on_different_addresses_is_fine(cnf: Callable[[str], Config]) -> None:
    text = BASE.replace("port=4006", "address=127.0.0.1\nport=4006") + (
        "[L2]\ntype=listener\nservice=Read-Write-Service\naddress=127.0.0.2\nport=4006\n"
    )
    assert set(cnf(text).listeners) == {"Read-Write-Listener", "L2"}


def test_an_alias_sets_its_parameter(cnf: Callable[[str], Config]) -> None:
    text = BASE.replace("[maxscale]\n", "[maxscale]\nadmin_ssl_ca_cert=/tmp/ca.pem\n")
    config = cnf(text)
    assert config.warnings == ()
    assert config.global_.admin_ssl_ca == "/tmp/ca.pem"


def test_an_alias_of_a_supported_parameter_sets_its_field(cnf: Callable[[str], Config]) -> None:
    text = BASE.replace("password=maxscale\n", "password=maxscale\nconnection_timeout=1h\n")
    config = cnf(text)
    assert config.warnings == ()
    assert config.services["Read-Write-Service"].client_idle_timeout == 3600.0
