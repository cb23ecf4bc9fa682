"""Capture the dashboard screenshots of docs/dashboard.md (docs/images/dashboard-*.png).

    uv run python docs/images/capture.py [--out docs/images] [--warmup 150]

Starts a private sandbox (primary + 2 replicas on free ports, in a temporary directory) and an
Interlock proxy with its admin listener, runs a small varying client load through the proxy
for ``--warmup`` seconds (the charts need a history; a switchover to server2 and back happens
in the middle, so the events list has one), then drives Debian's chromium with Playwright:
the login form, the topology with the server charts (server3 draining, to show a third
colour), sessions and events, the switchover confirmation (button) and a replica being dragged
onto the primary.  Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import math
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pymysql
from playwright.sync_api import Page, expect, sync_playwright

from interlock.admin.auth import read_password_file
from interlock.sandbox import Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.interlock_cnf import MONITOR, state_dir
from interlock.sandbox.ports import find_free_block, find_free_port

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 900}
HERE = Path(__file__).resolve().parent


class Load:
    """A few clients through the proxy, each with a slowly varying query rate."""

    def __init__(self, sb: Sandbox, port: int, clients: int = 3) -> None:
        self.params = sb.proxy_params(port=port)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(clients)]

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def run(self, n: int) -> None:
        t0 = time.monotonic()
        while not self.stop.is_set():
            try:
                conn = pymysql.connect(**self.params.pymysql_kwargs(), autocommit=True)
            except pymysql.MySQLError:
                time.sleep(0.5)
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS shots (id INT AUTO_INCREMENT "
                                "PRIMARY KEY, v INT)")
                    i = 0
                    while not self.stop.is_set():
                        t = time.monotonic() - t0
                        rate = 25 + 18 * math.sin(t / (9 + 3 * n)) + 8 * n
                        cur.execute("SELECT COUNT(*) FROM shots")
                        i += 1
                        if i % 4 == 0:
                            cur.execute("INSERT INTO shots (v) VALUES (%s)", (i,))
                        time.sleep(1 / rate)
            except pymysql.MySQLError:
                time.sleep(0.2)  # a switchover closed it: reconnect
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def admin_request(base: str, auth: tuple[str, str], method: str, path: str) -> None:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(base + path, method=method,
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()


def sign_in(page: Page, base: str, auth: tuple[str, str]) -> None:
    page.goto(base + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-password", auth[1])
    page.click("#login-submit")
    expect(page.locator("svg.graph .node")).to_have_count(3, timeout=15_000)


def capture_login(page: Page, base: str, out: Path) -> None:
    page.goto(base + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-password", "not-shown-here")
    page.screenshot(path=str(out / "dashboard-login.png"),
                    clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 560})


def capture(page: Page, base: str, auth: tuple[str, str], out: Path) -> None:
    """The page has been signed in and polling for the whole warm-up (its chart history)."""
    admin_request(base, auth, "PUT", "/v1/servers/server3/set?state=drain")
    expect(page.locator('.node[data-server="server3"]')).to_have_attribute(
        "data-state", "Draining, Slave, Running", timeout=15_000)
    time.sleep(2)
    servers = page.locator(".servers-section").bounding_box()
    assert servers is not None
    page.set_viewport_size({"width": VIEWPORT["width"],
                            "height": int(servers["y"] + servers["height"] + 20)})
    page.screenshot(path=str(out / "dashboard-topology.png"))
    page.set_viewport_size(VIEWPORT)
    admin_request(base, auth, "PUT", "/v1/servers/server3/clear?state=drain")
    expect(page.locator('.node[data-server="server3"]')).to_have_attribute(
        "data-state", "Slave, Running", timeout=15_000)

    sessions = page.locator(".sessions-card")
    sessions.scroll_into_view_if_needed()
    time.sleep(1.5)
    box_s, box_e = sessions.bounding_box(), page.locator(".events-card").bounding_box()
    assert box_s is not None and box_e is not None
    top = min(box_s["y"], box_e["y"]) - 8
    bottom = max(box_s["y"] + box_s["height"], box_e["y"] + box_e["height"]) + 8
    page.screenshot(path=str(out / "dashboard-events-sessions.png"), full_page=True,
                    clip={"x": 0, "y": top + page.evaluate("scrollY"), "width": VIEWPORT["width"],
                          "height": min(bottom - top, 700)})

    page.evaluate("scrollTo(0, 0)")
    page.locator('.server-card[data-server="server2"]').get_by_role(
        "button", name="Make primary").click()
    expect(page.locator("#confirm")).to_be_visible()
    time.sleep(0.5)
    page.screenshot(path=str(out / "dashboard-switchover-confirm.png"))
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()

    # a replica half way through a drag onto the primary (released where it started)
    start = page.locator('.node[data-server="server3"] .node-box').bounding_box()
    end = page.locator('.node[data-role="primary"] .node-box').bounding_box()
    assert start is not None and end is not None
    sx, sy = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2 + 30, end["y"] + end["height"] / 2 + 14,
                    steps=12)
    time.sleep(0.3)
    topo = page.locator(".topology-card").bounding_box()
    assert topo is not None
    page.screenshot(path=str(out / "dashboard-drag.png"), clip=topo)
    page.mouse.move(sx, sy, steps=5)
    page.mouse.up()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--warmup", type=float, default=150.0,
                        help="seconds of client load before the screenshots (chart history)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interlock-shots-") as tmp:
        base_port = find_free_block(3)
        sb = Sandbox.create(Path(tmp) / "sb", replicas=2, base_port=base_port,
                            proxy_port=find_free_port(), die_with_parent=True)
        handle = None
        load = None
        try:
            sb.up()
            port = find_free_port()
            config = Path(tmp) / "interlock.cnf"
            config.write_text(sb.render_config(
                listener_port=port, tls=False, overrides={MONITOR: {"monitor_interval": "500ms"}}))
            handle = proxy_process.start(config, "127.0.0.1", port, log_path=Path(tmp) / "log")
            ini = configparser.ConfigParser(interpolation=None)
            ini.read_string(config.read_text())
            base = f"http://{ini['maxscale']['admin_host']}:{ini['maxscale']['admin_port']}"
            auth = read_password_file(state_dir(sb))
            assert auth is not None
            load = Load(sb, port).start()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
                try:
                    page = browser.new_page(viewport=VIEWPORT)
                    sign_in(page, base, auth)  # the charts are drawn from what it polls
                    warm_up(base, auth, args.warmup)
                    capture_login(browser.new_page(viewport=VIEWPORT), base, args.out)
                    capture(page, base, auth, args.out)
                finally:
                    browser.close()
        finally:
            if load is not None:
                load.close()
            if handle is not None:
                handle.stop()
            sb.destroy()
    for png in sorted(args.out.glob("dashboard-*.png")):
        print(png)


def warm_up(base: str, auth: tuple[str, str], seconds: float) -> None:
    print(f"warming up for {seconds:g}s (client load, a switchover and back)")
    switchover = "/v1/maxscale/modules/mariadbmon/switchover?Replication-Monitor&{}&{}"
    time.sleep(seconds * 0.4)
    admin_request(base, auth, "POST", switchover.format("server2", "server1"))
    time.sleep(seconds * 0.3)
    admin_request(base, auth, "POST", switchover.format("server1", "server2"))
    time.sleep(seconds * 0.3)


if __name__ == "__main__":
    main()
