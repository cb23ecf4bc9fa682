"""Capture real MariaDB responses as byte fixtures for the wire tests (not a test module).

Usage, against a throwaway MariaDB 10.11 on 127.0.0.1 with binary logging (for last_gtid)::

    mariadb-install-db --no-defaults --datadir=/tmp/wirecap --user=root
    mariadbd --no-defaults --user=root --datadir=/tmp/wirecap --port=13401 \\
        --bind-address=127.0.0.1 --socket=/tmp/wirecap.sock --log-bin=/tmp/wirecap/binlog \\
        --server-id=1 &
    mariadb -S /tmp/wirecap.sock -uroot -e "CREATE USER cap@127.0.0.1 IDENTIFIED BY 'secret';
        GRANT ALL ON *.* TO cap@127.0.0.1; CREATE USER nopw@127.0.0.1;
        GRANT ALL ON *.* TO nopw@127.0.0.1; SET GLOBAL local_infile=1"
    uv run python tests/unit/wire/capture.py --setup          # every scenario
    uv run python tests/unit/wire/capture.py --dump text_eof  # read a fixture
    uv run python tests/unit/wire/capture.py --relay mariadb_cli -- \\
        mariadb --skip-ssl -h127.0.0.1 -PPORT -ucap -psecret wt -e "select 1"

The schema it expects (``wt.t``, ``wt.big``, ``wt.li``, procedures ``wt.p`` and ``wt.p_out``)
is created by ``--setup``.  Every scenario runs on a fresh connection and is written to
``data/<name>.hex``: one step per line, ``caps <hex>`` (the negotiated capabilities), ``cmd
<hex>`` (a command payload the client sent), ``server <hex>`` (raw bytes the server sent, with
packet headers, read until the server stayed quiet for a moment), ``client <hex>`` (raw framed
bytes the client sent during LOCAL INFILE).  Reading "until quiet" keeps the fixtures
independent of the ResponseTracker under test.
"""

from __future__ import annotations

import argparse
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from interlock.wire.auth import scramble_native_password
from interlock.wire.constants import Capability, Command
from interlock.wire.framing import Packet, PacketBuffer, encode_packet
from interlock.wire.handshake import (
    HandshakeResponse41,
    build_handshake_response41,
    parse_handshake_v10,
)

DATA = Path(__file__).parent / "data"
QUIET = 0.4

BASE_CAPS = (
    Capability.PROTOCOL_41
    | Capability.SECURE_CONNECTION
    | Capability.PLUGIN_AUTH
    | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA
    | Capability.CONNECT_ATTRS
    | Capability.CONNECT_WITH_DB
    | Capability.MULTI_STATEMENTS
    | Capability.MULTI_RESULTS
    | Capability.PS_MULTI_RESULTS
    | Capability.LOCAL_FILES
    | Capability.TRANSACTIONS
    | Capability.SESSION_TRACK
    | Capability.LONG_FLAG
)
EOF_CAPS = BASE_CAPS
DEPRECATE_CAPS = BASE_CAPS | Capability.DEPRECATE_EOF
MARIADB_CAPS = (
    DEPRECATE_CAPS
    | Capability.MARIADB_CLIENT_STMT_BULK_OPERATIONS
    | Capability.MARIADB_CLIENT_EXTENDED_METADATA
    | Capability.MARIADB_CLIENT_CACHE_METADATA
)

SETUP = [
    "DROP DATABASE IF EXISTS wt",
    "CREATE DATABASE wt",
    "CREATE TABLE wt.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20), n INT)",
    "INSERT INTO wt.t (v, n) VALUES ('one',1),('two',2),('three',3),('four',4),('five',5)",
    "CREATE TABLE wt.li (a INT, b VARCHAR(20))",
    "CREATE TABLE wt.big (id INT PRIMARY KEY, v VARCHAR(40))",
    "INSERT INTO wt.big SELECT seq, CONCAT('row-', seq, '-', REPEAT('x', 20))"
    " FROM wt.seq_1_to_1000",
    "CREATE PROCEDURE wt.p() BEGIN SELECT id, v FROM wt.t WHERE id <= 2 ORDER BY id;"
    " SELECT COUNT(*) AS c FROM wt.t; END",
    "CREATE PROCEDURE wt.p_out(IN a INT, OUT x INT) BEGIN SET x = a * 2; END",
]


