"""OK / ERR / EOF packets and session-state information."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_fixtures import load

from interlock.wire.constants import Capability, ServerStatus, SessionTrackType
from interlock.wire.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from interlock.wire.framing import PacketBuffer
from interlock.wire.packets import (
    EofPacket,
    ErrPacket,
    OkPacket,
    SessionStateChange,
    build_eof,
    build_err,
    build_ok,
    build_session_state,
    is_eof,
    is_err,
    is_ok,
    is_progress,
    parse_eof,
    parse_err,
    parse_ok,
    parse_progress,
    parse_session_state,
    parse_terminator,
)

CAPS = Capability.PROTOCOL_41 | Capability.SESSION_TRACK
AUTOCOMMIT = ServerStatus.AUTOCOMMIT


def server_packets(name: str) -> list[bytes]:
    buf = PacketBuffer()
    buf.feed(load(name).server_bytes())
    return [p.payload for p in buf.packets()]


def test_captured_ok_with_info() -> None:
    # UPDATE in a multi-statement (MariaDB 10.11): info is length-encoded
    payload = next(p for p in server_packets("multi_eof") if p[:1] == b"\x00")
    ok = parse_ok(payload, CAPS)
    assert ok == OkPacket(0, 0, AUTOCOMMIT | ServerStatus.MORE_RESULTS_EXISTS, 0,
                          b"Rows matched: 1  Changed: 0  Warnings: 0", b"")


def test_captured_ok_without_session_track() -> None:
    # MariaDB 10.11, client without CLIENT_SESSION_TRACK: the info is still length-encoded
    payload = b"\x00\x00\x00\x02\x00\x00\x00(Rows matched: 1  Changed: 0  Warnings: 0"
    ok = parse_ok(payload, Capability.PROTOCOL_41)
    assert ok.info == b"Rows matched: 1  Changed: 0  Warnings: 0"
    assert ok.status == AUTOCOMMIT


def test_captured_ok_with_last_gtid() -> None:
    capture = load("session_track")
    payload = capture.steps[9].data[4:]  # the INSERT's OK packet
    ok = parse_ok(payload, capture.caps)
    assert ok.affected_rows == 1 and ok.last_insert_id > 0
    assert ok.status & ServerStatus.SESSION_STATE_CHANGED
    (change,) = parse_session_state(ok.session_state)
    assert change == SessionStateChange(SessionTrackType.SYSTEM_VARIABLES, "last_gtid",
                                        change.value)
    assert isinstance(change.value, str) and change.value.startswith("0-1-")


def test_captured_session_states_all_parse() -> None:
    capture = load("session_track")
    kinds = set()
    for step in capture.steps:
        if step.kind != "server":
            continue
        buf = PacketBuffer()
        buf.feed(step.data)
        for packet in buf.packets():
            if packet.payload[:1] in (b"\x00", b"\xfe") and len(packet.payload) > 7:
                ok = parse_ok(packet.payload, capture.caps)
                kinds |= {c.kind for c in parse_session_state(ok.session_state)}
    assert kinds == {SessionTrackType.SYSTEM_VARIABLES, SessionTrackType.SCHEMA,
                     SessionTrackType.STATE_CHANGE, SessionTrackType.TRANSACTION_STATE,
                     SessionTrackType.TRANSACTION_CHARACTERISTICS}


def test_captured_err_and_eof() -> None:
    packets = server_packets("errors_eof")
    err = parse_err(packets[0])
    assert err == ErrPacket(1146, "42S02", "Table 'wt.nope' doesn't exist")
    assert is_err(packets[0]) and not is_ok(packets[0])
    eof = parse_eof(packets[4])
    assert eof == EofPacket(0, AUTOCOMMIT | ServerStatus.NO_INDEX_USED)
    assert is_eof(packets[4])


def test_deprecate_eof_terminator_is_an_ok() -> None:
    packets = server_packets("text_deprecate_eof")
    terminator = packets[10]
    assert terminator[0] == 0xFE and len(terminator) == 7 and is_eof(terminator)
    assert parse_terminator(terminator, CAPS | Capability.DEPRECATE_EOF) == OkPacket(
        0, 0, AUTOCOMMIT | ServerStatus.NO_INDEX_USED, 0, b"", b"")
    eof_style = server_packets("text_eof")[4]
    expected = EofPacket(0, AUTOCOMMIT | ServerStatus.NO_INDEX_USED)
    assert parse_terminator(eof_style, CAPS) == expected


def test_is_eof_rule() -> None:
    assert is_eof(b"\xfe\x00\x00\x02\x00")
    assert is_eof(b"\xfe" + bytes(40))  # OK-0xFE with session state is longer than 9 bytes
    assert not is_eof(b"\xfe" + bytes(0xFFFFFE))  # a row with a >= 16 MiB first column
    assert not is_eof(b"") and not is_eof(b"\x00")


def test_err_without_sqlstate() -> None:
    assert parse_err(b"\xff\x15\x04Access denied") == ErrPacket(1045, "HY000", "Access denied")


def test_progress_report() -> None:
    payload = b"\xff\xff\xff\x01\x03\xe8\x01\x00\x05stage"
    assert is_progress(payload)
    report = parse_progress(payload)
    assert (report.stage, report.max_stage, report.progress, report.info) == (1, 3, 488, b"stage")
    with pytest.raises(RemoteProtocolError):
        parse_err(payload)


@given(st.integers(0, 0xFFFE), st.text(alphabet="ABCDEFGHIJ0123456789", min_size=5,
                                          max_size=5), st.text(max_size=100))
def test_err_round_trip(code: int, sqlstate: str, message: str) -> None:
    message = message.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    payload = build_err(code, sqlstate, message)
    assert payload[3:4] == b"#"
    assert parse_err(payload) == ErrPacket(code, sqlstate, message)


def test_build_err_rejects_bad_sqlstate() -> None:
    with pytest.raises(LocalProtocolError):
        build_err(1045, "2800", "x")


ok_fields = st.tuples(
    st.integers(0, 0xFFFF).map(ServerStatus),
    st.integers(0, (1 << 64) - 1),
    st.integers(0, (1 << 64) - 1),
    st.integers(0, 0xFFFF),
    st.binary(max_size=300),
    st.booleans(),
)


@given(ok_fields, st.lists(st.tuples(st.text(min_size=1, max_size=20),
                                     st.text(max_size=40)), max_size=3))
def test_ok_round_trip(fields: tuple, variables: list[tuple[str, str]]) -> None:  # type: ignore[type-arg]
    status, affected, insert_id, warnings, info, eof_header = fields
    state = build_session_state(tuple(
        SessionStateChange(SessionTrackType.SYSTEM_VARIABLES, k, v) for k, v in variables))
    if not state:
        status &= ~ServerStatus.SESSION_STATE_CHANGED
    payload = build_ok(status, CAPS, affected, insert_id, warnings, info, eof_header, state)
    ok = parse_ok(payload, CAPS)
    assert ok.affected_rows == affected and ok.last_insert_id == insert_id
    assert ok.warnings == warnings and ok.info == info and ok.session_state == state
    assert payload[0] == (0xFE if eof_header else 0x00)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_eof_round_trip(status: int, warnings: int) -> None:
    assert parse_eof(build_eof(ServerStatus(status), warnings)) == EofPacket(
        warnings, ServerStatus(status))


def test_session_state_round_trip_all_kinds() -> None:
    changes = (
        SessionStateChange(SessionTrackType.SYSTEM_VARIABLES, "last_gtid", "0-1-42"),
        SessionStateChange(SessionTrackType.SCHEMA, "", "wt"),
        SessionStateChange(SessionTrackType.STATE_CHANGE, "", "1"),
        SessionStateChange(SessionTrackType.GTIDS, "", "3E11FA47-71CA-11E1-9E33:1-5"),
        SessionStateChange(SessionTrackType.TRANSACTION_CHARACTERISTICS, "", "READ ONLY;"),
        SessionStateChange(SessionTrackType.TRANSACTION_STATE, "", "T_______"),
        SessionStateChange(42, "", b"\x01\x02"),
    )
    assert parse_session_state(build_session_state(changes)) == changes


def test_session_state_needs_session_track() -> None:
    with pytest.raises(LocalProtocolError):
        build_ok(AUTOCOMMIT, Capability.PROTOCOL_41, session_state=b"\x01\x03\x02wt")


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x01", b"\xff", b"\x42abc"])
def test_short_or_wrong_packets(payload: bytes) -> None:
    for parse in (lambda p: parse_ok(p, CAPS), parse_err, parse_eof):
        with pytest.raises(ProtocolError):
            parse(payload)
