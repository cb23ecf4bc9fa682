"""The floating VIP (docs/vip.md): ``GET /v1/health``, ``interlock ctl health`` and a real
keepalived pair moving a VIP when the active Interlock is killed.

**The network.**  A bridge in the root namespace (``10.231.N.1/24``, N free on this host)
and two network namespaces, each with a veth whose other end is on the bridge (``.11`` and
``.12``).  The VIP is ``.100``; the client runs in the root namespace and reaches it over the
bridge.  Nothing touches the host's real interfaces; everything is removed at the end, also
when the test fails (and a run killed hard is cleaned up by the next one: the names carry the
pytest pid).

**Reaching MariaDB from the namespaces.**  The namespaces cannot reach the root namespace's
127.0.0.1, so this test starts its own sandbox whose mariadbd processes bind the bridge
address (``SandboxSpec(host=...)``: the sandbox already has the option; replication and the
generated Interlock config use that address too).  Chosen over TCP relays from the
namespaces to 127.0.0.1: no relay process can be the thing that fails, and each Interlock's
monitor sees the servers at the addresses replication reports, as in production.

**keepalived** runs in each namespace with the file ``interlock keepalived-config`` prints
there (unicast peers; the node finds its own address among ``--peers``), checking its own
Interlock with ``interlock ctl health``.  The test kills the Interlock that holds the VIP
(SIGKILL), waits for the VIP to appear on the other node, and reconnects a client through the
VIP to the same data.  Skipped only without root or without ``ip netns``; a missing
keepalived fails with the install command.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pymysql
import pytest
from tests.conftest import PRIMARY_ONLY, ProxyFactory
from tests.integration.admin_support import AdminApi

from interlock.sandbox import Sandbox, SandboxSpec
from interlock.sandbox.interlock_cnf import LISTENER, SERVICE
from interlock.sandbox.ports import find_free_block, find_free_port
from interlock.sandbox.process import _preexec
from interlock.sandbox.proxy import ProxyHandle, wait_ready

pytestmark = pytest.mark.integration

PREFIX = "ilv"  # ilv<pid>br (bridge), ilv<pid>a / ilv<pid>b (namespaces, veth ends)
LISTEN_PORT = 4006  # inside each namespace
ADMIN_PORT = 8989  # on each namespace's own 127.0.0.1
STEP_TIMEOUT = 45.0  # generous: other tests share the 2 cores
T = TypeVar("T")


def ctl(
    *argv: str, config: Path, netns: str | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "interlock", "ctl", "-c", str(config), *argv]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = STEP_TIMEOUT, every: float = 0.2
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:  # None, False or empty: not yet
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(every)


# -- /v1/health and `ctl health` (no namespaces needed) ---------------------------------------


def test_health_of_a_serving_proxy(start_proxy: ProxyFactory) -> None:
    handle = start_proxy(tls=False)
    api = AdminApi.of_config(handle.config_path)
    reply = api.get("/v1/health")
    assert reply.status == 200, reply.body
    checks = {c["name"]: c for c in reply.body["meta"]["checks"]}
    assert reply.body["meta"]["healthy"] is True
    assert checks[f"listener:{LISTENER}"]["ok"] is True
    assert checks[f"service:{SERVICE}"]["ok"] is True
    assert "primary server1" in checks[f"service:{SERVICE}"]["detail"]
    assert checks["cluster"] == {
        "name": "cluster",
        "ok": True,
        "detail": "no cluster store configured",
    }
    assert api.get("/v1/health", auth=None).status == 401  # authentication stays on

    done = ctl("health", config=handle.config_path)
    assert done.returncode == 0, done.stderr
    assert "service:" + SERVICE in done.stdout

    handle.process.send_signal(signal.SIGKILL)
    handle.process.wait(30)
    gone = ctl("health", config=handle.config_path)
    assert gone.returncode == 3, (gone.stdout, gone.stderr)
    assert "cannot connect" in gone.stderr


def test_health_without_a_primary(start_proxy: ProxyFactory) -> None:
    """The monitor sees no primary (server1's address points nowhere): 503 naming the service,
    exit status 1, while the listener itself is fine."""
    handle = start_proxy(
        {"server1": {"port": str(find_free_port())}}, tls=False, require_handshake=False
    )
    api = AdminApi.of_config(handle.config_path)
    reply = api.get("/v1/health")
    assert reply.status == 503, reply.body
    failed = [e["detail"] for e in reply.body["errors"]]
    assert len(failed) == 1 and failed[0].startswith(f"service:{SERVICE}: no usable primary")
    checks = {c["name"]: c["ok"] for c in reply.body["meta"]["checks"]}
    assert checks[f"listener:{LISTENER}"] is True and checks[f"service:{SERVICE}"] is False

    done = ctl("health", config=handle.config_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "no usable primary" in done.stderr


# -- the network lab --------------------------------------------------------------------------


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {done.stderr.strip()}")
    return done


def lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces, veths and keepalived need root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"`ip netns` is unavailable: {done.stderr.strip()}"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lab:
    tag: str  # ilv<pid>
    subnet: ipaddress.IPv4Network

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def namespaces(self) -> tuple[str, str]:
        return f"{self.tag}a", f"{self.tag}b"

    def host(self, index: int) -> str:
        return str(self.subnet[index])

    @property
    def bridge_ip(self) -> str:
        return self.host(1)

    def node_ip(self, ns: str) -> str:
        return self.host(11 + self.namespaces.index(ns))

    @property
    def vip(self) -> str:
        return self.host(100)

    def build(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        # bridged frames must not go through the host's iptables (br_netfilter)
        ip("link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0", check=False)
        ip("addr", "add", f"{self.bridge_ip}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for ns in self.namespaces:
            ip("netns", "add", ns)
            ip("link", "add", f"{ns}h", "type", "veth", "peer", "name", ns)
            ip("link", "set", ns, "netns", ns)
            ip("-n", ns, "link", "set", ns, "name", "vip0")
            ip("link", "set", f"{ns}h", "master", self.bridge, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip(
                "-n",
                ns,
                "addr",
                "add",
                f"{self.node_ip(ns)}/{self.subnet.prefixlen}",
                "dev",
                "vip0",
            )
            ip("-n", ns, "link", "set", "vip0", "up")

    def holders(self) -> list[str]:
        """The namespaces whose vip0 has the VIP now."""
        return [
            ns
            for ns in self.namespaces
            if f" {self.vip}/"
            in ip("-n", ns, "-4", "-o", "addr", "show", "dev", "vip0", check=False).stdout
        ]

    def destroy_namespaces(self) -> None:
        destroy_namespaces(self.tag)

    def destroy(self) -> None:
        destroy_lab(self.tag)


def destroy_namespaces(tag: str) -> None:
    """Kill what still runs in the namespaces (only processes this lab started live there)
    and delete them.  A namespace lives on while a closed TCP connection of its processes
    still waits for the peer, keeping its veth: the veth pairs are deleted too."""
    for ns in (f"{tag}a", f"{tag}b"):
        pids = ip("netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        for pid in pids:
            deadline = time.monotonic() + 10
            while _alive(int(pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
        ip("netns", "del", ns, check=False)
    deadline = time.monotonic() + 5
    while veths(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    for name in veths(tag):  # only when the namespace lingers
        ip("link", "del", name, check=False)


def veths(tag: str) -> list[str]:
    """The lab's veth ends in the root namespace."""
    names = re.findall(r"^\d+: ([^:@\s]+)", ip("-o", "link", "show").stdout, re.M)
    return [n for n in names if n in (f"{tag}ah", f"{tag}bh")]


def destroy_lab(tag: str) -> None:
    destroy_namespaces(tag)
    ip("link", "del", f"{tag}br", check=False)


def remove_stale_labs() -> None:
    """Labs of pytest runs that no longer exist (killed before their cleanup ran)."""
    found = set(re.findall(rf"^{PREFIX}(\d+)[ab]\b", ip("netns", "list").stdout, re.M))
    found |= set(re.findall(rf"\d+: {PREFIX}(\d+)br[:@]", ip("-o", "link", "show").stdout))
    for pid in found:
        if int(pid) != os.getpid() and not _alive(int(pid)):
            destroy_lab(f"{PREFIX}{pid}")


def free_subnet() -> ipaddress.IPv4Network:
    used = ip("-4", "-o", "addr", "show").stdout
    start = os.getpid() % 200
    for offset in range(250):
        third = 1 + (start + offset) % 250
        net = ipaddress.IPv4Network(f"10.231.{third}.0/24")
        if f" 10.231.{third}." not in used:
            return net
    pytest.fail("no free /24 in 10.231.0.0/16 on this host", pytrace=False)


@dataclass
class Node:
    ns: str
    dir: Path
    config: Path
    proxy: ProxyHandle
    keepalived: subprocess.Popen[bytes] | None = None

    @property
    def keepalived_log(self) -> str:
        path = self.dir / "keepalived.log"
        return path.read_text(errors="replace") if path.exists() else ""


def launch_in(ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``argv`` in namespace ``ns`` (``ip netns exec`` execs it: the pid is the program's),
    killed with this process if it dies."""
    with log.open("ab") as out:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_preexec(True),
        )


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def start_node(lab: Lab, sb: Sandbox, ns: str, root: Path) -> Node:
    directory = root / ns
    directory.mkdir()
    text = sb.render_config(
        listener_port=LISTEN_PORT,
        tls=False,
        admin_port=ADMIN_PORT,
        overrides={
            "maxscale": {
                "admin_host": "127.0.0.1",
                "datadir": str(directory / "state"),
                "persistdir": str(directory / "persist"),
            },
            LISTENER: {"address": "0.0.0.0"},  # the VIP too
            **PRIMARY_ONLY,
        },
    )  # every statement on the primary
    config = directory / "interlock.cnf"
    config.write_text(text)
    log = directory / "interlock.log"
    proc = launch_in(ns, [sys.executable, "-m", "interlock", "start", "-c", str(config)], log)
    handle = ProxyHandle(lab.node_ip(ns), LISTEN_PORT, config, proc, log)
    wait_ready(handle, timeout=60)  # from the root namespace, over the bridge
    wait_for(
        f"interlock in {ns} to be healthy",
        lambda: ctl("health", config=config, netns=ns).returncode == 0,
    )
    return Node(ns, directory, config, handle)


def start_keepalived(lab: Lab, node: Node, interlock: str) -> None:
    peers = ",".join(lab.node_ip(ns) for ns in lab.namespaces)
    made = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            node.ns,
            interlock,
            "keepalived-config",
            "--vip",
            f"{lab.vip}/{lab.subnet.prefixlen}",
            "--interface",
            "vip0",
            "--peers",
            peers,
            "--unicast",
            "-c",
            str(node.config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert f"unicast_src_ip {lab.node_ip(node.ns)}" in made.stdout  # found its own address
    conf = node.dir / "keepalived.conf"
    conf.write_text(made.stdout)
    checked = subprocess.run(
        ["ip", "netns", "exec", node.ns, "keepalived", "--config-test", "-f", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    pids = [
        f"--pid={node.dir / 'keepalived.pid'}",
        f"--vrrp_pid={node.dir / 'vrrp.pid'}",
        f"--checkers_pid={node.dir / 'checkers.pid'}",
    ]
    node.keepalived = launch_in(
        node.ns,
        [
            "keepalived",
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
            "-f",
            str(conf),
            *pids,
        ],
        node.dir / "keepalived.log",
    )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Lab, Sandbox, dict[str, Node], str]]:
    reason = lab_unavailable()
    if reason is not None:
        pytest.skip(reason)
    if shutil.which("keepalived") is None and not Path("/usr/sbin/keepalived").exists():
        pytest.fail(
            "keepalived is not installed: ./scripts/install-deps.sh test "
            "(apt-get install -y keepalived)",
            pytrace=False,
        )
    interlock = Path(sys.executable).parent / "interlock"
    assert interlock.exists(), f"no {interlock}: run the tests with `uv run pytest`"
    remove_stale_labs()
    lab = Lab(f"{PREFIX}{os.getpid()}", free_subnet())
    nodes: dict[str, Node] = {}
    sb: Sandbox | None = None
    try:
        lab.build()
        spec = SandboxSpec(
            tmp_path / "sb",
            replicas=1,
            base_port=find_free_block(2),
            proxy_port=find_free_port(),
            host=lab.bridge_ip,
        )
        sb = Sandbox(spec, die_with_parent=True)
        sb.up()
        for ns in lab.namespaces:
            nodes[ns] = start_node(lab, sb, ns, tmp_path)
        yield lab, sb, nodes, str(interlock)
    finally:
        for node in nodes.values():
            stop(node.keepalived)
        for node in nodes.values():
            node.proxy.stop()
        lab.destroy_namespaces()  # while the servers still answer: connections end cleanly
        if sb is not None:
            sb.destroy()
        lab.destroy()


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def sessions_from(node: Node, address: str) -> int:
    done = ctl("list", "sessions", "--json", config=node.config, netns=node.ns)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    return sum(1 for s in data if address in str(s["attributes"]["remote"]))


def connect_vip(lab: Lab, sb: Sandbox) -> Any:
    return pymysql.connect(
        host=lab.vip,
        port=LISTEN_PORT,
        user=sb.app_user,
        password=sb.app_password,
        database="app",
        autocommit=True,
        connect_timeout=3,
        read_timeout=10,
        write_timeout=10,
    )


def try_connect(lab: Lab, sb: Sandbox) -> Any:
    try:
        return connect_vip(lab, sb)
    except pymysql.err.OperationalError:
        return None


def test_vip_moves_when_the_active_interlock_dies(
    lab: tuple[Lab, Sandbox, dict[str, Node], str],
) -> None:
    net, sb, nodes, interlock = lab
    for node in nodes.values():
        start_keepalived(net, node, interlock)
    holders = wait_for(
        "one node to hold the VIP", lambda: found if len(found := net.holders()) == 1 else None
    )
    active = nodes[holders[0]]
    standby = next(n for n in nodes.values() if n is not active)

    conn = wait_for("a connection through the VIP", lambda: try_connect(net, sb))
    query(
        conn,
        "CREATE TABLE IF NOT EXISTS vip_probe (id INT AUTO_INCREMENT PRIMARY KEY, via VARCHAR(32))",
    )
    query(conn, f"INSERT INTO vip_probe (via) VALUES ('{active.ns}'), ('{active.ns}')")
    assert query(conn, "SELECT COUNT(*) FROM vip_probe") == [(2,)]
    assert sessions_from(active, net.bridge_ip) == 1  # the client went through the active one
    assert sessions_from(standby, net.bridge_ip) == 0

    active.proxy.process.send_signal(signal.SIGKILL)
    active.proxy.process.wait(30)
    killed_at = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError):  # its proxy is gone
        query(conn, "SELECT 1")
    conn.close()

    wait_for(
        "the VIP on the other node", lambda: net.holders() == [standby.ns], timeout=STEP_TIMEOUT
    )
    moved = time.monotonic() - killed_at
    conn = wait_for("a new connection through the VIP", lambda: try_connect(net, sb))
    reconnected = time.monotonic() - killed_at
    print(f"VIP moved {moved:.1f}s after the kill; client reconnected after {reconnected:.1f}s")
    try:
        assert query(conn, "SELECT COUNT(*) FROM vip_probe") == [(2,)]  # the same data
        query(conn, f"INSERT INTO vip_probe (via) VALUES ('{standby.ns}')")
        assert query(conn, "SELECT via, COUNT(*) FROM vip_probe GROUP BY via ORDER BY via") == [
            (active.ns, 2),
            (standby.ns, 1),
        ]
        assert sessions_from(standby, net.bridge_ip) == 1
    finally:
        conn.close()

    # the VIP left because the health check failed (FAULT), not because keepalived stopped
    assert active.keepalived is not None and active.keepalived.poll() is None
    assert "Entering FAULT STATE" in active.keepalived_log, active.keepalived_log[-3000:]
    assert "Entering MASTER STATE" in standby.keepalived_log, standby.keepalived_log[-3000:]
    dead = ctl("health", config=active.config, netns=active.ns)
    assert dead.returncode == 3, (dead.stdout, dead.stderr)
