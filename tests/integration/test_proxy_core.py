"""The proxy against real MariaDB servers: login, KILL, TLS, failures, flow control, load.

Every expectation that is about the server's behaviour is checked against a direct connection
to the primary where that is possible (e.g. the exact 1045 texts).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pymysql
import pytest

from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox.proxy import ProxyHandle

PROXY_ID_BASE = 0x4000_0001


def connect(params: ConnParams, **kwargs: Any) -> pymysql.Connection:  # type: ignore[type-arg]
    return pymysql.connect(**params.pymysql_kwargs(), connect_timeout=10, **kwargs)


def login_error(params: ConnParams, ssl: Any = None, **changes: Any) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        if ssl is not None:
            connect(params.with_(**changes), ssl=ssl)
        else:
            connect(params.with_(**changes))
    code, message = info.value.args[0], info.value.args[1]
    return code, message


def admin(sandbox: Sandbox) -> pymysql.Connection:  # type: ignore[type-arg]
    conn: pymysql.Connection = sandbox.connect(autocommit=True)  # type: ignore[type-arg]
    return conn


def scalar(conn: pymysql.Connection, sql: str) -> Any:  # type: ignore[type-arg]
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return row[0] if row else None


@pytest.fixture(scope="module")
def extra_accounts(sandbox: Sandbox) -> Iterator[None]:
    conn = admin(sandbox)
    with conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'farhost'@'10.11.12.13' IDENTIFIED BY 'far-pw'")
        cur.execute("CREATE USER IF NOT EXISTS 'sockuser'@'%' IDENTIFIED VIA unix_socket")
    yield
    with conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'farhost'@'10.11.12.13'")
        cur.execute("DROP USER IF EXISTS 'sockuser'@'%'")
    conn.close()


# -- login -------------------------------------------------------------------------------------


def test_right_password_logs_in(proxy_params: ConnParams) -> None:
    conn = connect(proxy_params)
    try:
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@%"
        assert scalar(conn, "SELECT DATABASE()") == "app"
        assert conn.thread_id() >= PROXY_ID_BASE  # the proxy's own connection id
        assert scalar(conn, "SELECT CONNECTION_ID()") < PROXY_ID_BASE  # the backend's
    finally:
        conn.close()


@pytest.mark.parametrize(
    "changes",
    [
        {"password": "wrong-password"},
        {"user": "no_such_user", "password": ""},
        {"user": "no_such_user", "password": "x"},
        {"user": "farhost", "password": "far-pw"},  # account exists, but not for this host
    ],
    ids=["wrong-password", "unknown-user-no-password", "unknown-user", "host-not-allowed"],
)
def test_access_denied_is_worded_as_the_server_does(
    extra_accounts: None, direct_params: ConnParams, proxy_params: ConnParams,
    changes: dict[str, str],
) -> None:
    direct = login_error(direct_params, **changes)
    through = login_error(proxy_params, **changes)
    assert direct[0] == 1045
    assert through == direct


def test_root_is_refused_unless_enabled(proxy_params: ConnParams) -> None:
    code, message = login_error(proxy_params, user="root", password="")
    assert code == 1045
    assert "enable_root_user" in message


def test_account_with_another_plugin_gets_a_clear_error(
    extra_accounts: None, proxy_params: ConnParams, start_proxy: Any, sandbox: Sandbox
) -> None:
    handle = start_proxy({"maxscale": {"users_refresh_time": "0s"}})
    code, message = login_error(
        proxy_params.with_(host=handle.host, port=handle.port), user="sockuser", password="x"
    )
    assert code == 1251
    assert "unix_socket" in message and "mysql_native_password" in message


def test_new_account_is_found_by_reloading(
    sandbox: Sandbox, proxy_params: ConnParams, start_proxy: Any
) -> None:
    handle = start_proxy({"maxscale": {"users_refresh_time": "0s"}})
    conn = admin(sandbox)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER 'late'@'%' IDENTIFIED BY 'late-pw'")
        late = connect(proxy_params.with_(host=handle.host, port=handle.port, user="late",
                                          password="late-pw", database=None))
        assert scalar(late, "SELECT CURRENT_USER()") == "late@%"
        late.close()
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'late'@'%'")
        conn.close()


def test_client_asking_for_another_plugin_is_switched(proxy_params: ConnParams) -> None:
    import mysql.connector

    conn = mysql.connector.connect(
        host=proxy_params.host, port=proxy_params.port, user=proxy_params.user,
        password=proxy_params.password, auth_plugin="caching_sha2_password", use_pure=True,
        ssl_disabled=True,
    )
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_USER()")
    assert cur.fetchall() == [("app@%",)]
    conn.close()


# -- KILL --------------------------------------------------------------------------------------


def _sleep_in_thread(conn: pymysql.Connection, seconds: int) -> dict[str, Any]:  # type: ignore[type-arg]
    result: dict[str, Any] = {}

    def run() -> None:
        start = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT SLEEP({seconds})")
                result["rows"] = cur.fetchall()
        except pymysql.err.MySQLError as exc:
            result["error"] = exc.args
        result["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=run)
    thread.start()
    result["thread"] = thread
    return result


def _wait_until_sleeping(sandbox: Sandbox, seconds: int) -> None:
    conn = admin(sandbox)
    try:
        for _ in range(100):
            n = scalar(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                             f" WHERE INFO = 'SELECT SLEEP({seconds})'")
            if n:
                return
            time.sleep(0.05)
    finally:
        conn.close()
    raise AssertionError("the SLEEP never started")


@pytest.mark.parametrize("statement", ["KILL QUERY {id}", "/* c */ kill soft query {id};"])
def test_kill_query_with_the_proxy_id_interrupts_the_query(
    sandbox: Sandbox, proxy_params: ConnParams, statement: str
) -> None:
    victim = connect(proxy_params)
    killer = connect(proxy_params)
    try:
        result = _sleep_in_thread(victim, 31)
        _wait_until_sleeping(sandbox, 31)
        with killer.cursor() as cur:
            cur.execute(statement.format(id=victim.thread_id()))
        result["thread"].join(20)
        assert result["error"] == (1317, "Query execution was interrupted")
        assert result["elapsed"] < 20
        assert scalar(victim, "SELECT 42") == 42  # the connection survives KILL QUERY
    finally:
        victim.close()
        killer.close()


def test_kill_connection_with_the_proxy_id(sandbox: Sandbox, proxy_params: ConnParams) -> None:
    victim = connect(proxy_params)
    killer = connect(proxy_params)
    try:
        result = _sleep_in_thread(victim, 32)
        _wait_until_sleeping(sandbox, 32)
        killer.kill(victim.thread_id())  # COM_PROCESS_KILL
        result["thread"].join(20)
        # the server's own "Connection was killed" or the proxy's 1927 naming the server
        assert result["error"][0] == 1927, result["error"]
        assert result["elapsed"] < 20
        assert scalar(killer, "SELECT 1") == 1
    finally:
        killer.close()


def test_kill_of_a_backend_thread_id_passes_through(
    sandbox: Sandbox, proxy_params: ConnParams
) -> None:
    victim = connect(proxy_params)
    killer = connect(proxy_params)
    try:
        backend_id = scalar(victim, "SELECT CONNECTION_ID()")
        result = _sleep_in_thread(victim, 33)
        _wait_until_sleeping(sandbox, 33)
        with killer.cursor() as cur:
            cur.execute(f"KILL QUERY {backend_id}")
        result["thread"].join(20)
        assert result["error"][0] == 1317
    finally:
        victim.close()
        killer.close()


def test_kill_of_an_unknown_proxy_id(proxy_params: ConnParams) -> None:
    conn = connect(proxy_params)
    unknown = PROXY_ID_BASE + 999_999
    try:
        with pytest.raises(pymysql.err.OperationalError) as info, conn.cursor() as cur:
            cur.execute(f"KILL {unknown}")
        assert info.value.args == (1094, f"Unknown thread id: {unknown}")
        with pytest.raises(pymysql.err.OperationalError) as info:
            conn.kill(unknown)
        assert info.value.args == (1094, f"Unknown thread id: {unknown}")
        assert scalar(conn, "SELECT 1") == 1
    finally:
        conn.close()


def _read_pty(fd: int, token: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            out += chunk
            if token in out:
                break
    return out


def test_mariadb_cli_ctrl_c_interrupts_sleep(proxy_params: ConnParams, sandbox: Sandbox) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp("mariadb", ["mariadb", *proxy_params.cli_args()])
    try:
        banner = _read_pty(fd, b"]> ", 15)
        assert b"]> " in banner, banner
        os.write(fd, b"SELECT SLEEP(60);\n")
        _wait_until_sleeping(sandbox, 60)
        start = time.monotonic()
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT, the CLI sends KILL QUERY
        answer = _read_pty(fd, b"]> ", 30)
        elapsed = time.monotonic() - start
        print(f"Ctrl-C to prompt: {elapsed:.3f}s")
        assert b"Query execution was interrupted" in answer, answer
        assert elapsed < 30
        os.write(fd, b"SELECT 'still here';\n")
        assert b"still here" in _read_pty(fd, b"]> ", 10)
        os.write(fd, b"exit\n")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)


# -- TLS ---------------------------------------------------------------------------------------


def _cli(params: ConnParams, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mariadb", *params.cli_args(), *args], capture_output=True, text=True, timeout=30
    )


def test_cli_with_ssl_reports_the_cipher(proxy_params: ConnParams) -> None:
    result = _cli(proxy_params, "--ssl", "-e", "status")
    assert result.returncode == 0, result.stderr
    assert "SSL:\t\t\tCipher in use is " in result.stdout


def test_tls_required_against_listener_without_tls(
    proxy_params: ConnParams, start_proxy: Any, sandbox: Sandbox
) -> None:
    handle = start_proxy(tls=False)
    params = proxy_params.with_(host=handle.host, port=handle.port)
    result = _cli(params, "--ssl-verify-server-cert", "-e", "status")
    assert result.returncode != 0
    assert "SSL is required, but the server does not support it" in result.stderr
    code, message = login_error(params, ssl={"ca": str(sandbox.tls_ca)})
    assert code == 2026
    assert "SSL" in message
    plain = _cli(params, "-e", "status")  # without TLS it works
    assert plain.returncode == 0 and "Not in use" in plain.stdout


def _recv_packet(sock: Any) -> tuple[int, bytes]:
    """One packet from a blocking socket or an SSL-wrapped one: (seq, payload)."""
    head = b""
    while len(head) < 4:
        head += sock.recv(4 - len(head))
    length = int.from_bytes(head[:3], "little")
    payload = b""
    while len(payload) < length:
        payload += sock.recv(length - len(payload))
    return head[3], payload


def test_tls_client_hello_in_the_same_segment_as_the_ssl_request(
    proxy: ProxyHandle, proxy_params: ConnParams
) -> None:
    """A client may send its TLS ClientHello right behind the SSL request, in one segment."""
    import ssl

    from interlock.wire.auth import scramble_native_password
    from interlock.wire.constants import Capability
    from interlock.wire.framing import encode_packet
    from interlock.wire.handshake import (
        HandshakeResponse41,
        build_handshake_response41,
        build_ssl_request,
        parse_handshake_v10,
    )

    raw = socket.create_connection((proxy.host, proxy.port), timeout=10)
    _, payload = _recv_packet(raw)
    handshake = parse_handshake_v10(payload)
    caps = (Capability.LONG_PASSWORD | Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION
            | Capability.PLUGIN_AUTH | Capability.SSL) & (handshake.capabilities
                                                          | Capability.LONG_PASSWORD)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    raw.sendall(encode_packet(build_ssl_request(caps, 1 << 24, 45), 1) + outgoing.read())
    while True:
        data = raw.recv(65536)
        assert data, "the proxy closed the connection during the TLS handshake"
        incoming.write(data)
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
    raw.sendall(outgoing.read())
    response = HandshakeResponse41(
        capabilities=caps, max_packet_size=1 << 24, charset=45, username=proxy_params.user,
        auth_response=scramble_native_password(proxy_params.password.encode(),
                                               handshake.nonce),
        auth_plugin="mysql_native_password",
    )
    tls.write(encode_packet(build_handshake_response41(response, handshake.capabilities), 2))
    raw.sendall(outgoing.read())
    answer = b""
    while len(answer) < 5:
        incoming.write(raw.recv(65536))
        try:
            answer += tls.read(65536)
        except ssl.SSLWantReadError:
            continue
    assert answer[3] == 3 and answer[4] == 0x00  # OK, sequence id 3
    raw.close()


# -- failures ----------------------------------------------------------------------------------


def test_no_primary_reachable_gives_an_error_within_the_timeout(
    proxy_params: ConnParams, start_proxy: Any, free_port: Any
) -> None:
    dead = free_port()
    handle = start_proxy(
        {
            "server1": {"port": str(dead)},
            "Read-Write-Service": {"backend_connect_timeout": "1s"},
        }
    )
    start = time.monotonic()
    code, message = login_error(proxy_params.with_(host=handle.host, port=handle.port))
    elapsed = time.monotonic() - start
    print(f"refused backend: error after {elapsed:.3f}s: {message}")
    assert code == 1927  # ER_CONNECTION_KILLED, SQLSTATE 08S01 (server/errors.py)
    assert message.startswith(f"Can't connect to server 'server1' at 127.0.0.1:{dead}: ")
    assert elapsed < 10


def test_silent_primary_times_out(
    proxy_params: ConnParams, sandbox: Sandbox, start_proxy: Any
) -> None:
    # a "server" that accepts TCP connections and never sends a handshake
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts TCP (backlog), never says anything
    try:
        port = silent.getsockname()[1]
        handle = start_proxy(
            {
                "server1": {"port": str(port)},
                "Read-Write-Service": {"backend_connect_timeout": "1s"},
            },
        )
        start = time.monotonic()
        code, message = login_error(proxy_params.with_(host=handle.host, port=handle.port))
        elapsed = time.monotonic() - start
        print(f"silent backend: error after {elapsed:.3f}s: {message}")
        assert code == 1927
        assert "timed out after 1s" in message
        assert elapsed < 10
    finally:
        silent.close()


def test_backend_connection_killed_mid_session(sandbox: Sandbox, proxy_params: ConnParams) -> None:
    conn = connect(proxy_params)
    adm = admin(sandbox)
    try:
        backend_id = scalar(conn, "SELECT CONNECTION_ID()")
        with adm.cursor() as cur:
            cur.execute(f"KILL CONNECTION {backend_id}")
        time.sleep(0.3)
        with pytest.raises(pymysql.err.OperationalError) as info:
            scalar(conn, "SELECT 1")
        code, message = info.value.args
        assert code == 1927
        assert "server1" in message
        # a killed backend in the middle of a query
        conn = connect(proxy_params)
        backend_id = scalar(conn, "SELECT CONNECTION_ID()")
        result = _sleep_in_thread(conn, 34)
        _wait_until_sleeping(sandbox, 34)
        with adm.cursor() as cur:
            cur.execute(f"KILL CONNECTION {backend_id}")
        result["thread"].join(20)
        assert result["error"][0] == 1927
        assert "Lost connection to backend server 'server1'" in result["error"][1]
    finally:
        adm.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
        b"\xff\xff\xff\x01" + b"\x00" * 64,  # claims a 16 MiB handshake response
        b"\x05\x00\x00\x01\x00\x00\x00\x00\x00",  # too short to be a handshake response
    ],
    ids=["http", "huge-length", "truncated"],
)
def test_garbage_ends_only_that_session(proxy: ProxyHandle, proxy_params: ConnParams,
                                        garbage: bytes) -> None:
    other = connect(proxy_params)
    try:
        with socket.create_connection((proxy.host, proxy.port), timeout=15) as sock:
            sock.recv(4096)  # the handshake
            sock.sendall(garbage)
            answer = sock.recv(4096)
        assert answer[4] == 0xFF  # an ERR packet
        assert int.from_bytes(answer[5:7], "little") == 1043
        assert b"Bad handshake" in answer
        assert scalar(other, "SELECT 7") == 7
        assert scalar(connect(proxy_params), "SELECT 8") == 8
    finally:
        other.close()


def test_unknown_command_is_refused(proxy_params: ConnParams) -> None:
    conn = connect(proxy_params)
    try:
        conn._execute_command(0x12, b"\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00")  # BINLOG_DUMP
        with pytest.raises(pymysql.err.OperationalError) as info:
            conn._read_packet()
        assert info.value.args == (1047, "Unknown command")
        assert scalar(conn, "SELECT 9") == 9
    finally:
        conn.close()


# -- flow control and load ---------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_client_that_stops_reading_keeps_proxy_memory_bounded(
    proxy: ProxyHandle, proxy_params: ConnParams, use_tls: bool
) -> None:
    rows, width = 200, 1_000_000  # a 200 MB result
    conn = connect(proxy_params, ssl_disabled=not use_tls)
    try:
        before = _rss_kib(proxy.pid)
        conn._execute_command(3, f"SELECT REPEAT('x', {width}) FROM seq_1_to_{rows}".encode())
        time.sleep(3)  # the client reads nothing meanwhile
        held = _rss_kib(proxy.pid)
        growth_mib = (held - before) / 1024
        print(f"proxy RSS {before} KiB -> {held} KiB while the client does not read")
        assert growth_mib < 40
        # and when the client reads again, every row arrives intact
        result = pymysql.connections.MySQLResult(conn)
        result.read()
        assert len(result.rows) == rows
        assert all(len(row[0]) == width for row in result.rows)
    finally:
        conn.close()


CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, pymysql
    conn = pymysql.connect(host=sys.argv[1], port=int(sys.argv[2]), user=sys.argv[3],
                           password=sys.argv[4], database=sys.argv[5], ssl_disabled=True)
    cur = conn.cursor(pymysql.cursors.SSCursor)
    cur.execute("SELECT seq, REPEAT('y', 10000) FROM seq_1_to_1000000")
    print("reading", flush=True)
    for row in cur:
        pass
    """
)


def test_500_sessions_and_a_client_killed_mid_result(
    proxy: ProxyHandle, proxy_params: ConnParams
) -> None:
    def open_and_query(i: int) -> Any:
        conn = connect(proxy_params, ssl_disabled=i % 2 == 0)
        assert scalar(conn, f"SELECT {i}") == i
        return conn

    with ThreadPoolExecutor(max_workers=32) as pool:
        conns = list(pool.map(open_and_query, range(500)))
    try:
        victim = subprocess.Popen(
            [sys.executable, "-c", CLIENT_SCRIPT, proxy_params.host, str(proxy_params.port),
             proxy_params.user, proxy_params.password, proxy_params.database or "app"],
            stdout=subprocess.PIPE, text=True,
        )
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "reading"
        time.sleep(0.5)
        victim.kill()
        victim.wait(10)

        def query_again(item: tuple[int, Any]) -> int:
            i, conn = item
            return int(scalar(conn, f"SELECT {i} + 1"))

        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(query_again, enumerate(conns)))
        assert answers == [i + 1 for i in range(500)]
        assert proxy.running()
    finally:
        for conn in conns:
            conn.close()
