"""``interlock ctl`` as a user runs it: the real command in a subprocess against a running
proxy's admin API, reading the generated admin password through ``-c FILE``.

The shared ``proxy`` (session) is only read, or changed and put back (drain, a user, a killed
session of our own); switchover, failover and rejoin run on a private cluster with its own
proxy, and each of those tests leaves server1 the primary again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest
from tests.integration.admin_support import AdminApi
from tests.integration.monitor_support import replication_errors

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR
from interlock.sandbox.model import Role
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

LIST_SERVERS_COLUMNS = ["Server", "Address", "Port", "Connections", "State", "GTID", "Monitor"]
FAST_MONITOR = {"monitor_interval": "200ms", "failcount": "2"}


def ctl(*argv: str, config: Path | None = None, timeout: float = 150.0
        ) -> subprocess.CompletedProcess[str]:
    """``interlock ctl [-c config] ARGV...`` in a subprocess."""
    command = [sys.executable, "-m", "interlock", "ctl"]
    if config is not None:
        command += ["-c", str(config)]
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)


def ok(*argv: str, config: Path | None = None) -> str:
    done = ctl(*argv, config=config)
    assert done.returncode == 0, f"ctl {' '.join(argv)}: {done.returncode} {done.stderr}"
    return done.stdout


def box_rows(text: str) -> list[list[str]]:
    """The cells of a box table, one list per text line with cells (header first)."""
    return [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in text.splitlines() if line.startswith("│")]


def states(config: Path) -> dict[str, str]:
    """Server -> State, from ``list servers --tsv``."""
    rows = [line.split("\t") for line in ok("list", "servers", "--tsv",
                                            config=config).splitlines()]
    return {row[0]: row[4] for row in rows}


def wait_states(config: Path, wanted: dict[str, str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    found = states(config)
    while any(found.get(k) != v for k, v in wanted.items()):
        assert time.monotonic() < deadline, f"wanted {wanted}, still {found}"
        time.sleep(0.2)
        found = states(config)


@pytest.fixture(scope="module")
def cfg(proxy: ProxyHandle) -> Path:
    return proxy.config_path


@pytest.fixture(scope="module")
def api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


# -- reading --------------------------------------------------------------------------------


def test_list_servers_prints_maxctrls_table(cfg: Path, sandbox: Sandbox) -> None:
    text = ok("list", "servers", config=cfg)
    lines = text.splitlines()
    assert lines[0].startswith("┌") and lines[2].startswith("├") and lines[-1].startswith("└")
    rows = box_rows(text)
    assert rows[0] == LIST_SERVERS_COLUMNS
    by_name = {row[0]: dict(zip(LIST_SERVERS_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert sorted(by_name) == [s.name for s in sandbox.servers]
    for server in sandbox.servers:
        row = by_name[server.name]
        assert (row["Address"], row["Port"]) == (server.host, str(server.port))
        assert row["Monitor"] == MONITOR
        assert row["GTID"].startswith("0-")
        assert row["Connections"].isdigit()
    primary = sandbox.primary.name
    assert by_name[primary]["State"] == "Master, Running"
    assert all(row["State"] == "Slave, Running" for name, row in by_name.items()
               if name != primary)


def test_json_is_the_apis_document_and_tsv_the_same_rows(cfg: Path, api: AdminApi) -> None:
    document = json.loads(ok("list", "servers", "--json", config=cfg))
    assert [s["id"] for s in document["data"]] == ["server1", "server2", "server3"]
    assert document["data"][0]["type"] == "servers"
    states_api = {s["id"]: s["attributes"]["state"] for s in api.get("/v1/servers").body["data"]}
    tsv = [line.split("\t") for line in ok("list", "servers", "--tsv",
                                           config=cfg).splitlines()]
    assert len(tsv) == 3 and all(len(row) == len(LIST_SERVERS_COLUMNS) for row in tsv)
    assert {row[0]: row[4] for row in tsv} == states_api  # no header line


def test_show_server_is_a_key_value_table(cfg: Path, sandbox: Sandbox) -> None:
    replica = sandbox.replicas[0]
    fields = {row[0]: row[1] for row in box_rows(ok("show", "server", replica.name,
                                                    config=cfg)) if row[0]}
    assert fields["Server"] == replica.name
    assert fields["Port"] == str(replica.port)
    assert fields["State"] == "Slave, Running"
    assert fields["Master"] == sandbox.primary.name
    assert fields["Read Only"] == "true"
    assert fields["Version"].startswith("10.")
    assert fields["Monitors"] == MONITOR


def test_the_other_lists(cfg: Path, proxy: ProxyHandle) -> None:
    services = box_rows(ok("list", "services", config=cfg))
    assert services[0] == ["Service", "Router", "Connections", "Total Connections", "Targets"]
    assert services[1][1] == "readconnroute"
    assert services[1][4] == "server1, server2, server3"
    listeners = box_rows(ok("list", "listeners", config=cfg))
    assert listeners[0] == ["Name", "Port", "Host", "State", "Service"]
    assert listeners[1][1:4] == [str(proxy.port), proxy.host, "Running"]
    monitors = [line.split("\t") for line in ok("list", "monitors", "--tsv",
                                                config=cfg).splitlines()]
    assert monitors == [[MONITOR, "Running", "server1, server2, server3", "-"]]
    users = box_rows(ok("list", "users", config=cfg))
    assert users[0] == ["Name", "Type", "Privileges"] and ["admin", "inet", "admin"] in users
    events = box_rows(ok("list", "events", "--last", "3", config=cfg))
    assert events[0][:5] == ["Id", "Time", "Monitor", "Server", "Kind"]
    assert 1 < len(events) <= 4
    maxscale = {row[0]: row[1] for row in box_rows(ok("show", "maxscale", config=cfg))}
    assert maxscale["Version"] and maxscale["Uptime"].isdigit()
    monitor = {row[0]: row[1] for row in box_rows(ok("show", "monitor", MONITOR, config=cfg))
               if row[0]}
    assert monitor["Module"] == "mariadbmon" and monitor["Primary"] == "server1"


def session_ids(cfg: Path) -> dict[str, list[str]]:
    return {row[0]: row for row in (line.split("\t") for line in ok(
        "list", "sessions", "--tsv", config=cfg).splitlines())}


def test_a_session_is_listed_and_can_be_killed(cfg: Path, proxy_params: Any) -> None:
    before = session_ids(cfg)
    conn = pymysql.connect(**proxy_params.pymysql_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        mine = [row for sid, row in session_ids(cfg).items() if sid not in before]
        assert len(mine) == 1, mine
        assert mine[0][1:3] == [proxy_params.user, proxy_params.host]
        session_id = mine[0][0]
        shown = {row[0]: row[1] for row in box_rows(ok("show", "session", session_id,
                                                       config=cfg)) if row[0]}
        assert shown["User"] == proxy_params.user
        assert ok("destroy", "session", session_id, config=cfg).strip() == "OK"
        with pytest.raises(pymysql.MySQLError), conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()
    assert ctl("show", "session", session_id, config=cfg).returncode == 1


def test_api_get_prints_raw_json_or_one_field(cfg: Path) -> None:
    assert json.loads(ok("api", "get", "/v1/servers/server1", "data.attributes.state",
                         config=cfg)) == "Master, Running"
    assert json.loads(ok("api", "get", "servers", config=cfg))["data"][0]["id"] == "server1"


# -- changing (and putting back) --------------------------------------------------------------


def test_drain_a_replica_and_clear_it(cfg: Path) -> None:
    try:
        assert ok("set", "server", "server3", "drain", config=cfg).strip() == "OK"
        assert states(cfg)["server3"].startswith("Drain")  # Draining, or Drained: 0 sessions
    finally:
        assert ok("clear", "server", "server3", "drain", config=cfg).strip() == "OK"
    assert states(cfg)["server3"] == "Slave, Running"


def test_reload_users_and_rotate_logs(cfg: Path) -> None:
    assert ok("reload", "users", config=cfg).strip() == "OK"
    assert ok("reload", "service", "Read-Write-Service", config=cfg).strip() == "OK"
    assert ok("rotate", "logs", config=cfg).strip() == "OK"


def test_a_basic_user_reads_but_cannot_change(cfg: Path) -> None:
    assert ok("create", "user", "ctl-reader", "reader-password", "--type", "basic",
              config=cfg).strip() == "OK"
    try:
        reader = ("-u", "ctl-reader", "-p", "reader-password")
        assert ctl(*reader, "list", "servers", config=cfg).returncode == 0
        refused = ctl(*reader, "set", "server", "server2", "drain", config=cfg)
        assert refused.returncode == 4
        assert "read-only" in refused.stderr
    finally:
        assert ok("destroy", "user", "ctl-reader", config=cfg).strip() == "OK"
    assert "ctl-reader" not in ok("list", "users", "--tsv", config=cfg)


# -- exit codes --------------------------------------------------------------------------------


def test_exit_1_when_the_api_refuses(cfg: Path) -> None:
    unknown = ctl("show", "server", "no-such-server", config=cfg)
    assert unknown.returncode == 1
    assert "no server 'no-such-server'" in unknown.stderr
    primary = ctl("set", "server", "server1", "maintenance", config=cfg)
    assert primary.returncode == 1
    assert "First perform a switchover" in primary.stderr
    assert states(cfg)["server1"] == "Master, Running"


def test_exit_4_for_a_wrong_password(cfg: Path) -> None:
    done = ctl("-p", "not-the-password", "list", "servers", config=cfg)
    assert done.returncode == 4
    assert "authentication failed for user 'admin'" in done.stderr
    assert done.stdout == ""


def test_exit_4_without_credentials_says_where_it_looked(api: AdminApi, tmp_path: Path) -> None:
    address = api.base.removeprefix("http://")
    done = ctl("-h", address, "--datadir", str(tmp_path), "list", "servers")
    assert done.returncode == 4
    assert str(tmp_path / "admin-password") in done.stderr


def test_explicit_host_user_and_password(api: AdminApi) -> None:
    user, password = api.admin
    address = api.base.removeprefix("http://")
    out = ok("-h", address, "-u", user, "-p", password, "list", "monitors", "--tsv")
    assert out.startswith(MONITOR)


def test_exit_3_when_nothing_listens() -> None:
    port = find_free_port()
    done = ctl("-h", f"127.0.0.1:{port}", "-u", "admin", "-p", "x", "list", "servers")
    assert done.returncode == 3
    assert f"127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize("argv", [
    ["list", "bogus"],
    ["show", "server"],
    ["set", "server", "server2", "readonly"],
    ["list", "servers", "--json", "--tsv"],
    ["-h", "127.0.0.1:notaport", "list", "servers"],
])
def test_exit_2_for_bad_usage(cfg: Path, argv: list[str]) -> None:
    done = ctl(*argv, config=cfg)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""


def test_https_admin_api(start_proxy: Any, sandbox: Sandbox) -> None:
    handle = start_proxy({"maxscale": {"admin_ssl_cert": str(sandbox.tls_cert),
                                       "admin_ssl_key": str(sandbox.tls_key)}}, tls=False)
    config = handle.config_path
    untrusted = ctl("list", "servers", config=config)
    assert untrusted.returncode == 3
    assert "not trusted" in untrusted.stderr
    trusted = ctl("--tls-ca-cert", str(sandbox.tls_ca), "list", "servers", "--tsv",
                  config=config)
    assert trusted.returncode == 0, trusted.stderr
    assert len(trusted.stdout.splitlines()) == 3
    address = AdminApi.of_config(config).base.removeprefix("https://")
    plain = ctl("-h", address, "--datadir", str(Path(sandbox.dir) / "interlock"),
                "list", "servers")
    assert plain.returncode == 3
    assert address in plain.stderr


# -- cluster operations on a private cluster ----------------------------------------------------


@pytest.fixture
def private(fresh_sandbox: Callable[..., Sandbox], start_proxy: Any) -> tuple[Sandbox, Path]:
    sb = fresh_sandbox()
    handle = start_proxy({MONITOR: FAST_MONITOR}, tls=False, sandbox=sb)
    wait_states(handle.config_path, {"server1": "Master, Running",
                                     "server2": "Slave, Running",
                                     "server3": "Slave, Running"})
    return sb, handle.config_path


def test_switchover_moves_the_primary_and_back(private: tuple[Sandbox, Path]) -> None:
    sb, config = private
    assert ok("switchover", "--to", "server2", config=config).strip() == "OK"
    assert states(config) == {"server1": "Slave, Running", "server2": "Master, Running",
                              "server3": "Slave, Running"}
    again = ctl("switchover", "--to", "server2", config=config)
    assert again.returncode == 1
    assert "already the primary" in again.stderr
    # back, in maxctrl's long form
    assert ok("call", "command", "mariadbmon", "switchover", MONITOR, "server1",
              config=config).strip() == "OK"
    assert states(config) == {"server1": "Master, Running", "server2": "Slave, Running",
                              "server3": "Slave, Running"}
    assert replication_errors(sb) == {}


def test_failover_and_rejoin(private: tuple[Sandbox, Path]) -> None:
    sb, config = private
    refused = ctl("failover", config=config)
    assert refused.returncode == 1
    assert "running" in refused.stderr  # the primary is up: a failover is refused
    sb.stop("server1")
    wait_states(config, {"server1": "Down"})
    assert ok("failover", config=config).strip() == "OK"
    after = states(config)
    assert "Master, Running" in (after["server2"], after["server3"])
    sb.start("server1")
    wait_states(config, {"server1": "Running"})
    assert ok("rejoin", "server1", config=config).strip() == "OK"
    wait_states(config, {"server1": "Slave, Running"})
    assert ok("switchover", "--to", "server1", config=config).strip() == "OK"
    assert states(config)["server1"] == "Master, Running"
    assert replication_errors(sb) == {}


# -- runtime objects (a proxy with its own datadir: the changes persist there) -----------------


def test_create_alter_link_and_destroy_objects(start_proxy: Any, sandbox: Sandbox,
                                               tmp_path: Path) -> None:
    handle = start_proxy({"maxscale": {"datadir": str(tmp_path / "state")}}, tls=False)
    config = handle.config_path
    replica = sandbox.replicas[-1]
    service = sandbox.spec.account(Role.SERVICE)
    monitor = sandbox.spec.account(Role.MONITOR)

    assert ok("create", "server", "extra", replica.host, str(replica.port),
              config=config).strip() == "OK"
    assert ok("create", "monitor", "ctl-mon", "mariadbmon", "monitor_interval=1s",
              "--servers", "extra", "--monitor-user", monitor.user,
              "--monitor-password", monitor.password, config=config).strip() == "OK"
    assert ok("create", "service", "ctl-svc", "readconnroute", "router_options=slave",
              f"user={service.user}", f"password={service.password}", "--servers", "extra",
              config=config).strip() == "OK"
    servers = {row[0]: row for row in box_rows(ok("list", "servers", config=config))[1:]}
    assert servers["extra"][1:3] == [replica.host, str(replica.port)]
    assert servers["extra"][6] == "ctl-mon"
    deadline = time.monotonic() + 30
    while not states(config)["extra"].endswith("Running"):  # a replica of a server ctl-mon
        assert time.monotonic() < deadline, states(config)  # does not watch
        time.sleep(0.2)
    services = [line.split("\t") for line in ok("list", "services", "--tsv",
                                                config=config).splitlines()]
    assert ["ctl-svc", "readconnroute", "0", "0", "extra"] in services

    assert ok("alter", "server", "extra", "weight", "2", "priority=3",
              config=config).strip() == "OK"
    parameters = json.loads(ok("api", "get", "/v1/servers/extra",
                               "data.attributes.parameters", config=config))
    assert (parameters["weight"], parameters["priority"]) == (2, 3)
    assert ok("alter", "service", "ctl-svc", "router_options=master",
              config=config).strip() == "OK"
    assert json.loads(ok("api", "get", "/v1/services/ctl-svc",
                         "data.attributes.parameters.router_options",
                         config=config)) == "master"
    refused = ctl("alter", "monitor", "ctl-mon", "monitor_interval", "500", config=config)
    assert refused.returncode == 1 and "no unit" in refused.stderr
    assert ok("alter", "monitor", "ctl-mon", "monitor_interval", "500ms",
              config=config).strip() == "OK"

    assert ok("create", "server", "extra2", replica.host, str(replica.port), "--monitors",
              "ctl-mon", config=config).strip() == "OK"
    assert ok("link", "service", "ctl-svc", "extra2", config=config).strip() == "OK"
    assert ["ctl-svc", "readconnroute", "0", "0", "extra, extra2"] in [
        line.split("\t") for line in ok("list", "services", "--tsv",
                                        config=config).splitlines()]
    assert ok("unlink", "service", "ctl-svc", "extra2", config=config).strip() == "OK"
    assert ok("unlink", "monitor", "ctl-mon", "extra2", config=config).strip() == "OK"
    in_use = ctl("destroy", "server", "extra", config=config)
    assert in_use.returncode == 1 and "unlink it first" in in_use.stderr

    assert ok("destroy", "service", "ctl-svc", config=config).strip() == "OK"
    assert ok("destroy", "monitor", "ctl-mon", config=config).strip() == "OK"
    assert ok("destroy", "server", "extra", config=config).strip() == "OK"
    assert ok("destroy", "server", "extra2", config=config).strip() == "OK"
    assert sorted(states(config)) == ["server1", "server2", "server3"]
    assert [line.split("\t")[0] for line in ok("list", "monitors", "--tsv",
                                               config=config).splitlines()] == [MONITOR]
