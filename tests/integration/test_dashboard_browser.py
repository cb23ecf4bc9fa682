"""The web dashboard end to end in a real headless browser (Debian's chromium driven by
Playwright): sign in through the form, see the sandbox's three servers in the topology graph,
switch over from the page (the "Make primary" button, then back by dragging the old primary's
node onto the new one), maintenance/drain/rejoin with their confirmations, the API's error text
when an action is refused, live updates without a reload, and no request to anything but the
admin listener.

Each test that changes the cluster has its own sandbox (``fresh_sandbox``) and proxy; the
static-file checks use plain HTTP against the shared session proxy.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from tests.integration.admin_support import AdminApi
from tests.integration.monitor_support import replication_errors, wait_gtid

from interlock.sandbox import Sandbox
from interlock.sandbox.interlock_cnf import MONITOR
from interlock.sandbox.proxy import ProxyHandle

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
#: a cluster operation (switchover, rejoin) and the next polls that show it
ACTION_WAIT_MS = 90_000
#: the page polls every second; generous for a loaded 2-core machine
SHOW_WAIT_MS = 15_000
FAST_MONITOR = {"monitor_interval": "500ms"}
#: the state colours of docs/dashboard.md (dashboard.css)
COLOURS = {"master": "rgb(37, 99, 235)", "slave": "rgb(5, 150, 105)",
           "maintenance": "rgb(124, 58, 237)", "draining": "rgb(217, 119, 6)",
           "down": "rgb(220, 38, 38)"}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium "
                    "(scripts/install-deps.sh test installs it)", pytrace=False)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Debian's chromium, not a Playwright download (there is no internet here)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Dashboard:
    """A browser page on a proxy's admin listener, with every URL it requested."""

    page: Page
    api: AdminApi
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> Dashboard:
        self.page.goto(self.api.base + "/")
        expect(self.page.locator("#login-form")).to_be_visible()
        return self

    def login(self, user: str | None = None, password: str | None = None) -> Dashboard:
        name, secret = self.api.admin
        self.page.fill("#login-user", user or name)
        self.page.fill("#login-password", password or secret)
        self.page.click("#login-submit")
        return self

    def signed_in(self) -> Dashboard:
        expect(self.page.locator("#app-view")).to_be_visible()
        expect(self.page.locator(".node")).to_have_count(3, timeout=SHOW_WAIT_MS)
        return self

    def node(self, server: str) -> Any:
        return self.page.locator(f'svg.graph .node[data-server="{server}"]')

    def card(self, server: str) -> Any:
        return self.page.locator(f'.server-card[data-server="{server}"]')

    def wait_primary(self, server: str, timeout: float = ACTION_WAIT_MS) -> None:
        expect(self.node(server)).to_have_attribute("data-role", "primary", timeout=timeout)
        expect(self.node(server)).to_have_attribute("data-state", "Master, Running",
                                                    timeout=timeout)
        expect(self.page.locator("svg.graph")).to_have_attribute("data-primary", server)

    def wait_state(self, server: str, pattern: str, timeout: float = SHOW_WAIT_MS) -> None:
        expect(self.node(server)).to_have_attribute("data-state", re.compile(pattern),
                                                    timeout=timeout)

    def action(self, server: str, label: str) -> None:
        self.card(server).get_by_role("button", name=label, exact=True).click()
        expect(self.page.locator("#confirm")).to_be_visible()

    def confirm(self, timeout: float = ACTION_WAIT_MS) -> None:
        self.page.click("#confirm-ok")
        expect(self.page.locator("#confirm")).to_be_hidden(timeout=timeout)

    def band_colour(self, server: str) -> str:
        return str(self.node(server).locator(".node-band").evaluate(
            "e => getComputedStyle(e).fill"))

    def drag(self, source: str, target: str) -> None:
        start = self.node(source).locator(".node-box").bounding_box()
        end = self.node(target).locator(".node-box").bounding_box()
        assert start is not None and end is not None
        mouse = self.page.mouse
        mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        mouse.down()
        mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
        expect(self.node(target)).to_have_class(re.compile(r"\bdrop-target\b"))
        mouse.up()

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.api.base + "/")]


