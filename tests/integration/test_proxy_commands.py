"""Every command of issue 2 through the proxy, compared packet by packet with the primary itself.

Each scenario runs twice with :class:`tests.integration.rawclient.RawClient`: once against the
primary directly, once through Interlock, and records every response (sequence id + payload).
The two transcripts must be equal. Only what legitimately differs is normalised, each time at
the step that needs it: the numbers of COM_STATISTICS (uptime, counters), the random nonce of
the auth switch both the server and the proxy answer COM_CHANGE_USER with (sequence ids are
compared); prepared statement ids (a per-THD counter that survives in the server's thread
cache); and when a connection is killed, the ERR 1927 (SQLSTATE 08S01) naming the server that
the proxy sends before it closes (issue 2 asks for it when a backend connection is lost; the
server just closes, and a client library then reports 2013 itself). Connection ids never
appear in compared bytes: each side uses the id from its own handshake.

The second account (``cmd_other``) is created before a module-scoped proxy starts, so that
proxy has it loaded (the session proxy may have loaded its accounts earlier, and reloads on
an unknown user are rate-limited by ``users_refresh_time``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import mysql.connector
import pytest
from tests.integration.rawclient import (
    PeerClosed,
    RawClient,
    eof_status,
    error_of,
    execute_payload,
    fetch_payload,
    is_err,
    long_data_payload,
    ok_status,
    prepare_ok,
    stmt_id_payload,
    text_rows,
)

from interlock.sandbox import ConnParams, Sandbox
from interlock.sandbox import proxy as proxy_process
from interlock.sandbox.ports import find_free_port
from interlock.sandbox.proxy import ProxyHandle
from interlock.wire.constants import Command, CursorType, ServerStatus, SetOption
from interlock.wire.framing import Packet
from interlock.wire.packets import ErrPacket

OTHER_USER = "cmd_other"
OTHER_PASSWORD = "cmd-other-pw"
MIB = 1 << 20
PROXY_ID_BASE = 0x4000_0001


# -- transcripts -------------------------------------------------------------------------------


Normaliser = Callable[[list[Packet]], list[Any]]


def as_pairs(packets: list[Packet]) -> list[Any]:
    return [(p.seq, p.payload) for p in packets]


def statistics_numbers(packets: list[Packet]) -> list[Any]:
    """COM_STATISTICS: uptime, thread and query counters change from one call to the next."""
    return [(p.seq, re.sub(rb"\d+(\.\d+)?", b"N", p.payload)) for p in packets]


def prepared(packets: list[Packet]) -> list[Any]:
    """COM_STMT_PREPARE: statement ids come from a counter of the server's THD, which survives
    in the thread cache from one connection to the next: two fresh connections can get
    different ids.  Zero the id of the PREPARE_OK."""
    pairs = as_pairs(packets)
    if pairs and pairs[0][1][:1] == b"\x00":
        pairs[0] = (pairs[0][0], b"\x00" + b"\x00" * 4 + pairs[0][1][5:])
    return pairs


def stmt_error(stmt: int) -> Normaliser:
    """An ERR naming the statement id (``... handler (7) given to ...``): the id is masked."""

    def normalise(packets: list[Packet]) -> list[Any]:
        return [(seq, payload.replace(f"({stmt})".encode(), b"(STMT)"))
                for seq, payload in as_pairs(packets)]

    return normalise


def switch_nonce(packets: list[Packet]) -> list[Any]:
    """An auth switch to mysql_native_password carries a fresh random nonce: mask it."""
    marker = b"\xfemysql_native_password\x00"
    return [(seq, marker + b"<nonce>" if payload.startswith(marker) else payload)
            for seq, payload in as_pairs(packets)]


@dataclass
class Transcript:
    side: str
    steps: list[tuple[str, list[Any]]] = field(default_factory=list)

    def record(
        self, label: str, packets: list[Packet], normalise: Normaliser = as_pairs
    ) -> list[Packet]:
        self.steps.append((label, normalise(packets)))
        return packets

    def note(self, label: str, value: Any) -> None:
        """A derived observation (e.g. 'the peer closed the connection')."""
        self.steps.append((label, [value]))


def assert_same(direct: Transcript, proxy: Transcript) -> None:
    labels = [label for label, _ in direct.steps]
    assert [label for label, _ in proxy.steps] == labels, "the scenarios took different paths"
    for (label, want), (_, got) in zip(direct.steps, proxy.steps, strict=True):
        if want == got:
            continue
        lines = [f"step {label!r} differs (direct vs proxy):"]
        for i in range(max(len(want), len(got))):
            w = want[i] if i < len(want) else "<missing>"
            g = got[i] if i < len(got) else "<missing>"
            mark = "  " if w == g else "!="
            lines.append(f" {mark} [{i}] direct: {_short(w)}")
            lines.append(f" {mark} [{i}] proxy:  {_short(g)}")
        pytest.fail("\n".join(lines), pytrace=False)


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass(frozen=True)
class Side:
    name: str
    params: ConnParams

    def open(self, **kwargs: Any) -> RawClient:
        p = self.params
        user = kwargs.pop("user", p.user)
        password = kwargs.pop("password", p.password)
        database = kwargs.pop("database", p.database)
        return RawClient.connect(p.host, p.port, user, password, database, **kwargs)


Scenario = Callable[[Side, Transcript], None]


def compare(scenario: Scenario, direct: ConnParams, through: ConnParams) -> Transcript:
    """Run ``scenario`` directly and through the proxy; the transcripts must be equal."""
    expected = Transcript("direct")
    scenario(Side("direct", direct), expected)
    got = Transcript("proxy")
    scenario(Side("proxy", through), got)
    assert_same(expected, got)
    return expected


# -- fixtures ----------------------------------------------------------------------------------


def admin(sandbox: Sandbox) -> Any:
    return sandbox.connect(autocommit=True)


@pytest.fixture(scope="module")
def tables(sandbox: Sandbox) -> Iterator[None]:
    conn = admin(sandbox)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE TABLE test.cmd_fields ("
            " id INT UNSIGNED NOT NULL PRIMARY KEY,"
            " name VARCHAR(40) NOT NULL DEFAULT 'nobody',"
            " note TEXT, amount DECIMAL(10,2) DEFAULT 1.50,"
            " created DATETIME(3) DEFAULT '2024-01-02 03:04:05.678')"
        )
    yield
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS test.cmd_fields")
    conn.close()


@pytest.fixture(scope="module")
def other_account(sandbox: Sandbox) -> Iterator[str]:
    """A second account: mysql_native_password, ALL on `test`.* only."""
    conn = admin(sandbox)
    with conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{OTHER_USER}'@'%'")
        cur.execute(
            f"CREATE USER '{OTHER_USER}'@'%' IDENTIFIED VIA mysql_native_password"
            f" USING PASSWORD('{OTHER_PASSWORD}')"
        )
        cur.execute(f"GRANT ALL PRIVILEGES ON `test`.* TO '{OTHER_USER}'@'%'")
    yield OTHER_USER
    with conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{OTHER_USER}'@'%'")
    conn.close()


@pytest.fixture(scope="module")
def accounts_proxy(
    sandbox: Sandbox, other_account: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyHandle]:
    """A proxy started after ``other_account`` exists, so it has that account loaded."""
    directory = tmp_path_factory.mktemp("cmd-proxy")
    port = find_free_port()
    config = directory / "interlock.cnf"
    config.write_text(sandbox.render_config(listener_port=port))
    handle = proxy_process.start(config, "127.0.0.1", port, log_path=directory / "interlock.log")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def accounts_params(proxy_params: ConnParams, accounts_proxy: ProxyHandle) -> ConnParams:
    return proxy_params.with_(host=accounts_proxy.host, port=accounts_proxy.port)


@pytest.fixture(params=[True, False], ids=["deprecate_eof", "classic_eof"])
def deprecate_eof(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# -- COM_INIT_DB, COM_PING, COM_STATISTICS -----------------------------------------------------


def test_init_db(
    sandbox: Sandbox, direct_params: ConnParams, proxy_params: ConnParams
) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="app") as c:
            t.record("init_db test", c.exchange(Command.INIT_DB, b"test"))
            t.record("database()", c.query("SELECT DATABASE()"))
            # no rights on an unknown schema: the server says 1044, not 1049
            t.record("init_db unknown", c.exchange(Command.INIT_DB, b"cmd_no_such_schema"))
            t.record("database() after error", c.query("SELECT DATABASE()"))
        with side.open(session_track=True) as c:
            t.record("init_db tracked", c.exchange(Command.INIT_DB, b"app"))
        admin_side = side.params.with_(user=sandbox.admin_user, password=sandbox.admin_password)
        with Side(side.name, admin_side).open(database=None) as c:
            t.record("admin init_db unknown", c.exchange(Command.INIT_DB, b"cmd_no_such_schema"))
            t.record("admin init_db test", c.exchange(Command.INIT_DB, b"test"))

    transcript = compare(scenario, direct_params, proxy_params)
    steps = dict(transcript.steps)
    assert steps["init_db test"][0][1][0] == 0x00
    denied = error_of(Packet(*steps["init_db unknown"][0]))
    assert (denied.code, denied.sqlstate) == (1044, "42000")
    assert denied.message == "Access denied for user 'app'@'%' to database 'cmd_no_such_schema'"
    unknown = error_of(Packet(*steps["admin init_db unknown"][0]))
    assert (unknown.code, unknown.sqlstate) == (1049, "42000")
    assert unknown.message == "Unknown database 'cmd_no_such_schema'"
    assert b"app" in steps["init_db tracked"][0][1]  # the schema change is tracked


def test_ping(direct_params: ConnParams, proxy_params: ConnParams) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open() as c:
            t.record("ping", c.exchange(Command.PING))
            t.record("begin", c.query("BEGIN"))
            t.record("ping in transaction", c.exchange(Command.PING))
            t.record("rollback", c.query("ROLLBACK"))
            t.record("ping again", c.exchange(Command.PING))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    assert ok_status(steps["ping in transaction"][0][1]) & ServerStatus.IN_TRANS
    assert not ok_status(steps["ping again"][0][1]) & ServerStatus.IN_TRANS


def test_statistics(direct_params: ConnParams, proxy_params: ConnParams) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open() as c:
            t.record("statistics", c.exchange(Command.STATISTICS), statistics_numbers)
            t.record("statistics again", c.exchange(Command.STATISTICS), statistics_numbers)
            t.record("query after", c.query("SELECT 'after statistics'"))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    ((seq, text),) = steps["statistics"]
    assert seq == 1
    assert re.fullmatch(
        rb"Uptime: N  Threads: N  Questions: N  Slow queries: N  Opens: N  Open tables: N"
        rb"  Queries per second avg: N",
        text,
    ), text


# -- COM_FIELD_LIST ----------------------------------------------------------------------------


def test_field_list(
    tables: None, direct_params: ConnParams, proxy_params: ConnParams, deprecate_eof: bool
) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="test", deprecate_eof=deprecate_eof) as c:
            t.record("all fields", c.exchange(Command.FIELD_LIST, b"cmd_fields\0"))
            t.record("wildcard", c.exchange(Command.FIELD_LIST, b"cmd_fields\0n%"))
            t.record("no such table", c.exchange(Command.FIELD_LIST, b"cmd_nothing\0"))
            t.record("query after", c.query("SELECT 1"))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    fields = steps["all fields"]
    assert len(fields) == 6  # 5 column definitions + terminator
    assert all(b"cmd_fields" in payload for _, payload in fields[:5])
    assert fields[-1][1][0] == 0xFE
    assert len(steps["wildcard"]) == 3  # name, note + terminator
    assert error_of(Packet(*steps["no such table"][0])).code == 1146


# -- COM_SET_OPTION ----------------------------------------------------------------------------


def test_set_option_switches_multi_statements(
    direct_params: ConnParams, proxy_params: ConnParams, deprecate_eof: bool
) -> None:
    multi = b"SELECT 1 AS one; SELECT 'two' AS two"
    on = SetOption.MULTI_STATEMENTS_ON.to_bytes(2, "little")
    off = SetOption.MULTI_STATEMENTS_OFF.to_bytes(2, "little")

    def scenario(side: Side, t: Transcript) -> None:
        with side.open(deprecate_eof=deprecate_eof, multi_statements=False) as c:
            t.record("multi before", c.exchange(Command.QUERY, multi))
            t.record("option on", c.exchange(Command.SET_OPTION, on))
            t.record("multi on", c.exchange(Command.QUERY, multi))
            t.record("option off", c.exchange(Command.SET_OPTION, off))
            t.record("multi off", c.exchange(Command.QUERY, multi))
            t.record("single off", c.query("SELECT 3"))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    for label in ("multi before", "multi off"):
        err = error_of(Packet(*steps[label][0]))
        assert err.code == 1064, err
        assert "near 'SELECT 'two' AS two'" in err.message
    assert steps["option on"][0][1][0] == 0xFE  # EOF (an OK-0xFE under DEPRECATE_EOF)
    results = steps["multi on"]
    terminators = [p for _, p in results if p[0] == 0xFE]
    status = (ok_status if deprecate_eof else eof_status)(terminators[0 if deprecate_eof else 1])
    assert status & ServerStatus.MORE_RESULTS_EXISTS  # the first result says more follow
    assert any(p.endswith(b"\x03two") for _, p in results)


# -- prepared statements -----------------------------------------------------------------------


def test_prepare_long_data_execute_reset_close(
    direct_params: ConnParams, proxy_params: ConnParams, deprecate_eof: bool
) -> None:
    chunks = [bytes([0x41 + i]) * size for i, size in enumerate((400_000, 400_000, 248_576))]
    blob = b"".join(chunks)
    assert len(blob) == MIB
    sql = (b"SELECT LENGTH(d) AS n, SHA2(d, 256) AS digest, LEFT(d, 3) AS head"
           b" FROM (SELECT ? AS d) x")

    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="test", deprecate_eof=deprecate_eof) as c:
            stmt, _, _ = prepare_ok(
                t.record("prepare", c.exchange(Command.STMT_PREPARE, sql), prepared))
            # long data that COM_STMT_RESET must throw away
            c.exchange(Command.STMT_SEND_LONG_DATA, long_data_payload(stmt, 0, b"garbage"))
            t.record("reset discards", c.exchange(Command.STMT_RESET, stmt_id_payload(stmt)))
            for chunk in chunks:
                c.exchange(Command.STMT_SEND_LONG_DATA, long_data_payload(stmt, 0, chunk))
            c.assert_quiet(0.1)  # SEND_LONG_DATA has no response
            t.record("execute streamed", c.exchange(
                Command.STMT_EXECUTE, execute_payload(stmt, [None], long_data=[0])))
            t.record("reset", c.exchange(Command.STMT_RESET, stmt_id_payload(stmt)))
            t.record("execute inline", c.exchange(
                Command.STMT_EXECUTE, execute_payload(stmt, [b"inline value"])))
            c.exchange(Command.STMT_CLOSE, stmt_id_payload(stmt))
            t.record("execute closed", c.exchange(
                Command.STMT_EXECUTE, execute_payload(stmt, [b"x"])), stmt_error(stmt))
            t.record("reset closed", c.exchange(Command.STMT_RESET, stmt_id_payload(stmt)),
                     stmt_error(stmt))
            t.record("query after", c.query("SELECT 'still here'"))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    streamed = [payload for _, payload in steps["execute streamed"]]
    row = next(p for p in streamed if p[0] == 0x00 and len(p) > 60)  # the binary row
    assert row[2:6] == MIB.to_bytes(4, "little")  # LENGTH(): a binary INT after the bitmap
    assert hashlib.sha256(blob).hexdigest().encode() in row  # ... the digest is text
    assert b"AAA" in row and b"garbage" not in row
    inline = [payload for _, payload in steps["execute inline"]]
    assert any(hashlib.sha256(b"inline value").hexdigest().encode() in p for p in inline)
    assert steps["reset"][0][1][0] == 0x00
    for label in ("execute closed", "reset closed"):
        err = error_of(Packet(*steps[label][0]))
        assert err.code == 1243, err  # Unknown prepared statement handler


def test_cursor_fetch(
    direct_params: ConnParams, proxy_params: ConnParams, deprecate_eof: bool
) -> None:
    sql = b"SELECT seq, CONCAT('row-', seq) AS label FROM seq_1_to_10"

    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="test", deprecate_eof=deprecate_eof) as c:
            stmt, _, _ = prepare_ok(
                t.record("prepare", c.exchange(Command.STMT_PREPARE, sql), prepared))
            t.record("execute with cursor", c.exchange(
                Command.STMT_EXECUTE, execute_payload(stmt, cursor=CursorType.READ_ONLY)))
            for i in range(4):
                t.record(f"fetch {i}", c.exchange(Command.STMT_FETCH, fetch_payload(stmt, 4)),
                         stmt_error(stmt))
            t.record("plain execute", c.exchange(Command.STMT_EXECUTE, execute_payload(stmt)))
            c.exchange(Command.STMT_CLOSE, stmt_id_payload(stmt))
            t.record("fetch closed", c.exchange(Command.STMT_FETCH, fetch_payload(stmt, 4)),
                     stmt_error(stmt))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    opened = steps["execute with cursor"]
    assert len(opened) == 4  # column count, 2 definitions, terminator: no rows yet
    status_of = ok_status if deprecate_eof else eof_status
    assert status_of(opened[-1][1]) & ServerStatus.CURSOR_EXISTS
    sizes = [len(steps[f"fetch {i}"]) - 1 for i in range(3)]
    assert sizes == [4, 4, 2]
    assert status_of(steps["fetch 2"][-1][1]) & ServerStatus.LAST_ROW_SENT
    no_cursor = error_of(Packet(*steps["fetch 3"][0]))
    assert (no_cursor.code, no_cursor.message) == (1421, "The statement (STMT) has no open cursor")
    assert len(steps["plain execute"]) == 1 + 2 + (0 if deprecate_eof else 1) + 10 + 1
    assert error_of(Packet(*steps["fetch closed"][0])).code == 1243


# -- COM_RESET_CONNECTION ----------------------------------------------------------------------


def test_reset_connection(direct_params: ConnParams, proxy_params: ConnParams) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="test") as c:
            c.query("SET @cmd_var = 42")
            t.record("temporary table", c.query("CREATE TEMPORARY TABLE cmd_tmp (a INT)"))
            c.query("INSERT INTO cmd_tmp VALUES (1)")
            stmt, _, _ = prepare_ok(c.exchange(Command.STMT_PREPARE, b"SELECT 5"))
            t.record("begin", c.query("BEGIN"))
            t.record("variable before", c.query("SELECT @cmd_var"))
            t.record("reset", c.exchange(Command.RESET_CONNECTION))
            t.record("variable after", c.query("SELECT @cmd_var"))
            t.record("temporary table after", c.query("SELECT * FROM cmd_tmp"))
            t.record("statement after", c.exchange(Command.STMT_EXECUTE, execute_payload(stmt)),
                     stmt_error(stmt))
            t.record("database after", c.query("SELECT DATABASE(), CURRENT_USER()"))
            t.record("works", c.query("SELECT 'still works'"))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    reset = steps["reset"][0][1]
    assert reset[0] == 0x00 and not ok_status(reset) & ServerStatus.IN_TRANS
    assert steps["variable before"][-2][1] == b"\x0242"
    assert steps["variable after"][-2][1] == b"\xfb"  # NULL
    assert error_of(Packet(*steps["temporary table after"][0])).code == 1146
    assert error_of(Packet(*steps["statement after"][0])).code == 1243


# -- COM_CHANGE_USER ---------------------------------------------------------------------------


def _rows(pairs: list[Any]) -> list[tuple[bytes | None, ...]]:
    """Rows of a recorded text result set (the RawClient default: DEPRECATE_EOF)."""
    return text_rows([Packet(*pair) for pair in pairs], deprecate_eof=True)


def test_change_user(
    other_account: str, direct_params: ConnParams, accounts_params: ConnParams
) -> None:
    whoami = "SELECT CURRENT_USER(), USER() LIKE 'cmd_other@%', DATABASE(), @cmd_mark"

    def scenario(side: Side, t: Transcript) -> None:
        with side.open(database="app") as c:
            c.query("SET @cmd_mark = 'before'")
            t.record("to other", c.change_user(OTHER_USER, OTHER_PASSWORD), switch_nonce)
            t.record("whoami", c.query(whoami))
            t.record("to other with db",
                     c.change_user(OTHER_USER, OTHER_PASSWORD, "test"), switch_nonce)
            t.record("whoami with db", c.query(whoami))
            t.record("table in test", c.query("CREATE OR REPLACE TABLE test.cmd_cu (a INT)"))
            t.record("wrong password",
                     c.change_user(OTHER_USER, "not-the-password", "test"), switch_nonce)
            # the server keeps the connection, logged in as before: compare what is left
            try:
                t.record("whoami after refusal", c.query(whoami))
            except (ConnectionError, AssertionError) as exc:
                t.note("whoami after refusal", type(exc).__name__)
        with side.open(database="app") as c:
            # a client asking for another plugin is switched to mysql_native_password by both
            t.record("to other via another plugin", c.change_user(
                OTHER_USER, OTHER_PASSWORD, "test", plugin="caching_sha2_password"),
                switch_nonce)
            t.record("whoami via another plugin", c.query(whoami))
            t.record("wrong password via another plugin", c.change_user(
                OTHER_USER, "not-the-password", plugin="caching_sha2_password"), switch_nonce)
            t.record("whoami after that refusal", c.query(whoami))
        with side.open(database="app") as c:
            t.record("to other, no access to db",
                     c.change_user(OTHER_USER, OTHER_PASSWORD, "app"), switch_nonce)
            try:
                t.record("whoami after db refusal", c.query(whoami))
            except (ConnectionError, AssertionError) as exc:
                t.note("whoami after db refusal", type(exc).__name__)
            t.record("unknown user", c.change_user("cmd_nobody", "x"), switch_nonce)
            t.record("back to app", c.change_user(side.params.user, side.params.password, "app"),
                     switch_nonce)
            t.record("whoami back", c.query(whoami))
            t.record("drop", c.query("DROP TABLE test.cmd_cu"))

    steps = dict(compare(scenario, direct_params, accounts_params).steps)
    switch = (1, b"\xfemysql_native_password\x00<nonce>")
    assert steps["to other"] == [switch, (3, b"\x00\x00\x00\x02\x00\x00\x00")]
    assert _rows(steps["whoami"]) == [(b"cmd_other@%", b"1", None, None)]
    assert _rows(steps["whoami with db"]) == [(b"cmd_other@%", b"1", b"test", None)]
    # a refused COM_CHANGE_USER leaves the session as it was (MariaDB 10.11 does not close it)
    assert _rows(steps["whoami after refusal"]) == [(b"cmd_other@%", b"1", b"test", None)]
    assert _rows(steps["whoami after that refusal"]) == [(b"cmd_other@%", b"1", b"test", None)]
    assert _rows(steps["whoami after db refusal"]) == [(b"app@%", b"0", b"app", None)]
    refusal = steps["wrong password"]
    assert refusal == [switch, (
        3, b"\xff\x15\x04#28000Access denied for user 'cmd_other'@'127.0.0.1' (using password: YES)"
    )]
    assert steps["to other via another plugin"] == [
        (1, b"\xfemysql_native_password\x00<nonce>"), (3, b"\x00\x00\x00\x02\x00\x00\x00")]
    assert _rows(steps["whoami via another plugin"]) == [(b"cmd_other@%", b"1", b"test", None)]
    assert steps["wrong password via another plugin"][1] == refusal[1]
    no_db = steps["to other, no access to db"]
    assert no_db[0] == switch
    assert error_of(Packet(*no_db[1])).code == 1044
    denied_nobody = b"Access denied for user 'cmd_nobody'@'127.0.0.1' (using password: YES)"
    assert steps["unknown user"] == [switch, (3, b"\xff\x15\x04#28000" + denied_nobody)]
    assert _rows(steps["whoami back"]) == [(b"app@%", b"0", b"app", None)]


# -- COM_PROCESS_KILL --------------------------------------------------------------------------


def _wait_for_sleep(sandbox: Sandbox, thread_id: int) -> None:
    conn = admin(sandbox)
    try:
        for _ in range(200):
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                    " WHERE ID = %s AND INFO LIKE 'SELECT SLEEP%%'", (thread_id,)
                )
                if cur.fetchone()[0]:
                    return
            time.sleep(0.02)
    finally:
        conn.close()
    raise AssertionError(f"thread {thread_id} never started sleeping")


def _thread_exists(sandbox: Sandbox, thread_id: int) -> bool:
    conn = admin(sandbox)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                        (thread_id,))
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def _backend_thread(c: RawClient) -> int:
    value = c.value("SELECT CONNECTION_ID()")
    assert value is not None
    return int(value)


def _closed_after_response(c: RawClient, lost: list[ErrPacket]) -> str:
    """What follows a complete response when the connection is going away: the server closes
    it; the proxy may first send an ERR 1927 naming the server (it lost its backend: same
    rule as in :func:`_lost_outcome`, checked by the caller through ``lost``)."""
    rest = c.read_until_closed(10)
    if rest:
        length = int.from_bytes(rest[:3], "little")
        assert len(rest) == 4 + length, f"more than one packet after the response: {rest!r}"
        lost.append(error_of(Packet(rest[3], rest[4:])))
    return "closed"


def _lost_outcome(c: RawClient, lost: list[ErrPacket]) -> tuple[str, str, bytes]:
    """How a client sees its connection being killed during a query, as its error code.

    The server closes the connection without a word (the client library then reports
    CR_SERVER_LOST, 2013); the proxy, which lost its backend connection, sends an ERR naming
    the server first (issue 2: "a backend lost mid-session closes that session with an ERR
    naming the server"), with a server error code (1927, SQLSTATE 08S01: a CR_* code in an ERR
    packet is "2027 malformed packet" to libmariadb).  Both are "connection lost"; whatever
    follows must be the close itself.  The proxy's ERR packets are kept in ``lost`` for the
    caller to check.
    """
    try:
        packets = c.read_response()
    except PeerClosed as exc:
        return "connection lost", "closed", exc.received
    assert len(packets) == 1 and is_err(packets[0]), packets
    lost.append(error_of(packets[0]))
    return "connection lost", "closed", c.read_until_closed(10)


def test_process_kill_interrupts_another_session(
    sandbox: Sandbox, direct_params: ConnParams, proxy_params: ConnParams
) -> None:
    lost: list[ErrPacket] = []

    def scenario(side: Side, t: Transcript) -> None:
        victim = side.open()
        killer = side.open()
        try:
            thread = _backend_thread(victim)
            if side.name == "proxy":  # the proxy hands out its own ids, translated on KILL
                assert victim.connection_id >= PROXY_ID_BASE > thread
            victim.send(Command.QUERY, b"SELECT SLEEP(30)")
            _wait_for_sleep(sandbox, thread)
            # the id from the victim's handshake: the proxy's own id through the proxy
            t.record("kill", killer.exchange(
                Command.PROCESS_KILL, victim.connection_id.to_bytes(4, "little")))
            t.note("victim's outcome", _lost_outcome(victim, lost))
            t.record("killer still works", killer.query("SELECT 'killer'"))
            deadline = time.monotonic() + 5
            while _thread_exists(sandbox, thread) and time.monotonic() < deadline:
                time.sleep(0.05)
            t.note("victim's backend thread gone", not _thread_exists(sandbox, thread))
            # COM_PROCESS_KILL of one's own id: the server answers 1927 and closes
            t.record("kill self", killer.exchange(
                Command.PROCESS_KILL, killer.connection_id.to_bytes(4, "little")))
            t.note("killer then", _closed_after_response(killer, lost))
        finally:
            victim.close()
            killer.close()

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    assert steps["kill"][0][1][0] == 0x00
    assert steps["victim's outcome"] == [("connection lost", "closed", b"")]
    assert steps["victim's backend thread gone"] == [True]
    assert error_of(Packet(*steps["kill self"][0])).code == 1927  # Connection was killed
    for err in lost:  # only the proxy says something before closing
        assert (err.code, err.sqlstate) == (1927, "08S01"), err
        assert "server 'server1'" in err.message, err


# -- COM_QUIT ----------------------------------------------------------------------------------


def test_quit_closes_the_backend_connection_too(
    sandbox: Sandbox, direct_params: ConnParams, proxy_params: ConnParams
) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        c = side.open()
        thread = _backend_thread(c)
        assert _thread_exists(sandbox, thread)
        c.send(Command.QUIT)
        t.note("after COM_QUIT the peer sends", c.read_until_closed(5))
        c.close()
        deadline = time.monotonic() + 5
        while _thread_exists(sandbox, thread) and time.monotonic() < deadline:
            time.sleep(0.05)
        t.note("backend thread gone within 5 s", not _thread_exists(sandbox, thread))

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    assert steps["after COM_QUIT the peer sends"] == [b""]
    assert steps["backend thread gone within 5 s"] == [True]


# -- pipelining --------------------------------------------------------------------------------


def test_pipelined_commands(direct_params: ConnParams, proxy_params: ConnParams) -> None:
    def scenario(side: Side, t: Transcript) -> None:
        with side.open() as c:
            stmt, _, _ = prepare_ok(c.exchange(Command.STMT_PREPARE, b"SELECT ? + 1"))
            expected = c.send_many([
                (Command.QUERY, b"SELECT REPEAT('p', 300000) AS big, 1 AS n"),
                (Command.STMT_CLOSE, stmt_id_payload(stmt)),  # no response
                (Command.QUERY, b"SELEC 'oops'"),
                (Command.QUERY, b"SELECT 'third' AS n UNION ALL SELECT 'row 2'"),
            ])
            assert expected == 3
            for i in range(3):
                t.record(f"response {i}", c.read_response())
            c.assert_quiet(0.1)
            t.record("closed statement", c.exchange(
                Command.STMT_EXECUTE, execute_payload(stmt, [1])), stmt_error(stmt))
            # a second burst: commands that depend on each other's effects
            c.send_many([
                (Command.QUERY, b"SET @cmd_pipe = 7"),
                (Command.PING, b""),
                (Command.QUERY, b"SELECT @cmd_pipe * 6"),
            ])
            for i in range(3):
                t.record(f"burst 2 response {i}", c.read_response())
            # MariaDB's pipelined prepared statement: id 0xFFFFFFFF is "the last prepared"
            last = 0xFFFF_FFFF
            c.send_many([
                (Command.STMT_PREPARE, b"SELECT ? * 2 AS x"),
                (Command.STMT_EXECUTE, execute_payload(last, [21])),
                (Command.STMT_CLOSE, stmt_id_payload(last)),
                (Command.QUERY, b"SELECT 'after the statement'"),
            ])
            t.record("burst 3 prepare", c.read_response(), prepared)
            t.record("burst 3 execute", c.read_response())
            t.record("burst 3 query", c.read_response())

    steps = dict(compare(scenario, direct_params, proxy_params).steps)
    assert len(steps["response 0"][-2][1]) > 300_000
    assert error_of(Packet(*steps["response 1"][0])).code == 1064
    assert [p for _, p in steps["response 2"]][-3:-1] == [b"\x05third", b"\x05row 2"]
    assert error_of(Packet(*steps["closed statement"][0])).code == 1243
    assert steps["burst 2 response 2"][-2][1] == b"\x0242"
    assert steps["burst 3 execute"][-2][1] == b"\x00\x00" + (42).to_bytes(8, "little")


# -- a real client: mysql-connector-python (pure) ----------------------------------------------


def _connector_session(params: ConnParams) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    conn = mysql.connector.connect(
        host=params.host, port=params.port, user=params.user, password=params.password,
        database=params.database, use_pure=True, autocommit=True,
    )
    try:
        cur = conn.cursor()
        seen["ping"] = conn.cmd_ping()
        seen["init_db"] = conn.cmd_init_db("test")
        cur.execute("SELECT DATABASE()")
        seen["database"] = cur.fetchall()
        stats = conn.cmd_statistics()
        assert isinstance(stats, dict)
        seen["statistics keys"] = sorted(stats)
        cur.execute("SET @cmd_conn = 'set'")
        seen["reset"] = conn.cmd_reset_connection()
        cur = conn.cursor()
        cur.execute("SELECT @cmd_conn, DATABASE()")
        seen["after reset"] = cur.fetchall()
        seen["change_user"] = conn.cmd_change_user(
            username=OTHER_USER, password=OTHER_PASSWORD, database="test"
        )
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        seen["after change_user"] = cur.fetchall()
        with pytest.raises(mysql.connector.Error) as info:
            conn.cmd_change_user(username=OTHER_USER, password="wrong", database="test")
        seen["wrong password"] = (info.value.errno, info.value.sqlstate, info.value.msg)
        seen["ping at the end"] = conn.cmd_ping()
    finally:
        conn.close()
    return seen


def test_mysql_connector_commands(
    other_account: str, direct_params: ConnParams, accounts_params: ConnParams
) -> None:
    direct = _connector_session(direct_params)
    through = _connector_session(accounts_params)
    for key in direct:  # one by one first, for a readable failure
        assert through[key] == direct[key], key
    assert through == direct
    assert through["database"] == [("test",)]
    assert through["after reset"] == [(None, "test")]
    assert through["after change_user"] == [(f"{OTHER_USER}@%", "test")]
    assert through["wrong password"][0] == 1045
    assert "Uptime" in through["statistics keys"]
