"""``GET /metrics`` of a real readwritesplit proxy, parsed with prometheus_client's own parser:
the counters move by exactly the traffic a test sends through the proxy, the monitor's view and
operations show, and the endpoint needs credentials (a read-only account is enough)."""

from __future__ import annotations

import base64
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import _stop_proxy, launch_proxy
from tests.integration.admin_support import AdminApi
from tests.integration.rws_helpers import connect, eventually, wait_replicated

from interlock.admin.auth import Account, AdminUsers
from interlock.admin.metrics import Family, render
from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR, SERVICE
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle

pytestmark = pytest.mark.integration

WATCHER = ("watcher", "watcher-password")  # a basic (read-only) account
Key = tuple[str, frozenset[tuple[str, str]]]


class Metrics:
    """One scrape: ``value(name, label=value...)``; ``total(name, ...)`` sums over the labels
    not given."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples: dict[Key, float] = {}
        for family in self.families:
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def total(self, name: str, **labels: str) -> float:
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.samples.items() if n == name and wanted <= found)


def scrape_raw(api: AdminApi, auth: tuple[str, str] | None) -> tuple[int, str, str]:
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(api.base + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def scrape(api: AdminApi, auth: tuple[str, str] = WATCHER) -> Metrics:
    status, _, text = scrape_raw(api, auth)
    assert status == 200, text
    return Metrics(text)


@pytest.fixture(scope="module")
def proxy(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyHandle]:
    """A readwritesplit proxy of its own (its counters start at 0), with its own admin
    datadir holding the generated admin and a basic account."""
    sandbox.sql(sandbox.primary, "CREATE TABLE IF NOT EXISTS app.metrics_t "
                                 "(id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    wait_replicated(sandbox)
    directory = tmp_path_factory.mktemp("metrics")
    datadir = directory / "state"
    datadir.mkdir()
    users = AdminUsers(datadir)
    users.ensure_admin()
    users.add(*WATCHER, Account.BASIC)
    text = sandbox.render_config(listener_port=find_free_port(), tls=False, overrides={
        "maxscale": {"datadir": str(datadir)},
        SERVICE: {"router": "readwritesplit"},
        MONITOR: {"enforce_read_only_slaves": "true"},
    })
    handle = launch_proxy(directory, text)
    try:
        yield handle
    finally:
        _stop_proxy(handle)


@pytest.fixture(scope="module")
def api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


def _run(cur: Any, sql: str) -> None:
    cur.execute(sql)
    cur.fetchall()


def test_scrape_needs_credentials_and_a_basic_account_is_enough(api: AdminApi) -> None:
    status, _, body = scrape_raw(api, None)
    assert status == 401, body
    assert scrape_raw(api, ("watcher", "wrong-password"))[0] == 401
    status, content_type, text = scrape_raw(api, WATCHER)
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert scrape_raw(api, api.admin)[0] == 200
    assert "# HELP interlock_server_connections " in text


def test_every_family_is_documented_typed_and_prefixed(api: AdminApi) -> None:
    metrics = scrape(api)
    assert len(metrics.families) > 20
    for family in metrics.families:
        assert family.name.startswith("interlock_"), family.name
        assert family.documentation, family.name
        assert family.type in ("gauge", "counter"), (family.name, family.type)
        assert family.samples, family.name
    for name in ("interlock_process_resident_memory_bytes", "interlock_process_open_fds"):
        assert metrics.value(name) > 0
    assert metrics.value("interlock_process_resident_memory_bytes") > 1 << 20
    assert metrics.value("interlock_event_loop_lag_seconds") >= 0
    assert metrics.value("interlock_event_loop_lag_max_seconds") >= 0
    assert metrics.total("interlock_build_info") == 1


def test_known_traffic_moves_the_counters_by_its_amount(sandbox: Sandbox, proxy: ProxyHandle,
                                                        api: AdminApi) -> None:
    reads, writes, failures = 17, 5, 3
    conn = connect(sandbox, proxy)
    try:
        cur = conn.cursor()
        _run(cur, "SELECT 1")  # the replica links are open and used once before counting
        before = scrape(api)
        for i in range(reads):
            _run(cur, f"SELECT {i}")
        for i in range(writes):
            _run(cur, f"INSERT INTO app.metrics_t (v) VALUES ({i})")
        for _ in range(failures):
            with pytest.raises(pymysql.err.ProgrammingError):
                _run(cur, "SELECT * FROM app.no_such_table_for_metrics")
        after = scrape(api)
    finally:
        conn.close()

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    primary = sandbox.primary.name
    # every read (the failing ones too) is counted once, on whichever server ran it
    assert moved("interlock_server_queries_total", kind="read") == reads + failures
    assert moved("interlock_server_queries_total", kind="write") == writes
    assert moved("interlock_server_queries_total", server=primary, kind="write") == writes
    assert moved("interlock_server_errors_total") == failures
    assert moved("interlock_service_queries_total", service=SERVICE, kind="read") == (
        reads + failures)
    assert moved("interlock_service_queries_total", service=SERVICE, kind="write") == writes
    assert moved("interlock_service_route_decisions_total", reason="write") == writes
    assert moved("interlock_service_route_decisions_total", reason="read") + moved(
        "interlock_service_route_decisions_total", reason="no_usable_replica") == (
        reads + failures)
    assert after.value("interlock_service_sessions", service=SERVICE) >= 1
    # the REST resource reports the same counters
    server = api.get(f"/v1/servers/{primary}").body["data"]["attributes"]["statistics"]
    assert server["writes"] >= writes and server["total_connections"] >= 1
    assert {"reads", "errors"} <= set(server)


def test_a_new_session_counts_once(sandbox: Sandbox, proxy: ProxyHandle, api: AdminApi) -> None:
    primary = sandbox.primary.name
    assert eventually(lambda: scrape(api).value("interlock_service_sessions",
                                                service=SERVICE) == 0)
    before = scrape(api)
    conn = connect(sandbox, proxy)
    try:
        _run(conn.cursor(), "SELECT 1")
        during = scrape(api)
    finally:
        conn.close()
    assert during.value("interlock_service_sessions_total", service=SERVICE) == (
        before.value("interlock_service_sessions_total", service=SERVICE) + 1)
    assert during.value("interlock_server_connections_total", server=primary) == (
        before.value("interlock_server_connections_total", server=primary) + 1)
    assert during.value("interlock_service_sessions", service=SERVICE) == (
        before.value("interlock_service_sessions", service=SERVICE) + 1)
    assert eventually(lambda: scrape(api).value("interlock_service_sessions",
                                                service=SERVICE) == 0)


def test_the_monitor_view_is_exported(sandbox: Sandbox, api: AdminApi) -> None:
    primary = sandbox.primary.name
    replica = sandbox.replicas[0].name
    position = sandbox.sql(sandbox.primary, "SELECT @@gtid_binlog_pos AS p")[0]["p"]
    domain, _, sequence = position.split(",")[0].split("-")

    def caught_up() -> Metrics | None:
        metrics = scrape(api)
        seen = metrics.samples.get(("interlock_server_gtid_sequence",
                                    frozenset({("server", primary), ("domain", domain)})))
        return metrics if seen is not None and seen >= int(sequence) else None

    metrics = eventually(caught_up, timeout=15)
    assert metrics is not None, "the primary's GTID sequence never reached the metrics"
    assert metrics.value("interlock_server_state", server=primary, state="Master") == 1
    assert metrics.value("interlock_server_state", server=primary, state="Slave") == 0
    assert metrics.value("interlock_server_state", server=replica, state="Slave") == 1
    assert metrics.value("interlock_server_state", server=replica, state="Running") == 1
    assert metrics.value("interlock_server_up", server=replica) == 1
    assert metrics.value("interlock_server_replication_lag_seconds", server=primary) == 0
    assert metrics.value("interlock_server_replication_lag_seconds", server=replica) >= 0
    assert metrics.value("interlock_monitor_primary", monitor=MONITOR, server=primary) == 1
    assert metrics.value("interlock_monitor_ticks_total", monitor=MONITOR) >= 1
    assert metrics.value("interlock_monitor_last_tick_duration_seconds", monitor=MONITOR) > 0
    operations = {tuple(sorted(dict(labels).items())) for name, labels in metrics.samples
                  if name == "interlock_monitor_operations_total"}
    assert operations >= {(("monitor", MONITOR), ("operation", operation), ("result", result))
                          for operation in ("failover", "switchover", "rejoin", "enforce")
                          for result in ("ok", "failed")}


def test_an_enforced_read_only_counts_as_a_monitor_operation(sandbox: Sandbox,
                                                             api: AdminApi) -> None:
    """enforce_read_only_slaves: a replica made writable by hand is set read_only again by the
    monitor, one ``enforce`` operation."""
    replica = sandbox.replicas[0]
    ticks = scrape(api).value("interlock_monitor_ticks_total", monitor=MONITOR)
    before = scrape(api).value("interlock_monitor_operations_total", monitor=MONITOR,
                               operation="enforce", result="ok")
    sandbox.sql(replica, "SET GLOBAL read_only = 0")
    try:
        enforced = eventually(lambda: scrape(api).value(
            "interlock_monitor_operations_total", monitor=MONITOR, operation="enforce",
            result="ok") == before + 1, timeout=20)
        assert enforced, "the monitor did not enforce read_only on the replica"
        assert sandbox.sql(replica, "SELECT @@read_only AS r")[0]["r"] == "1"
        assert scrape(api).value("interlock_monitor_ticks_total", monitor=MONITOR) > ticks
    finally:
        sandbox.sql(replica, "SET GLOBAL read_only = 1")


def test_label_values_and_help_are_escaped() -> None:
    """Quotes, backslashes and newlines in a label value or help text survive the format (the
    proxy's own labels are names from the config, which could hold them)."""
    text = render([Family("t", "gauge", 'help with \\ and\nnewline',
                          (((("name", 'a"b\\c\nd'),), 1.5),))])
    family = next(iter(text_string_to_metric_families(text)))
    assert family.documentation == "help with \\ and\nnewline"
    assert family.samples[0].labels == {"name": 'a"b\\c\nd'}
    assert family.samples[0].value == 1.5


def test_a_stalled_event_loop_shows_as_lag(proxy: ProxyHandle, api: AdminApi) -> None:
    """The process stopped for a second (SIGSTOP/SIGCONT): the lag probe's sleep wakes up at
    least half a second late, and the peak of the last minute says so."""
    os.kill(proxy.pid, signal.SIGSTOP)
    try:
        time.sleep(1.0)
    finally:
        os.kill(proxy.pid, signal.SIGCONT)
    assert eventually(lambda: scrape(api).value("interlock_event_loop_lag_max_seconds") >= 0.4)
