"""A small blocking raw-protocol client for tests: exact bytes of every response packet.

Built on the pure :mod:`interlock.wire` helpers for the handshake and the auth scramble, but it
decides on its own where a response ends (:meth:`RawClient.read_response` walks the response
shape of each command itself), and cross-checks that with
:class:`interlock.wire.response.ResponseTracker`: if the two disagree, or a sequence id is out
of order, or the peer stays silent, :class:`ProtocolViolation` (an ``AssertionError``) is raised.
A test that compares two servers therefore does not just trust the code under test.

::

    c = RawClient.connect("127.0.0.1", 3306, "app", "pw", "app", deprecate_eof=False)
    packets = c.exchange(Command.PING)           # [Packet(seq=1, payload=b"\\x00...")]
    c.send_many([(Command.QUERY, b"SELECT 1"), (Command.QUERY, b"SELECT 2")])  # pipelined
    first, second = c.read_response(), c.read_response()

Responses are lists of :class:`interlock.wire.framing.Packet` (sequence id + whole logical
payload); :meth:`RawClient.command` returns just the payloads.  Not supported: TLS,
compression, LOCAL INFILE requests (reported as a violation).
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from interlock.wire.auth import NATIVE_PASSWORD, scramble_native_password
from interlock.wire.codec import Reader, lenenc_bytes
from interlock.wire.constants import Capability, Charset, Command, CursorType, ServerStatus
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import Packet
from interlock.wire.handshake import (
    ChangeUser,
    HandshakeResponse41,
    HandshakeV10,
    build_change_user,
    build_handshake_response41,
    parse_auth_switch,
    parse_handshake_v10,
)
from interlock.wire.packets import ErrPacket, parse_err
from interlock.wire.response import ResponseDone, ResponseTracker

MAX_PAYLOAD = 0xFFFFFF
HEAD_LIMIT = 16  # the proxy gives its tracker this many payload bytes; so does this client

#: Capabilities every RawClient asks for (intersected with the server's).
BASE_CAPABILITIES = (
    Capability.LONG_FLAG
    | Capability.PROTOCOL_41
    | Capability.SECURE_CONNECTION
    | Capability.TRANSACTIONS
    | Capability.MULTI_RESULTS
    | Capability.PS_MULTI_RESULTS
    | Capability.PLUGIN_AUTH
    | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA
)

NO_CAPABILITIES = Capability(0)

NO_RESPONSE = frozenset((Command.QUIT, Command.STMT_CLOSE, Command.STMT_SEND_LONG_DATA))

# binary protocol column types used for parameters
TYPE_LONGLONG = 0x08
TYPE_VAR_STRING = 0xFD
TYPE_BLOB = 0xFC
TYPE_NULL = 0x06


class ProtocolViolation(AssertionError):
    """The peer broke the protocol (or this client's cross-check with the tracker failed)."""


class PeerClosed(ConnectionError):
    """The peer closed the connection; ``received`` holds the bytes of a partial packet."""

    def __init__(self, message: str, received: bytes = b"") -> None:
        super().__init__(message)
        self.received = received


class LoginRefused(Exception):
    def __init__(self, err: ErrPacket, packet: Packet) -> None:
        super().__init__(f"{err.code} ({err.sqlstate}): {err.message}")
        self.err = err
        self.packet = packet


@dataclass(frozen=True, slots=True)
class Pending:
    command: int
    last_seq: int  # sequence id of the command's last physical packet


# -- small payload helpers ---------------------------------------------------------------------


def is_err(packet: Packet) -> bool:
    return bool(packet.payload[:1] == b"\xff")


def is_ok(packet: Packet) -> bool:
    return bool(packet.payload[:1] == b"\x00")


def is_terminator(payload: bytes) -> bool:
    """EOF, or the OK-with-0xFE header of DEPRECATE_EOF (never a row: those are < 16 MiB)."""
    return payload[:1] == b"\xfe" and len(payload) < MAX_PAYLOAD


def error_of(packet: Packet) -> ErrPacket:
    if not is_err(packet):
        raise ProtocolViolation(f"expected an ERR packet, got {packet.payload[:40]!r}")
    return parse_err(packet.payload)


def ok_status(payload: bytes) -> ServerStatus:
    """Status flags of an OK packet (0x00 or 0xFE header)."""
    r = Reader(payload, 1)
    r.read_lenenc_int()
    r.read_lenenc_int()
    return ServerStatus(r.read_uint(2))


def eof_status(payload: bytes) -> ServerStatus:
    if not (payload[:1] == b"\xfe" and len(payload) == 5):
        raise ProtocolViolation(f"expected a classic EOF packet, got {payload!r}")
    return ServerStatus(int.from_bytes(payload[3:5], "little"))


def prepare_ok(packets: Sequence[Packet]) -> tuple[int, int, int]:
    """(statement id, column count, parameter count) of a COM_STMT_PREPARE response."""
    payload = packets[0].payload
    if payload[:1] != b"\x00" or len(payload) < 12:
        raise ProtocolViolation(f"not a COM_STMT_PREPARE OK: {payload[:60]!r}")
    r = Reader(payload, 1)
    return r.read_uint(4), r.read_uint(2), r.read_uint(2)


def text_rows(packets: Sequence[Packet], deprecate_eof: bool) -> list[tuple[bytes | None, ...]]:
    """Rows of a single text result set (NULL is ``None``)."""
    if is_err(packets[0]):
        raise ProtocolViolation(f"query failed: {error_of(packets[0])}")
    ncols = Reader(packets[0].payload).read_lenenc_int()
    first_row = 1 + ncols + (0 if deprecate_eof else 1)
    rows: list[tuple[bytes | None, ...]] = []
    for packet in packets[first_row:]:
        if is_terminator(packet.payload):
            break
        r = Reader(packet.payload)
        row: list[bytes | None] = []
        for _ in range(ncols):
            if r.peek() == 0xFB:
                r.skip(1)
                row.append(None)
            else:
                row.append(r.read_lenenc_bytes())
        rows.append(tuple(row))
    return rows


def stmt_id_payload(stmt_id: int) -> bytes:
    """Payload of COM_STMT_CLOSE / COM_STMT_RESET (without the command byte)."""
    return stmt_id.to_bytes(4, "little")


def long_data_payload(stmt_id: int, param: int, chunk: bytes) -> bytes:
    return stmt_id.to_bytes(4, "little") + param.to_bytes(2, "little") + chunk


def fetch_payload(stmt_id: int, rows: int) -> bytes:
    return stmt_id.to_bytes(4, "little") + rows.to_bytes(4, "little")


def execute_payload(
    stmt_id: int,
    params: Sequence[int | str | bytes | None] = (),
    *,
    cursor: CursorType = CursorType.NO_CURSOR,
    long_data: Iterable[int] = (),
) -> bytes:
    """COM_STMT_EXECUTE payload (without the command byte).

    ``params`` are bound as LONGLONG / VAR_STRING / BLOB / NULL; the indexes in ``long_data``
    were sent with COM_STMT_SEND_LONG_DATA, so they are typed BLOB and carry no value here.
    """
    streamed = set(long_data)
    out = bytearray(stmt_id.to_bytes(4, "little"))
    out.append(int(cursor))
    out += (1).to_bytes(4, "little")  # iteration count
    if not params:
        return bytes(out)
    null_bitmap = bytearray((len(params) + 7) // 8)
    types = bytearray()
    values = bytearray()
    for i, value in enumerate(params):
        if i in streamed:
            types += bytes((TYPE_BLOB, 0))
        elif value is None:
            null_bitmap[i // 8] |= 1 << (i % 8)
            types += bytes((TYPE_NULL, 0))
        elif isinstance(value, int):
            types += bytes((TYPE_LONGLONG, 0))
            values += value.to_bytes(8, "little", signed=True)
        else:
            raw = value.encode() if isinstance(value, str) else value
            types += bytes((TYPE_VAR_STRING if isinstance(value, str) else TYPE_BLOB, 0))
            values += lenenc_bytes(raw)
    out += null_bitmap
    out.append(1)  # new-params-bound flag: types follow
    out += types
    out += values
    return bytes(out)


# -- the client --------------------------------------------------------------------------------


class RawClient:
    """One blocking connection speaking the client side of the protocol."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        self.handshake = HandshakeV10("", 0, b"", Capability(0), 0, ServerStatus(0), "")
        self.capabilities = Capability(0)
        self.tracker = ResponseTracker(self.capabilities)
        self._buf = bytearray()
        self._pending: deque[Pending] = deque()
        self._tracking = False  # reading a command response: feed the tracker too
        self._tracker_events: list[object] = []
        self.closed = False

    # -- connecting ------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str | None = None,
        *,
        deprecate_eof: bool = True,
        multi_statements: bool = False,
        session_track: bool = False,
        extra_capabilities: Capability = NO_CAPABILITIES,
        charset: int = Charset.UTF8MB4_GENERAL_CI,
        timeout: float = 10.0,
    ) -> RawClient:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock, timeout)
        try:
            greeting = client._read_packet()
            if is_err(greeting):
                raise LoginRefused(parse_err(greeting.payload), greeting)
            handshake = parse_handshake_v10(greeting.payload)
            wanted = BASE_CAPABILITIES
            if database is not None:
                wanted |= Capability.CONNECT_WITH_DB
            if deprecate_eof:
                wanted |= Capability.DEPRECATE_EOF
            if multi_statements:
                wanted |= Capability.MULTI_STATEMENTS
            if session_track:
                wanted |= Capability.SESSION_TRACK
            wanted |= extra_capabilities
            caps = Capability(wanted & handshake.capabilities)
            missing = (wanted & ~handshake.capabilities) & ~Capability.LONG_FLAG
            if missing:
                raise ProtocolViolation(f"the server does not offer {missing!r}")
            client.handshake = handshake
            client.capabilities = caps
            client.tracker = ResponseTracker(caps)
            response = HandshakeResponse41(
                capabilities=caps,
                max_packet_size=1 << 30,
                charset=charset,
                username=user,
                auth_response=scramble_native_password(password.encode(), handshake.nonce),
                database=database,
                auth_plugin=NATIVE_PASSWORD,
            )
            client._write_packet(build_handshake_response41(response, handshake.capabilities), 1)
            client._finish_auth(password, expected_seq=2)
        except BaseException:
            sock.close()
            raise
        return client

    def _finish_auth(
        self, password: str, expected_seq: int, packets: list[Packet] | None = None
    ) -> list[Packet]:
        """Read OK/ERR, answering a mysql_native_password auth switch on the way; every
        packet read is appended to ``packets`` (also when the ERR raises LoginRefused)."""
        packets = [] if packets is None else packets
        while True:
            packet = self._read_packet()
            packets.append(packet)
            self._check_seq(packet, expected_seq)
            head = packet.payload[:1]
            if head == b"\x00":
                return packets
            if head == b"\xff":
                raise LoginRefused(parse_err(packet.payload), packet)
            if head == b"\xfe":
                switch = parse_auth_switch(packet.payload)
                if switch.plugin != NATIVE_PASSWORD:
                    raise ProtocolViolation(f"auth switch to unsupported {switch.plugin!r}")
                token = scramble_native_password(password.encode(), switch.data[:20])
                self._write_packet(token, packet.seq + 1)
                expected_seq = packet.seq + 2
                continue
            raise ProtocolViolation(f"unexpected packet during authentication: {packet!r}")

    # -- properties ------------------------------------------------------------------------

    @property
    def connection_id(self) -> int:
        """The id from the handshake (for a proxy: the proxy's own connection id)."""
        return int(self.handshake.connection_id)

    @property
    def deprecate_eof(self) -> bool:
        return bool(self.capabilities & Capability.DEPRECATE_EOF)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- sending ---------------------------------------------------------------------------

    def _write_packet(self, payload: bytes, seq: int) -> None:
        self.sock.sendall(_frame(payload, seq))

    def _queue(self, command: int, payload: bytes) -> tuple[bytes, bool]:
        """Frame one command (sequence ids from 0); returns (bytes, expects a response)."""
        body = bytes((command,)) + payload
        framed = _frame(body, 0)
        expects = command not in NO_RESPONSE
        if expects:
            last_seq = len(body) // MAX_PAYLOAD
            self._pending.append(Pending(command, last_seq))
            self.tracker.start(command, body[:HEAD_LIMIT], last_seq)
        return framed, expects

    def send(self, command: int, payload: bytes = b"") -> None:
        """Write one command without reading its response."""
        framed, _ = self._queue(command, payload)
        self.sock.sendall(framed)

    def send_many(self, commands: Sequence[tuple[int, bytes]]) -> int:
        """Write several commands in a single ``sendall`` (pipelining); returns how many
        responses are now expected."""
        chunks = [self._queue(command, payload)[0] for command, payload in commands]
        self.sock.sendall(b"".join(chunks))
        return self.pending

    # -- exchanging ------------------------------------------------------------------------

    def exchange(self, command: int, payload: bytes = b"") -> list[Packet]:
        """Send one command and read its whole response (``[]`` for commands without one)."""
        if self._pending:
            raise ProtocolViolation("responses are still pending; read them first")
        self.send(command, payload)
        return self.read_response() if command not in NO_RESPONSE else []

    def command(self, command: int, payload: bytes = b"") -> list[bytes]:
        """Like :meth:`exchange`, but only the payloads."""
        return [packet.payload for packet in self.exchange(command, payload)]

    def query(self, sql: str) -> list[Packet]:
        return self.exchange(Command.QUERY, sql.encode())

    def values(self, sql: str) -> list[tuple[bytes | None, ...]]:
        """Rows of a one-result-set query, as raw text values."""
        return text_rows(self.query(sql), self.deprecate_eof)

    def value(self, sql: str) -> bytes | None:
        rows = self.values(sql)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise ProtocolViolation(f"{sql!r} returned {rows!r}, not one value")
        return rows[0][0]

    def change_user(
        self,
        user: str,
        password: str,
        database: str = "",
        charset: int = Charset.UTF8MB4_GENERAL_CI,
        plugin: str = NATIVE_PASSWORD,
    ) -> list[Packet]:
        """COM_CHANGE_USER; returns every packet the peer sent (an auth switch, if any, is
        answered), ending with the OK or ERR.

        With mysql_native_password the password is scrambled with the handshake's nonce; with
        another ``plugin`` the client sends 32 bytes of that plugin's data and expects to be
        switched to mysql_native_password.
        """
        if self._pending:
            raise ProtocolViolation("responses are still pending; read them first")
        if plugin == NATIVE_PASSWORD:
            token = scramble_native_password(password.encode(), self.handshake.nonce)
        else:
            token = hashlib.sha256(password.encode()).digest()
        request = ChangeUser(
            username=user,
            auth_response=token,
            database=database,
            charset=charset,
            auth_plugin=plugin,
        )
        self._write_packet(build_change_user(request, self.capabilities), 0)
        packets: list[Packet] = []
        with contextlib.suppress(LoginRefused):
            self._finish_auth(password, 1, packets)
        return packets

    # -- reading ---------------------------------------------------------------------------

    def read_response(self) -> list[Packet]:
        """Read exactly the next pending response (in the order the commands were sent)."""
        if not self._pending:
            raise ProtocolViolation("no response is pending")
        pending = self._pending.popleft()
        self._tracking = True
        try:
            packets = _ResponseReader(self, pending).read()
        finally:
            self._tracking = False
        done = [e for e in self._tracker_events if isinstance(e, ResponseDone)]
        self._tracker_events = []
        if len(done) != 1 or done[0].command != pending.command:
            raise ProtocolViolation(
                f"ResponseTracker disagrees about the end of the response to command"
                f" {pending.command}: it reported {done!r}"
            )
        return packets

    def _read_packet(self) -> Packet:
        """One logical packet (fragments of 16 MiB payloads joined)."""
        parts: list[bytes] = []
        while True:
            header = self._read_exact(4)
            length = int.from_bytes(header[:3], "little")
            payload = self._read_exact(length)
            seq = header[3]
            if self._tracking:
                try:
                    self._tracker_events += self.tracker.feed(header + payload)
                except ProtocolError as exc:
                    raise ProtocolViolation(f"ResponseTracker rejected {header!r}: {exc}") from exc
            parts.append(payload)
            if length < MAX_PAYLOAD:
                return Packet(seq, b"".join(parts))

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except TimeoutError as exc:
                raise ProtocolViolation(
                    f"no answer within {self.timeout}s (have {len(self._buf)} of {n} bytes)"
                ) from exc
            if not chunk:
                self.closed = True
                raise PeerClosed("the peer closed the connection", bytes(self._buf))
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _check_seq(self, packet: Packet, expected: int) -> None:
        if packet.seq != expected & 0xFF:
            raise ProtocolViolation(
                f"sequence id {packet.seq}, expected {expected & 0xFF}: {packet.payload[:40]!r}"
            )

    def read_until_closed(self, timeout: float | None = None) -> bytes:
        """Everything the peer still sends until it closes (ProtocolViolation if it does not
        close within ``timeout``)."""
        limit = self.timeout if timeout is None else timeout
        data = bytes(self._buf)
        self._buf.clear()
        self.sock.settimeout(limit)
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError as exc:
                    raise ProtocolViolation(
                        f"the peer did not close the connection within {limit}s"
                        f" (received {data!r})"
                    ) from exc
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    self.closed = True
                    return data
                data += chunk
        finally:
            self.sock.settimeout(self.timeout)

    def assert_quiet(self, wait: float = 0.2) -> None:
        """Nothing unexpected arrives within ``wait`` seconds (and the peer did not close)."""
        if self._buf:
            raise ProtocolViolation(f"unexpected bytes from the peer: {bytes(self._buf)[:80]!r}")
        ready, _, _ = select.select([self.sock], [], [], wait)
        if ready:
            data = self.sock.recv(65536)
            raise ProtocolViolation(
                "the peer closed the connection" if not data
                else f"unexpected bytes from the peer: {data[:80]!r}"
            )

    def close(self) -> None:
        self.sock.close()
        self.closed = True

    def quit(self) -> None:
        """COM_QUIT, then close the socket."""
        if not self.closed:
            with contextlib.suppress(OSError):
                self.send(Command.QUIT)
        self.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.quit()


def _frame(payload: bytes, seq: int) -> bytes:
    """Frame a payload the way any client does (independent of wire.framing)."""
    out = bytearray()
    pos = 0
    while True:
        chunk = payload[pos : pos + MAX_PAYLOAD]
        out += len(chunk).to_bytes(3, "little") + bytes((seq & 0xFF,)) + chunk
        seq += 1
        pos += len(chunk)
        if len(chunk) < MAX_PAYLOAD:
            return bytes(out)


class _ResponseReader:
    """Reads one response, deciding by itself where it ends (the response shapes of the
    MySQL/MariaDB protocol, written independently of :mod:`interlock.wire.response`)."""

    def __init__(self, client: RawClient, pending: Pending) -> None:
        self.client = client
        self.command = pending.command
        self.next_seq = pending.last_seq + 1
        self.packets: list[Packet] = []
        self.deprecate_eof = client.deprecate_eof

    def take(self) -> Packet:
        packet = self.client._read_packet()
        self.client._check_seq(packet, self.next_seq)
        self.next_seq = packet.seq + 1
        self.packets.append(packet)
        return packet

    def read(self) -> list[Packet]:
        handler = {
            Command.QUERY: self._results,
            Command.STMT_EXECUTE: self._results,
            Command.STMT_PREPARE: self._prepare,
            Command.STMT_FETCH: self._fetch,
            Command.FIELD_LIST: self._field_list,
            Command.STATISTICS: self._single,
        }.get(Command(self.command), self._simple)
        handler()
        return self.packets

    def _single(self) -> None:
        self.take()

    def _simple(self) -> None:
        packet = self.take()
        head = packet.payload[:1]
        if head not in (b"\x00", b"\xff", b"\xfe"):
            raise ProtocolViolation(f"command {self.command}: unexpected answer {packet!r}")

    def _results(self) -> None:
        while True:
            packet = self.take()
            head = packet.payload[0]
            if head == 0xFF:
                return
            if head == 0x00:
                if ok_status(packet.payload) & ServerStatus.MORE_RESULTS_EXISTS:
                    continue
                return
            if head == 0xFB:
                raise ProtocolViolation("LOCAL INFILE requests are not supported by RawClient")
            ncols = Reader(packet.payload).read_lenenc_int()
            for _ in range(ncols):
                self._definition()
            if not self.deprecate_eof:
                after_columns = eof_status(self.take().payload)
                cursor = after_columns & ServerStatus.CURSOR_EXISTS
                if self.command == Command.STMT_EXECUTE and cursor:
                    return  # the rows come with COM_STMT_FETCH
            status = self._rows()
            if status is None or not status & ServerStatus.MORE_RESULTS_EXISTS:
                return

    def _definition(self) -> None:
        packet = self.take()
        if is_err(packet) or is_terminator(packet.payload):
            raise ProtocolViolation(f"a definition was expected, got {packet.payload[:40]!r}")

    def _rows(self) -> ServerStatus | None:
        """Rows until a terminator (its status) or an ERR (None)."""
        while True:
            payload = self.take().payload
            if payload[:1] == b"\xff":
                return None
            if is_terminator(payload):
                return ok_status(payload) if self.deprecate_eof else eof_status(payload)

    def _prepare(self) -> None:
        packet = self.take()
        if is_err(packet):
            return
        _, ncols, nparams = prepare_ok([packet])
        for count in (nparams, ncols):
            for _ in range(count):
                self._definition()
            if count and not self.deprecate_eof:
                eof_status(self.take().payload)

    def _fetch(self) -> None:
        status = self._rows()
        if status is not None and status & ServerStatus.MORE_RESULTS_EXISTS:
            raise ProtocolViolation("COM_STMT_FETCH response announces more results")

    def _field_list(self) -> None:
        while True:
            payload = self.take().payload
            if payload[:1] == b"\xff":
                return
            if is_terminator(payload):
                if not self.deprecate_eof:
                    eof_status(payload)
                return