def _dashboard(browser: Browser, api: AdminApi) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    board = Dashboard(page, api)
    page.on("request", lambda r: board.requests.append(r.url))
    page.on("pageerror", lambda exc: board.errors.append(str(exc)))
    page.on("dialog", lambda d: board.errors.append(f"unexpected browser dialog: {d.message}"))
    try:
        yield board
    finally:
        context.close()
    assert board.errors == [], board.errors


@dataclass
class Cluster:
    sb: Sandbox
    proxy: ProxyHandle
    api: AdminApi


@pytest.fixture
def cluster(fresh_sandbox: Callable[..., Sandbox], start_proxy: Any) -> Cluster:
    """A private primary + 2 replicas and a proxy (readwritesplit, monitor every 500 ms)."""
    sb = fresh_sandbox(replicas=2)
    handle = start_proxy({MONITOR: FAST_MONITOR}, tls=False, sandbox=sb)
    return Cluster(sb, handle, AdminApi.of_config(handle.config_path))


@pytest.fixture
def board(browser: Browser, cluster: Cluster) -> Iterator[Dashboard]:
    yield from _dashboard(browser, cluster.api)


def api_primary(api: AdminApi) -> str | None:
    servers = api.get("/v1/servers").body["data"]
    return next((s["id"] for s in servers if s["attributes"]["is_primary"]), None)


def replicating_from(sb: Sandbox, server: str) -> int | None:
    """The port ``server`` replicates from, when both its threads run."""
    rows = sb.sql(server, "SHOW ALL SLAVES STATUS")
    running = [r for r in rows
               if r["Slave_IO_Running"] == "Yes" and r["Slave_SQL_Running"] == "Yes"]
    return int(running[0]["Master_Port"]) if running else None


# -- tests ----------------------------------------------------------------------------------


def test_sign_in_and_see_the_topology(board: Dashboard, cluster: Cluster) -> None:
    page = board.open().page
    board.login(password="not-the-password")
    expect(page.locator("#login-error")).to_have_text("Wrong user or password.")
    board.login().signed_in()
    board.wait_primary("server1", SHOW_WAIT_MS)
    for replica in ("server2", "server3"):
        board.wait_state(replica, r"^Slave, Running$")
        edge = page.locator(f'svg.graph .edge[data-from="server1"][data-to="{replica}"]')
        expect(edge).to_have_class(re.compile(r"\bok\b"))
        expect(edge.locator(".edge-label.lag")).to_have_text(re.compile(r"^lag \d+ s$"))
        expect(edge.locator(".edge-label.gtid")).to_have_text(re.compile(r"^GTID 0-1-\d+"))
    assert board.band_colour("server1") == COLOURS["master"]
    assert board.band_colour("server2") == COLOURS["slave"]
    expect(page.locator("#who-account")).to_have_text("admin")
    # the token is in sessionStorage, not in a cookie nor in the URL
    assert page.evaluate("sessionStorage.getItem('interlock.token')")
    assert board.foreign_requests() == []
    assert any(url.startswith(cluster.api.base + "/v1/servers") for url in board.requests)


def test_switchover_by_button_then_back_by_drag(board: Dashboard, cluster: Cluster) -> None:
    page = board.open().login().signed_in().page
    board.wait_primary("server1", SHOW_WAIT_MS)
    expect(board.card("server1").get_by_role("button", name="Make primary")).to_have_count(0)

    board.action("server2", "Make primary")
    expect(page.locator("#confirm-text")).to_contain_text("Make server2 the primary in place "
                                                          "of server1")
    board.confirm()
    board.wait_primary("server2")
    board.wait_state("server1", r"^Slave, Running$", ACTION_WAIT_MS)
    assert board.band_colour("server2") == COLOURS["master"]
    assert api_primary(cluster.api) == "server2"
    assert replicating_from(cluster.sb, "server1") == cluster.sb.server("server2").port
    expect(page.locator("#events")).to_contain_text("switchover of server2 done",
                                                    timeout=SHOW_WAIT_MS)

    # put the cluster back: drag the old primary onto the new one
    board.wait_state("server3", r"^Slave, Running$", ACTION_WAIT_MS)
    board.drag("server1", "server2")
    expect(page.locator("#confirm-text")).to_contain_text("Make server1 the primary in place "
                                                          "of server2")
    board.confirm()
    board.wait_primary("server1")
    for replica in ("server2", "server3"):
        board.wait_state(replica, r"^Slave, Running$", ACTION_WAIT_MS)
    assert api_primary(cluster.api) == "server1"
    primary_port = cluster.sb.server("server1").port
    assert replicating_from(cluster.sb, "server2") == primary_port
    assert replicating_from(cluster.sb, "server3") == primary_port
    wait_gtid(cluster.sb, "server1", ["server2", "server3"])
    assert replication_errors(cluster.sb) == {}
    assert board.foreign_requests() == []