class Conn:
    def __init__(self, args: argparse.Namespace, caps: Capability, db: str = "wt") -> None:
        self.sock = socket.create_connection(("127.0.0.1", args.port))
        self.sock.settimeout(QUIET)
        self.steps: list[str] = []
        buf = PacketBuffer()
        greeting = self._next(buf)
        hs = parse_handshake_v10(greeting.payload)
        self.greeting = greeting.payload
        self.caps = Capability(caps & hs.capabilities)
        auth = scramble_native_password(args.password.encode(), hs.nonce)
        resp = HandshakeResponse41(
            self.caps, 1 << 30, 45, args.user, auth, db, "mysql_native_password",
            (("_client_name", "interlock-capture"),),
        )
        self.sock.sendall(encode_packet(build_handshake_response41(resp, hs.capabilities), 1))
        ok = self._next(buf)
        if ok.payload[:1] != b"\x00":
            raise SystemExit(f"login failed: {ok.payload!r}")
        self.steps.append(f"caps {int(self.caps):x}")

    def _next(self, buf: PacketBuffer) -> Packet:
        self.sock.settimeout(5)
        try:
            while (packet := buf.next_packet()) is None:
                buf.feed(self.sock.recv(65536))
            return packet
        finally:
            self.sock.settimeout(QUIET)

    def drain(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def command(self, payload: bytes, record: bool = True) -> bytes:
        self.sock.sendall(encode_packet(payload, 0))
        data = self.drain()
        if record:
            self.steps.append(f"cmd {payload.hex()}")
            if data:
                self.steps.append(f"server {data.hex()}")
        return data

    def query(self, sql: str, record: bool = True) -> bytes:
        return self.command(bytes((Command.QUERY,)) + sql.encode(), record)

    def client_send(self, raw: bytes) -> bytes:
        self.sock.sendall(raw)
        data = self.drain()
        self.steps.append(f"client {raw.hex()}")
        if data:
            self.steps.append(f"server {data.hex()}")
        return data

    def prepare(self, sql: str, record: bool = True) -> int:
        data = self.command(bytes((Command.STMT_PREPARE,)) + sql.encode(), record)
        if data[4] != 0:
            raise SystemExit(f"prepare failed: {data!r}")
        return int(struct.unpack_from("<I", data, 5)[0])

    def save(self, name: str) -> None:
        (DATA / f"{name}.hex").write_text("\n".join(self.steps) + "\n")
        self.sock.close()
        print(f"wrote {name}.hex ({len(self.steps)} steps)")


def execute_payload(stmt: int, flags: int = 0, params: bytes = b"") -> bytes:
    return struct.pack("<BIBI", Command.STMT_EXECUTE, stmt, flags, 1) + params


def int_and_str_params(i: int, s: str) -> bytes:
    # null bitmap (1 byte), new-params-bound 1, types LONG(3) and VAR_STRING(253), values
    raw = s.encode()
    values = struct.pack("<i", i) + bytes((len(raw),)) + raw
    return b"\x00\x01" + struct.pack("<HH", 3, 253) + values


def fetch_payload(stmt: int, rows: int) -> bytes:
    return struct.pack("<BII", Command.STMT_FETCH, stmt, rows)


Scenario = Callable[[argparse.Namespace], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def handshake(args: argparse.Namespace) -> None:
    c = Conn(args, MARIADB_CAPS)
    (DATA / "handshake_v10.hex").write_text(c.greeting.hex() + "\n")
    c.sock.close()
    print("wrote handshake_v10.hex")


def _text_result(args: argparse.Namespace, caps: Capability, name: str) -> None:
    c = Conn(args, caps)
    c.query("SELECT id, v, n FROM wt.t ORDER BY id")
    c.query("SELECT id, v FROM wt.t WHERE id < 0")  # empty result set
    c.save(name)


@scenario
def text_eof(args: argparse.Namespace) -> None:
    _text_result(args, EOF_CAPS, "text_eof")


@scenario
def text_deprecate_eof(args: argparse.Namespace) -> None:
    _text_result(args, DEPRECATE_CAPS, "text_deprecate_eof")


@scenario
def text_cache_metadata(args: argparse.Namespace) -> None:
    _text_result(args, MARIADB_CAPS, "text_cache_metadata")


@scenario
def big_result(args: argparse.Namespace) -> None:
    for caps, name in ((EOF_CAPS, "big_result_eof"), (DEPRECATE_CAPS, "big_result_deprecate")):
        c = Conn(args, caps)
        c.query("SELECT id, v FROM wt.big ORDER BY id")
        c.save(name)


def _multi(args: argparse.Namespace, caps: Capability, name: str) -> None:
    c = Conn(args, caps)
    c.query("SELECT 1; SELECT id, v FROM wt.t WHERE id <= 2; UPDATE wt.t SET n = n WHERE id = 1;"
            " SELECT 'x' AS last")
    c.query("SELECT 1; SELECT * FROM wt.nope; SELECT 2")  # error ends the chain
    c.query("CALL wt.p()")
    c.save(name)


@scenario
def multi_eof(args: argparse.Namespace) -> None:
    _multi(args, EOF_CAPS, "multi_eof")


@scenario
def multi_deprecate_eof(args: argparse.Namespace) -> None:
    _multi(args, DEPRECATE_CAPS, "multi_deprecate_eof")


@scenario
def errors(args: argparse.Namespace) -> None:
    for caps, name in ((EOF_CAPS, "errors_eof"), (DEPRECATE_CAPS, "errors_deprecate_eof")):
        c = Conn(args, caps)
        c.query("SELECT * FROM wt.nope")
        # rows 1-3 are sent, then the scalar subquery returns 2 rows: ERR after rows
        c.query("SELECT id, (SELECT v FROM wt.t t2 WHERE t2.id <= t1.id - 2) AS s"
                " FROM wt.t t1 ORDER BY id")
        c.save(name)


def _prepared(args: argparse.Namespace, caps: Capability, name: str) -> None:
    c = Conn(args, caps)
    stmt = c.prepare("SELECT id, v FROM wt.t WHERE id > ? AND v <> ?")
    c.command(execute_payload(stmt, 0, int_and_str_params(1, "three")))
    c.command(execute_payload(stmt, 0, int_and_str_params(1, "three")))  # metadata cached?
    ins = c.prepare("INSERT INTO wt.li (a, b) VALUES (?, ?)")
    c.command(execute_payload(ins, 0, int_and_str_params(7, "seven")))
    c.command(bytes((Command.STMT_SEND_LONG_DATA,)) + struct.pack("<IH", ins, 1) + b"long")
    c.command(bytes((Command.STMT_RESET,)) + struct.pack("<I", ins))
    c.command(bytes((Command.STMT_CLOSE,)) + struct.pack("<I", ins))
    c.command(execute_payload(ins, 0, int_and_str_params(7, "seven")))  # unknown handler: ERR
    c.command(bytes((Command.STMT_PREPARE,)) + b"SELEKT 1")  # prepare error
    call = c.prepare("CALL wt.p()")
    c.command(execute_payload(call))
    out = c.prepare("CALL wt.p_out(?, ?)")
    c.command(execute_payload(out, 0, b"\x00\x01" + struct.pack("<HH", 3, 3)
                              + struct.pack("<ii", 21, 0)))
    c.save(name)


@scenario
def prepared_eof(args: argparse.Namespace) -> None:
    _prepared(args, EOF_CAPS, "prepared_eof")


@scenario
def prepared_deprecate_eof(args: argparse.Namespace) -> None:
    _prepared(args, DEPRECATE_CAPS, "prepared_deprecate_eof")


@scenario
def prepared_cache_metadata(args: argparse.Namespace) -> None:
    _prepared(args, MARIADB_CAPS, "prepared_cache_metadata")


@scenario
def prepared_cache_metadata_eof(args: argparse.Namespace) -> None:
    _prepared(args, MARIADB_CAPS & ~Capability.DEPRECATE_EOF, "prepared_cache_metadata_eof")


@scenario
def cursor_cache_metadata(args: argparse.Namespace) -> None:
    for caps, name in ((MARIADB_CAPS, "cursor_cache_metadata"),
                       (MARIADB_CAPS & ~Capability.DEPRECATE_EOF, "cursor_cache_metadata_eof")):
        c = Conn(args, caps)
        stmt = c.prepare("SELECT id, v FROM wt.t ORDER BY id")
        for _ in range(2):
            c.command(execute_payload(stmt, 1))
            c.command(fetch_payload(stmt, 4))
            c.command(fetch_payload(stmt, 4))
        c.save(name)


@scenario
def wide(args: argparse.Namespace) -> None:
    """300 columns: the column count is a 3-byte length-encoded integer (0xFC prefix)."""
    for caps, name in ((EOF_CAPS, "wide_eof"), (MARIADB_CAPS, "wide_cache_metadata")):
        c = Conn(args, caps)
        c.query("SELECT " + ", ".join(str(i) for i in range(300)))
        c.save(name)


def _cursor(args: argparse.Namespace, caps: Capability, name: str) -> None:
    c = Conn(args, caps)
    stmt = c.prepare("SELECT id, v FROM wt.t ORDER BY id")
    c.command(execute_payload(stmt, 1))  # CURSOR_TYPE_READ_ONLY
    c.command(fetch_payload(stmt, 2))
    c.command(fetch_payload(stmt, 2))
    c.command(fetch_payload(stmt, 2))  # last row + LAST_ROW_SENT
    c.command(fetch_payload(stmt, 2))  # no cursor any more: ERR
    c.save(name)


@scenario
def cursor_eof(args: argparse.Namespace) -> None:
    _cursor(args, EOF_CAPS, "cursor_eof")


@scenario
def cursor_deprecate_eof(args: argparse.Namespace) -> None:
    _cursor(args, DEPRECATE_CAPS, "cursor_deprecate_eof")


@scenario
def bulk(args: argparse.Namespace) -> None:
    c = Conn(args, MARIADB_CAPS)
    stmt = c.prepare("INSERT INTO wt.li (a, b) VALUES (?, ?)")
    rows = b"".join(b"\x00" + struct.pack("<i", i) + b"\x00\x01" + bytes((48 + i,))
                    for i in range(3))
    c.command(struct.pack("<BIH", Command.STMT_BULK_EXECUTE, stmt, 128)
              + struct.pack("<HH", 3, 253) + rows)
    c.save("bulk")


@scenario
def local_infile(args: argparse.Namespace) -> None:
    for caps, name in ((EOF_CAPS, "infile_eof"), (DEPRECATE_CAPS, "infile_deprecate_eof")):
        c = Conn(args, caps)
        c.query("LOAD DATA LOCAL INFILE '/tmp/interlock-capture.csv' INTO TABLE wt.li"
                " FIELDS TERMINATED BY ','")
        content = b"1,one\n2,two\n3,three\n"
        c.client_send(encode_packet(content[:9], 2) + encode_packet(content[9:], 3)
                      + encode_packet(b"", 4))
        c.save(name)


@scenario
def infile_multi(args: argparse.Namespace) -> None:
    """LOAD DATA LOCAL INFILE inside a multi-statement: its OK has MORE_RESULTS_EXISTS."""
    c = Conn(args, DEPRECATE_CAPS)
    c.query("LOAD DATA LOCAL INFILE 'multi.csv' INTO TABLE wt.li FIELDS TERMINATED BY ',';"
            " SELECT COUNT(*) FROM wt.li")
    c.client_send(encode_packet(b"4,four\n", 2) + encode_packet(b"", 3))
    c.save("infile_multi")


def _simple(args: argparse.Namespace, caps: Capability, name: str) -> None:
    c = Conn(args, caps)
    c.command(bytes((Command.PING,)))
    c.command(bytes((Command.INIT_DB,)) + b"wt")
    c.command(bytes((Command.INIT_DB,)) + b"nope")
    c.command(bytes((Command.FIELD_LIST,)) + b"t\x00")
    c.command(bytes((Command.FIELD_LIST,)) + b"nope\x00")
    c.command(bytes((Command.STATISTICS,)))
    c.command(bytes((Command.SET_OPTION,)) + struct.pack("<H", 0))
    c.command(bytes((Command.PROCESS_KILL,)) + struct.pack("<I", 999999))
    c.command(bytes((Command.REFRESH,)) + b"\x00")
    c.command(bytes((Command.DEBUG,)))
    c.command(bytes((Command.CREATE_DB,)) + b"wt_tmp")
    c.command(bytes((Command.DROP_DB,)) + b"wt_tmp")
    c.command(bytes((Command.RESET_CONNECTION,)))
    c.command(bytes((0x60,)))  # unknown command
    c.save(name)


@scenario
def simple_eof(args: argparse.Namespace) -> None:
    _simple(args, EOF_CAPS, "simple_eof")


@scenario
def simple_deprecate_eof(args: argparse.Namespace) -> None:
    _simple(args, DEPRECATE_CAPS, "simple_deprecate_eof")


@scenario
def session_track(args: argparse.Namespace) -> None:
    c = Conn(args, DEPRECATE_CAPS)
    c.query("SET SESSION session_track_system_variables='last_gtid,autocommit'")
    c.query("SET SESSION session_track_schema=ON")
    c.query("SET SESSION session_track_state_change=ON")
    c.query("SET SESSION session_track_transaction_info='CHARACTERISTICS'")
    c.query("INSERT INTO wt.t (v, n) VALUES ('tracked', 6)")
    c.query("USE mysql")
    c.query("START TRANSACTION READ ONLY")
    c.query("SELECT 1")
    c.query("COMMIT")
    c.query("SET autocommit=0")
    c.query("UPDATE wt.t SET n = n + 1 WHERE id = 1")
    c.query("ROLLBACK")
    c.save("session_track")


@scenario
def transactions(args: argparse.Namespace) -> None:
    c = Conn(args, EOF_CAPS)
    c.query("BEGIN")
    c.query("SELECT id FROM wt.t WHERE id = 1 FOR UPDATE")
    c.query("UPDATE wt.t SET n = n WHERE id = 1")
    c.query("COMMIT")
    c.query("START TRANSACTION READ ONLY")
    c.query("SELECT 1")
    c.query("COMMIT")
    c.save("transactions")


def setup(args: argparse.Namespace) -> None:
    c = Conn(args, DEPRECATE_CAPS, db="")
    for sql in SETUP:
        c.query(sql, record=False)


def relay(args: argparse.Namespace, label: str, client_cmd: list[str]) -> None:
    """Run a real client through a recording TCP relay; save its connection-phase packets.

    Writes ``data/client_<label>.hex`` with lines ``greeting <hex>`` (the server's handshake
    payload), ``response <hex>`` (the client's HandshakeResponse41 payload) and
    ``change_user <hex>`` (COM_CHANGE_USER payloads, if the client sent any).
    """
    import subprocess
    import threading

    listener = socket.create_server(("127.0.0.1", args.relay_port))
    recorded: dict[str, bytearray] = {"client": bytearray(), "server": bytearray()}

    def pump(src: socket.socket, dst: socket.socket, key: str) -> None:
        while chunk := src.recv(65536):
            recorded[key] += chunk
            dst.sendall(chunk)
        dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", args.port))
        threads = [threading.Thread(target=pump, args=(client, upstream, "client")),
                   threading.Thread(target=pump, args=(upstream, client, "server"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    server_thread = threading.Thread(target=serve, daemon=True)
    server_thread.start()
    subprocess.run([part.replace("PORT", str(args.relay_port)) for part in client_cmd],
                   check=True, timeout=30)
    server_thread.join(timeout=5)
    listener.close()
    server = PacketBuffer()
    server.feed(bytes(recorded["server"]))
    client = PacketBuffer()
    client.feed(bytes(recorded["client"]))
    greeting = server.packets()[0].payload
    packets = [p.payload for p in client.packets()]
    lines = [f"greeting {greeting.hex()}", f"response {packets[0].hex()}"]
    lines += [f"change_user {p.hex()}" for p in packets[1:] if p[:1] == b"\x11"]
    (DATA / f"client_{label}.hex").write_text("\n".join(lines) + "\n")
    print(f"wrote client_{label}.hex")


def dump(name: str) -> None:
    """Print a fixture packet by packet (for humans checking what the server sent)."""
    for line in (DATA / f"{name}.hex").read_text().split():
        if line in ("caps", "cmd", "server", "client"):
            kind = line
            continue
        if kind == "caps":
            print("caps", repr(Capability(int(line, 16))))
            continue
        raw = bytes.fromhex(line)
        if kind == "cmd":
            print("cmd", raw[:60])
            continue
        pos = 0
        while pos < len(raw):
            n = int.from_bytes(raw[pos : pos + 3], "little")
            head = raw[pos + 4 : pos + 4 + min(n, 48)]
            print(f"  {kind} seq={raw[pos + 3]:3} len={n:5}  {head!r}")
            pos += 4 + n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=13401)
    parser.add_argument("--user", default="cap")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--setup", action="store_true")
    parser.add_argument("--dump", action="store_true", help="print fixtures instead")
    parser.add_argument("--relay", metavar="LABEL",
                        help="record a real client: the names are its command line (PORT is"
                        " replaced by the relay port)")
    parser.add_argument("--relay-port", type=int, default=13410)
    parser.add_argument("names", nargs="*", default=sorted(SCENARIOS))
    args = parser.parse_args()
    if args.relay:
        relay(args, args.relay, args.names)
        return
    if args.dump:
        for name in args.names:
            print(f"== {name}")
            dump(name)
        return
    DATA.mkdir(exist_ok=True)
    if args.setup:
        setup(args)
    for name in args.names:
        SCENARIOS[name](args)


if __name__ == "__main__":
    main()
