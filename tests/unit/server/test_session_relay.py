"""The client->backend half of the relay (Session.client_data), driven without sockets."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.config.model import ServerConfig
from interlock.server import flow
from interlock.server.backend import BackendConnection, Login
from interlock.server.registry import SessionRegistry
from interlock.server.session import Session
from interlock.wire.constants import Capability, Command, ServerStatus
from interlock.wire.framing import MAX_PAYLOAD, encode_packet
from interlock.wire.packets import build_ok, parse_err

CAPS = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.DEPRECATE_EOF


@dataclass
class FakeTransport:
    written: list[bytes] = field(default_factory=list)
    paused: bool = False
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    @property
    def data(self) -> bytes:
        return b"".join(self.written)


class FakeClient:
    def __init__(self, registry: SessionRegistry[Any]) -> None:
        self.transport = FakeTransport()
        self.gate = flow.ReadGate(self.transport)  # type: ignore[arg-type]
        self.congestion = flow.Congestion()
        self.registry = registry
        self.session_id = registry.allocate(self)
        self.capabilities = CAPS
        self.nonce = b"n" * 20
        self.user = "app"
        self.session: Session | None = None

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()

    def backend_thread_id(self) -> int:
        return self.session.backend_thread_id() if self.session else 0


def make_session(registry: SessionRegistry[Any] | None = None,
                 routed: Counter[str] | None = None) -> tuple[Session, FakeClient,
                                                               FakeTransport]:
    registry = registry if registry is not None else SessionRegistry()
    client = FakeClient(registry)
    backend = BackendConnection(ServerConfig("server1", "127.0.0.1", 3306))
    backend_transport = FakeTransport()
    backend.connection_made(backend_transport)  # type: ignore[arg-type]
    backend.capabilities = CAPS
    session = Session(client, backend, Login("app", CAPS),  # type: ignore[arg-type]
                      routed=routed)
    client.session = session
    return session, client, backend_transport


def command(cmd: int, body: bytes = b"") -> bytes:
    return encode_packet(bytes((cmd,)) + body, 0)


def feed_in_pieces(session: Session, stream: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, end in itertools.pairwise(points):
        session.client_data(stream[start:end])


STREAM_PARTS = [
    command(Command.QUERY, b"SELECT 1"),
    command(Command.PING),
    command(Command.QUERY, b"SELECT '" + b"x" * 5000 + b"'"),
    command(Command.STMT_CLOSE, b"\x01\x00\x00\x00"),  # no response
    command(Command.INIT_DB, b"app"),
    command(Command.QUERY, b"KILL QUERY 12"),  # a backend thread id: passed through
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_split_forwards_the_same_bytes(cuts: list[int]) -> None:
    session, client, backend = make_session()
    stream = b"".join(STREAM_PARTS)
    feed_in_pieces(session, stream, cuts)
    assert backend.data == stream
    assert session.backend.tracker.pending == 5  # STMT_CLOSE expects no answer
    assert client.transport.written == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_every_routed_command_is_counted_once_for_its_server(cuts: list[int]) -> None:
    """readconnroute's routed-queries count: one per command sent on, however the client's
    bytes are split; COM_QUIT (answered by closing) is not a query."""
    routed: Counter[str] = Counter()
    session, _, backend = make_session(routed=routed)
    stream = b"".join(STREAM_PARTS)
    feed_in_pieces(session, stream, cuts)
    assert routed == Counter({"server1": len(STREAM_PARTS)})
    session.client_data(command(Command.QUIT))
    assert routed == Counter({"server1": len(STREAM_PARTS)})
    assert backend.data == stream + command(Command.QUIT)


def test_single_packet_is_written_without_copy() -> None:
    session, _, backend = make_session()
    packet = command(Command.QUERY, b"SELECT 1")
    session.client_data(packet)
    assert len(backend.written) == 1
    assert backend.written[0] is packet  # the received object itself, not a copy
    assert session.backend.tracker.command == Command.QUERY


def test_large_packet_is_streamed_in_fragments() -> None:
    session, _, backend = make_session()
    body = b"INSERT INTO t VALUES ('" + b"z" * MAX_PAYLOAD + b"')"
    stream = command(Command.QUERY, body) + command(Command.PING)
    for start in range(0, len(stream), 1 << 20):
        session.client_data(stream[start : start + (1 << 20)])
    assert backend.data == stream
    assert session.backend.tracker.pending == 2


def test_kill_with_a_proxy_id_is_rewritten_to_the_backend_thread() -> None:
    registry: SessionRegistry[Any] = SessionRegistry()
    target, target_client, _ = make_session(registry)
    target.backend.handshake = type("H", (), {"connection_id": 77})()  # type: ignore[assignment]
    killer, _, backend = make_session(registry)
    killer.client_data(command(Command.QUERY, b"kill query %d;" % target_client.session_id))
    assert backend.data == command(Command.QUERY, b"kill query 77;")
    proxy_id = target_client.session_id.to_bytes(4, "little")
    killer.client_data(command(Command.PROCESS_KILL, proxy_id))
    assert backend.data.endswith(command(Command.PROCESS_KILL, (77).to_bytes(4, "little")))


def test_kill_of_an_unknown_proxy_id_passes_through() -> None:
    session, _, backend = make_session()
    packet = command(Command.QUERY, b"KILL 1073749999")
    session.client_data(packet)
    assert backend.data == packet


def test_unknown_command_is_answered_by_the_proxy() -> None:
    session, client, backend = make_session()
    session.client_data(command(Command.BINLOG_DUMP, b"\x00" * 10) + command(Command.PING))
    assert backend.data == command(Command.PING)
    reply = client.transport.data
    assert reply[3] == 1  # sequence id after the command's 0
    err = parse_err(reply[4:])
    assert (err.code, err.message) == (1047, "Unknown command")


def test_unknown_command_waits_for_responses_in_flight() -> None:
    session, client, backend = make_session()
    session.client_data(command(Command.PING) + command(Command.SLEEP) + command(Command.PING))
    assert backend.data == command(Command.PING)
    assert client.gate.paused  # the rest is held until the first PING is answered
    assert client.transport.written == []
    ok = encode_packet(build_ok(ServerStatus.AUTOCOMMIT, CAPS), 1)
    session.backend_data(session.backend, ok)
    assert client.transport.written[0] == ok
    assert parse_err(client.transport.written[1][4:]).code == 1047
    assert backend.data == command(Command.PING) * 2
    assert not client.gate.paused


def test_quit_is_forwarded_and_closes_both_sides() -> None:
    session, client, backend = make_session()
    session.client_data(command(Command.QUIT))
    assert backend.data == command(Command.QUIT)
    assert session.closed and client.transport.closed and backend.closed