def test_maintenance_drain_and_a_refused_action(board: Dashboard, cluster: Cluster) -> None:
    page = board.open().login().signed_in().page
    board.wait_state("server3", r"^Slave, Running$")

    board.action("server3", "Maintenance")
    expect(page.locator("#confirm-option")).to_be_visible()  # --force
    board.confirm()
    board.wait_state("server3", r"\bMaintenance\b")
    assert board.band_colour("server3") == COLOURS["maintenance"]
    board.action("server3", "Clear maintenance")
    board.confirm()
    board.wait_state("server3", r"^Slave, Running$")

    board.action("server3", "Drain")
    board.confirm()
    board.wait_state("server3", r"\bDraining\b")
    assert board.band_colour("server3") == COLOURS["draining"]
    board.action("server3", "Stop draining")
    board.confirm()
    board.wait_state("server3", r"^Slave, Running$")

    # the primary cannot go into maintenance: the page shows the API's own words
    board.action("server1", "Maintenance")
    page.click("#confirm-ok")
    error = page.locator("#confirm-error")
    expect(error).to_be_visible(timeout=SHOW_WAIT_MS)
    refused = cluster.api.request("PUT", "/v1/servers/server1/set?state=maintenance")
    assert refused.status == 403
    expect(error).to_contain_text(refused.body["errors"][0]["detail"])
    expect(page.locator(".toast.error")).to_contain_text("First perform a switchover")
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()
    board.wait_state("server1", r"^Master, Running$")


def test_rejoin_a_server_that_stopped_replicating(board: Dashboard, cluster: Cluster) -> None:
    page = board.open().login().signed_in().page
    cluster.sb.sql("server3", "STOP SLAVE")
    cluster.sb.sql("server3", "RESET SLAVE ALL")
    expect(page.locator('svg.graph .edge[data-to="server3"]')).to_have_count(
        0, timeout=SHOW_WAIT_MS)
    expect(board.node("server3")).to_have_attribute("data-role", "not replicating")
    board.action("server3", "Rejoin")
    expect(page.locator("#confirm-text")).to_contain_text("server3")
    board.confirm()
    edge = page.locator('svg.graph .edge[data-from="server1"][data-to="server3"]')
    expect(edge).to_have_class(re.compile(r"\bok\b"), timeout=ACTION_WAIT_MS)
    board.wait_state("server3", r"^Slave, Running$")
    assert replicating_from(cluster.sb, "server3") == cluster.sb.server("server1").port


def test_failover_when_the_primary_is_down_then_rejoin_it(board: Dashboard,
                                                         cluster: Cluster) -> None:
    page = board.open().login().signed_in().page
    board.wait_primary("server1", SHOW_WAIT_MS)
    cluster.sb.stop("server1")
    board.wait_state("server1", r"\bDown\b", ACTION_WAIT_MS)
    assert board.band_colour("server1") == COLOURS["down"]
    expect(board.node("server1")).to_have_attribute("data-role", "primary")
    expect(page.locator("button.action", has_text="Make primary")).to_have_count(0)
    expect(page.locator("svg.graph .node.draggable")).to_have_count(0)

    board.action("server1", "Fail over")
    expect(page.locator("#confirm-text")).to_contain_text("The primary server1 is down")
    board.confirm()
    expect(page.locator("svg.graph")).to_have_attribute("data-primary",
                                                        re.compile(r"^server[23]$"),
                                                        timeout=ACTION_WAIT_MS)
    new = page.locator("svg.graph").get_attribute("data-primary")
    assert new is not None
    board.wait_primary(new)
    assert api_primary(cluster.api) == new

    # the old primary comes back as a standalone server: rejoin it from the page
    cluster.sb.start("server1")
    board.wait_state("server1", r"^Running$", ACTION_WAIT_MS)
    board.action("server1", "Rejoin")
    board.confirm()
    board.wait_state("server1", r"^Slave, Running$", ACTION_WAIT_MS)
    assert replicating_from(cluster.sb, "server1") == cluster.sb.server(new).port


