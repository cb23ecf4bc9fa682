"""``interlock sandbox demo`` (``make demo``): a sandbox and Interlock in front of it.

Starts (or creates) the sandbox, starts the proxy in the foreground with its log on this
terminal, prints how to connect, and on Ctrl-C (or SIGTERM/SIGHUP) stops the proxy, then the
servers.
"""

from __future__ import annotations

import configparser
import signal
import threading
from types import FrameType

from interlock.errors import SandboxError
from interlock.sandbox import proxy
from interlock.sandbox.cluster import Sandbox
from interlock.sandbox.ports import port_is_free


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def _banner(sb: Sandbox) -> str:
    rule = "=" * 72
    return "\n".join(
        [
            rule,
            f"Interlock is listening on {sb.spec.host}:{sb.proxy_port} in front of"
            f" {len(sb.servers)} MariaDB servers (primary {sb.primary.host}:{sb.primary.port}).",
            "Connect with:",
            f"    {sb.proxy_params().command_line()}",
            f"TLS:  add --ssl --ssl-ca={sb.tls_ca}",
            f"Sandbox: {sb.dir}  (config {sb.config_path})",
            *_admin_lines(sb),
            "Press Ctrl-C to stop Interlock and the sandbox.",
            rule,
        ]
    )


def _admin_lines(sb: Sandbox) -> list[str]:
    """Where the dashboard and REST API are, and where the generated admin password is."""
    ini = configparser.ConfigParser(interpolation=None, strict=False)
    ini.read_string(sb.config_path.read_text())
    section = next((s for s in ini.sections() if s.lower() == "maxscale"), None)
    if section is None or "admin_port" not in ini[section]:
        return []
    g = ini[section]
    url = f"http://{g.get('admin_host', '127.0.0.1')}:{g['admin_port']}/"
    return [
        f"Dashboard and REST API: {url}  (user admin, password in "
        f"{g.get('datadir', '/var/lib/interlock')}/admin-password)",
        f"    uv run interlock ctl -c {sb.config_path} list servers",
    ]


def run_demo(sb: Sandbox) -> int:
    if not port_is_free(sb.proxy_port, sb.spec.host):
        raise SandboxError(
            f"port {sb.proxy_port} on {sb.spec.host} is already in use (another `make demo`?);"
            " stop what listens there or pick another port with --proxy-port"
        )
    stop = threading.Event()
    _stop_on_signals(stop)
    handle = None
    try:
        sb.up()
        if stop.is_set():
            return 130
        handle = proxy.start(sb.config_path, sb.spec.host, sb.proxy_port, die_with_parent=True)
        print(_banner(sb), flush=True)
        while not stop.wait(0.5):
            if not handle.running():
                print(f"interlock exited with code {handle.process.returncode}", flush=True)
                return 1
        return 0
    finally:
        print("stopping Interlock and the sandbox...", flush=True)
        if handle is not None:
            handle.stop()
        sb.down()
        print(f"stopped (data kept in {sb.dir}; `make demo` starts it again)", flush=True)
