"""Malformed input: every parser and the tracker raise ProtocolError and nothing else.

``INTERLOCK_FUZZ_SCALE=20 uv run pytest tests/unit/wire/test_wire_fuzz.py`` runs 20 times
as many examples.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_fixtures import DATA, load, load_kv, replay_pipelined, response_captures

from interlock.wire.auth import parse_stored_hash, recover_sha1
from interlock.wire.codec import Reader
from interlock.wire.constants import Capability, Command
from interlock.wire.errors import ProtocolError
from interlock.wire.framing import PacketBuffer
from interlock.wire.handshake import (
    parse_auth_more_data,
    parse_auth_switch,
    parse_change_user,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ssl_request,
)
from interlock.wire.packets import (
    parse_eof,
    parse_err,
    parse_ok,
    parse_progress,
    parse_session_state,
    parse_terminator,
)
from interlock.wire.response import ResponseTracker

SCALE = int(os.environ.get("INTERLOCK_FUZZ_SCALE", "1"))
ALL_CAPS = Capability(0xFFFFFFFF | (0x3F << 32))

PARSERS: dict[str, Callable[[bytes, Capability], object]] = {
    "ok": parse_ok,
    "err": parse_err,
    "eof": lambda p, c: parse_eof(p),
    "terminator": parse_terminator,
    "progress": lambda p, c: parse_progress(p),
    "session_state": lambda p, c: parse_session_state(p),
    "handshake_v10": lambda p, c: parse_handshake_v10(p),
    "handshake_response41": parse_handshake_response41,
    "ssl_request": parse_ssl_request,
    "auth_switch": lambda p, c: parse_auth_switch(p),
    "auth_more_data": lambda p, c: parse_auth_more_data(p),
    "change_user": parse_change_user,
    "lenenc": lambda p, c: Reader(p).read_lenenc_bytes(),
}


def seeds() -> list[bytes]:
    out = [bytes.fromhex((DATA / "handshake_v10.hex").read_text().strip())]
    for label in ("mariadb_cli", "pymysql", "connector"):
        kv = load_kv(f"client_{label}")
        out += kv["response"] + kv.get("change_user", [])
    return out


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        if buf:
            buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


def only_protocol_errors(fn: Callable[[], object]) -> None:
    with contextlib.suppress(ProtocolError):
        fn()


caps_strategy = st.one_of(st.just(ALL_CAPS), st.integers(0, (1 << 38) - 1).map(Capability))


@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=150 * SCALE, deadline=None)
@given(payload=st.binary(max_size=200), caps=caps_strategy)
def test_random_bytes_to_parsers(parser: str, payload: bytes, caps: Capability) -> None:
    only_protocol_errors(lambda: PARSERS[parser](payload, caps))


@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=100 * SCALE, deadline=None)
@given(seed=st.sampled_from(seeds()), caps=caps_strategy,
       edits=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 300)))
def test_mutated_real_packets_to_parsers(parser: str, seed: bytes, caps: Capability,
                                         edits: list[tuple[int, int]], cut: int | None) -> None:
    only_protocol_errors(lambda: PARSERS[parser](mutate(seed, edits, cut), caps))


@settings(max_examples=200 * SCALE)
@given(st.text(max_size=45), st.binary(max_size=30), st.binary(max_size=30))
def test_stored_hash_and_recovery(text: str, response: bytes, stored: bytes) -> None:
    only_protocol_errors(lambda: parse_stored_hash(text))
    only_protocol_errors(lambda: recover_sha1(response, b"n" * 20, stored))


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=10), st.integers(1, 100))
def test_random_bytes_to_packet_buffer(pieces: list[bytes], limit: int) -> None:
    buf = PacketBuffer(max_payload=limit)

    def run() -> None:
        for piece in pieces:
            buf.feed(piece)
            buf.packets()

    only_protocol_errors(run)


commands = st.sampled_from([int(c) for c in Command if c not in (
    Command.CHANGE_USER, Command.BINLOG_DUMP, Command.BINLOG_DUMP_GTID, Command.MULTI)])


@settings(max_examples=300 * SCALE, deadline=None)
@given(command=commands, caps=caps_strategy, data=st.lists(st.binary(max_size=60), max_size=6))
def test_random_bytes_to_tracker(command: int, caps: Capability, data: list[bytes]) -> None:
    tracker = ResponseTracker(caps)

    def run() -> None:
        tracker.start(command, bytes((command,)))
        for piece in data:
            if tracker.awaiting_client_data:
                tracker.feed_client(piece)
            else:
                tracker.feed(piece)

    only_protocol_errors(run)


@pytest.mark.parametrize("name", response_captures())
@settings(max_examples=40 * SCALE, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, 255)), min_size=1,
                      max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 40_000)),
       splits=st.lists(st.integers(0, 40_000), max_size=10))
def test_mutated_captures_to_tracker(name: str, edits: list[tuple[int, int]], cut: int | None,
                                     splits: list[int]) -> None:
    capture = load(name)
    steps = []
    for step in capture.steps:
        if step.kind == "server":
            step = type(step)(step.kind, mutate(step.data, edits, cut))
        steps.append(step)
    mutated = type(capture)(capture.name, capture.caps, tuple(steps))
    only_protocol_errors(lambda: replay_pipelined(mutated, splits, splits))