def test_the_page_follows_the_cluster_without_a_reload(board: Dashboard,
                                                       cluster: Cluster) -> None:
    page = board.open().login().signed_in().page
    page.evaluate("window.sameDocument = true")
    # a change made elsewhere (the REST API) shows up on its own
    assert cluster.api.request("PUT", "/v1/servers/server2/set?state=drain").status == 204
    board.wait_state("server2", r"\bDraining\b")
    # a client session appears in the table; its queries show in a query-rate chart
    conn = pymysql.connect(**cluster.sb.proxy_params(port=cluster.proxy.port).pymysql_kwargs(),
                           autocommit=True)
    try:
        session_id = conn.thread_id()  # the id the proxy's handshake gave the client
        with conn.cursor() as cur:
            row = page.locator(f'#sessions tr[data-session="{session_id}"]')
            expect(row).to_contain_text("app", timeout=SHOW_WAIT_MS)
            for _ in range(200):
                cur.execute("SELECT 1")
        expect(page.locator('.server-card svg.chart.qps:not([data-current=""])'
                            ':not([data-current="0"])').first).to_be_attached(
            timeout=SHOW_WAIT_MS)
    finally:
        conn.close()
    expect(page.locator(f'#sessions tr[data-session="{session_id}"]')).to_have_count(
        0, timeout=SHOW_WAIT_MS)
    assert cluster.api.request("PUT", "/v1/servers/server2/clear?state=drain").status == 204
    board.wait_state("server2", r"^Slave, Running$")
    expect(page.locator("#events li.event").first).to_be_visible()
    assert page.evaluate("window.sameDocument") is True  # never reloaded
    assert board.foreign_requests() == []


def test_a_read_only_account_sees_no_actions(board: Dashboard, cluster: Cluster) -> None:
    created = cluster.api.request("POST", "/v1/users", body={"data": {
        "id": "viewer", "type": "inet",
        "attributes": {"password": "viewer-secret-1", "account": "basic"}}})
    assert created.status in (200, 201, 204), created
    page = board.open().login("viewer", "viewer-secret-1").signed_in().page
    expect(page.locator("#who-account")).to_have_text("read-only")
    board.wait_primary("server1", SHOW_WAIT_MS)
    expect(page.locator("button.action")).to_have_count(0)
    expect(page.locator("svg.graph .node.draggable")).to_have_count(0)


# -- the static files over plain HTTP -------------------------------------------------------


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def shared_api(proxy: ProxyHandle) -> AdminApi:
    return AdminApi.of_config(proxy.config_path)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"),
    ("/dashboard/", "text/html; charset=utf-8"),
    ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
    ("/dashboard/js/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/favicon.svg", "image/svg+xml"),
])
def test_static_files_are_public_with_their_type(shared_api: AdminApi, path: str,
                                                 content_type: str) -> None:
    status, headers, body = fetch(shared_api.base + path)
    assert status == 200 and headers["Content-Type"] == content_type and body
    assert "default-src 'none'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [
    "/dashboard/%2e%2e/http.py",
    "/dashboard/js/..%2f..%2fdashboard.py",
    "/dashboard/..%5cdashboard.py",
    "/dashboard/js/",
    "/dashboard/.hidden.js",
    "/dashboard/index.py",
    "/dashboard/nothing.js",
    "/dashboard/" + "x" * 400 + ".js",  # longer than a file name may be
])
def test_no_file_outside_the_static_directory(shared_api: AdminApi, path: str) -> None:
    status, headers, body = fetch(shared_api.base + path)
    assert status == 404, (status, body[:200])
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["errors"][0]["detail"].startswith("no dashboard file")


def test_admin_gui_false_turns_the_page_off(start_proxy: Any) -> None:
    handle = start_proxy({"maxscale": {"admin_gui": "false"}}, tls=False)
    api = AdminApi.of_config(handle.config_path)
    for path in ("/", "/dashboard/js/app.js"):
        status, _, body = fetch(api.base + path)
        assert status == 404
        assert "admin_gui=false" in json.loads(body)["errors"][0]["detail"]
    assert api.get("/v1/servers").status == 200  # the REST API still answers
