"""ResponseTracker against responses captured from a real MariaDB 10.11 (tests/unit/wire/data)."""

from __future__ import annotations

import pytest
from wire_fixtures import load, replay_stepwise, response_captures

from interlock.wire.constants import Capability, Command, ServerStatus, SessionTrackType
from interlock.wire.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from interlock.wire.framing import encode_packet
from interlock.wire.packets import build_eof, build_err, build_ok, parse_session_state
from interlock.wire.response import (
    LocalInfileRequested,
    ResponseDone,
    ResponseTracker,
    StatementPrepared,
)

AUTOCOMMIT = ServerStatus.AUTOCOMMIT
EOF_CAPS = Capability.PROTOCOL_41 | Capability.SESSION_TRACK
DEPRECATE_CAPS = EOF_CAPS | Capability.DEPRECATE_EOF


def dones(events: list[object]) -> list[ResponseDone]:
    return [e for e in events if isinstance(e, ResponseDone)]


def single_done(events: list[object]) -> ResponseDone:
    (done,) = dones(events)
    return done


@pytest.mark.parametrize("name", response_captures())
def test_every_command_completes_once(name: str) -> None:
    capture = load(name)
    tracker, per_command = replay_stepwise(capture)
    for cmd, events in zip(capture.commands(), per_command, strict=True):
        expected = 0 if cmd[0] in (Command.STMT_CLOSE, Command.STMT_SEND_LONG_DATA) else 1
        assert len(dones(events)) == expected, (name, cmd[:30])
        if expected:
            assert dones(events)[0].command == cmd[0]
    assert tracker.idle and not tracker.awaiting_client_data


@pytest.mark.parametrize("name", ["text_eof", "text_deprecate_eof", "text_cache_metadata"])
def test_text_result_sets(name: str) -> None:
    _, (select, empty) = replay_stepwise(load(name))
    done = single_done(select)
    assert done.ok and done.error is None
    assert done.status == AUTOCOMMIT | ServerStatus.NO_INDEX_USED
    assert single_done(empty).status == AUTOCOMMIT


@pytest.mark.parametrize("name", ["big_result_eof", "big_result_deprecate"])
def test_thousand_rows_in_one_response(name: str) -> None:
    capture = load(name)
    assert len(capture.server_bytes()) > 30_000
    tracker, (events,) = replay_stepwise(capture)
    assert single_done(events).ok
    assert tracker.next_seq == (1006 if name.endswith("eof") else 1005) & 0xFF  # last seq + 1


@pytest.mark.parametrize("name", ["multi_eof", "multi_deprecate_eof"])
def test_multi_statements_and_call(name: str) -> None:
    _, (multi, failing, call) = replay_stepwise(load(name))
    done = single_done(multi)
    assert done.ok and done.status == AUTOCOMMIT
    failed = single_done(failing)
    assert not failed.ok and failed.error is not None
    assert failed.error.code == 1146 and failed.error.sqlstate == "42S02"
    assert not failed.status & ServerStatus.MORE_RESULTS_EXISTS
    called = single_done(call)
    assert called.ok and not called.status & ServerStatus.MORE_RESULTS_EXISTS


@pytest.mark.parametrize("name", ["errors_eof", "errors_deprecate_eof"])
def test_errors_before_and_after_rows(name: str) -> None:
    _, (missing, mid_rows) = replay_stepwise(load(name))
    err = single_done(missing).error
    assert err is not None and err.code == 1146
    err = single_done(mid_rows).error
    assert err is not None and (err.code, err.sqlstate) == (1242, "21000")


@pytest.mark.parametrize(
    "name", ["prepared_eof", "prepared_deprecate_eof", "prepared_cache_metadata",
             "prepared_cache_metadata_eof"],
)
def test_prepared_statements(name: str) -> None:
    capture = load(name)
    _, per_command = replay_stepwise(capture)
    commands = capture.commands()
    prepared = [e for events in per_command for e in events if isinstance(e, StatementPrepared)]
    assert [(p.num_columns, p.num_params) for p in prepared] == [(2, 2), (0, 2), (0, 0), (0, 2)]
    for p, index in zip(prepared, (0, 3, 10, 12), strict=True):
        assert per_command[index][0] == p and single_done(per_command[index]).ok
    select_id = prepared[0].statement_id
    assert commands[1][1:5] == select_id.to_bytes(4, "little")
    assert single_done(per_command[1]).ok and single_done(per_command[2]).ok
    assert single_done(per_command[4]).affected_rows == 1  # INSERT
    assert per_command[5] == [] and per_command[7] == []  # SEND_LONG_DATA, CLOSE
    assert single_done(per_command[6]).ok  # STMT_RESET
    unknown = single_done(per_command[8]).error
    assert unknown is not None and unknown.code == 1243
    syntax = single_done(per_command[9]).error
    assert syntax is not None and syntax.code == 1064
    call = single_done(per_command[11])  # CALL with two binary result sets
    assert call.ok and not call.status & ServerStatus.MORE_RESULTS_EXISTS
    assert single_done(per_command[13]).ok  # OUT parameters: PS_OUT_PARAMS result + OK


def test_prepare_error_emits_no_statement() -> None:
    _, per_command = replay_stepwise(load("prepared_eof"))
    events = per_command[9]
    assert not any(isinstance(e, StatementPrepared) for e in events)
    assert not single_done(events).ok


@pytest.mark.parametrize(
    "name", ["cursor_eof", "cursor_deprecate_eof", "cursor_cache_metadata",
             "cursor_cache_metadata_eof"],
)
def test_cursor_execute_and_fetch(name: str) -> None:
    capture = load(name)
    tracker, per_command = replay_stepwise(capture)
    kinds = [c[0] for c in capture.commands()]
    statuses = [single_done(events).status for events in per_command]
    for kind, status in zip(kinds, statuses, strict=True):
        if kind == Command.STMT_EXECUTE:
            assert status & ServerStatus.CURSOR_EXISTS
    last_fetch = max(i for i, k in enumerate(kinds) if k == Command.STMT_FETCH
                     and single_done(per_command[i]).ok)
    assert statuses[last_fetch] & ServerStatus.LAST_ROW_SENT
    if name in ("cursor_eof", "cursor_deprecate_eof"):
        err = single_done(per_command[-1]).error
        assert err is not None and err.code == 1421
    assert tracker.idle


@pytest.mark.parametrize("name", ["infile_eof", "infile_deprecate_eof"])
def test_local_infile(name: str) -> None:
    capture = load(name)
    cmd, request, client, final = capture.steps
    tracker = ResponseTracker(capture.caps)
    assert tracker.start(cmd.data[0], cmd.data)
    assert tracker.feed(request.data) == [LocalInfileRequested(b"/tmp/interlock-capture.csv")]
    assert tracker.awaiting_client_data and not tracker.idle
    with pytest.raises(RemoteProtocolError):
        ResponseTracker(capture.caps).feed(request.data)  # no command pending
    assert tracker.feed_client(client.data[:5]) == []
    assert tracker.awaiting_client_data
    tracker.feed_client(client.data[5:])
    assert not tracker.awaiting_client_data
    assert tracker.next_seq == 5
    done = single_done(tracker.feed(final.data))
    assert done.ok and done.affected_rows == 3 and tracker.idle


def test_local_infile_in_a_multi_statement() -> None:
    """The OK after the file carries MORE_RESULTS_EXISTS: a result set follows."""
    capture = load("infile_multi")
    cmd, request, client, rest = capture.steps
    tracker = ResponseTracker(capture.caps)
    tracker.start(cmd.data[0], cmd.data)
    assert tracker.feed(request.data) == [LocalInfileRequested(b"multi.csv")]
    tracker.feed_client(client.data)
    ok_packet_end = 4 + rest.data[0]
    assert tracker.feed(rest.data[:ok_packet_end]) == [] and not tracker.idle
    done = single_done(tracker.feed(rest.data[ok_packet_end:]))
    assert done.ok and done.affected_rows == 0 and tracker.idle


def test_backend_data_during_infile_is_an_error() -> None:
    capture = load("infile_eof")
    tracker = ResponseTracker(capture.caps)
    cmd, request, _, final = capture.steps
    tracker.start(cmd.data[0], cmd.data)
    tracker.feed(request.data)
    with pytest.raises(RemoteProtocolError):
        tracker.feed(final.data)


def test_client_data_after_infile_end_is_an_error() -> None:
    capture = load("infile_eof")
    tracker = ResponseTracker(capture.caps)
    cmd, request, client, _ = capture.steps
    tracker.start(cmd.data[0], cmd.data)
    tracker.feed(request.data)
    with pytest.raises(RemoteProtocolError):
        tracker.feed_client(client.data + encode_packet(b"\x0e", 0))


def test_feed_client_without_infile_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        ResponseTracker(EOF_CAPS).feed_client(encode_packet(b"", 2))


def test_infile_16mib_packet_then_empty_continuation_is_not_the_end() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03LOAD DATA LOCAL INFILE 'x' INTO TABLE t")
    tracker.feed(encode_packet(b"\xfbx", 1))
    body = encode_packet(bytes(0xFFFFFF), 2)  # a full packet + an empty continuation
    tracker.feed_client(body)
    assert tracker.awaiting_client_data
    tracker.feed_client(encode_packet(b"", 4))
    assert not tracker.awaiting_client_data
    assert single_done(tracker.feed(encode_packet(build_ok(AUTOCOMMIT, EOF_CAPS), 5))).ok


@pytest.mark.parametrize("name", ["simple_eof", "simple_deprecate_eof"])
def test_single_packet_commands(name: str) -> None:
    capture = load(name)
    _, per_command = replay_stepwise(capture)
    results = {}
    for cmd, events in zip(capture.commands(), per_command, strict=True):
        done = single_done(events)
        results.setdefault(cmd[0], []).append(done)
    assert results[Command.PING][0].ok
    assert results[Command.INIT_DB][0].ok and not results[Command.INIT_DB][1].ok
    state = parse_session_state(results[Command.INIT_DB][0].session_state)
    assert state[0].kind == SessionTrackType.SCHEMA and state[0].value == "wt"
    assert results[Command.FIELD_LIST][0].ok and not results[Command.FIELD_LIST][1].ok
    assert results[Command.STATISTICS][0].ok
    assert results[Command.SET_OPTION][0].ok  # answered with an EOF / OK-0xFE
    assert results[Command.DEBUG][0].ok
    kill = results[Command.PROCESS_KILL][0].error
    assert kill is not None and kill.code == 1094
    assert results[Command.REFRESH][0].ok and results[Command.RESET_CONNECTION][0].ok
    assert results[0x60][0].error is not None and results[0x60][0].error.code == 1047


def test_session_state_tracking_last_gtid() -> None:
    _, per_command = replay_stepwise(load("session_track"))
    insert = single_done(per_command[4])
    assert insert.affected_rows == 1 and insert.last_insert_id > 0
    (change,) = parse_session_state(insert.session_state)
    assert change.kind == SessionTrackType.SYSTEM_VARIABLES and change.name == "last_gtid"
    assert isinstance(change.value, str) and change.value.startswith("0-1-")
    start_ro = single_done(per_command[6])
    assert start_ro.status & ServerStatus.IN_TRANS_READONLY
    kinds = {c.kind for c in parse_session_state(start_ro.session_state)}
    assert kinds == {SessionTrackType.TRANSACTION_STATE,
                     SessionTrackType.TRANSACTION_CHARACTERISTICS}
    select = single_done(per_command[7])  # an OK-0xFE terminator carrying session state
    assert parse_session_state(select.session_state)[0].value == "T_____S_"
    autocommit_off = single_done(per_command[9])
    names = {c.name: c.value for c in parse_session_state(autocommit_off.session_state)}
    assert names["autocommit"] == "OFF"
    assert single_done(per_command[10]).status & ServerStatus.IN_TRANS


def test_transaction_state() -> None:
    capture = load("transactions")
    tracker = ResponseTracker(capture.caps)
    seen = []
    for step in capture.steps:
        if step.kind == "cmd":
            tracker.start(step.data[0], step.data)
        else:
            tracker.feed(step.data)
            seen.append(tracker.in_transaction)
    assert seen == [True, True, True, False, True, True, False]


def test_bulk_execute() -> None:
    _, (prepare, bulk) = replay_stepwise(load("bulk"))
    assert isinstance(prepare[0], StatementPrepared)
    done = single_done(bulk)
    assert done.command == Command.STMT_BULK_EXECUTE and done.affected_rows == 3


@pytest.mark.parametrize("name", ["wide_eof", "wide_cache_metadata"])
def test_300_columns_wrap_the_sequence_id(name: str) -> None:
    tracker, (events,) = replay_stepwise(load(name))
    assert single_done(events).ok
    assert tracker.next_seq < 300 - 256 + 10


# -- synthetic edge cases ------------------------------------------------------------------


def result_set(rows: list[bytes], caps: Capability, status: ServerStatus = AUTOCOMMIT) -> bytes:
    packets = [b"\x01", b"\x03def" + bytes(19)]
    if not caps & Capability.DEPRECATE_EOF:
        packets.append(build_eof(status))
    packets += rows
    if caps & Capability.DEPRECATE_EOF:
        packets.append(build_ok(status, caps, eof_header=True))
    else:
        packets.append(build_eof(status))
    out = []
    seq = 1
    for payload in packets:
        framed = encode_packet(payload, seq)
        seq += len(payload) // 0xFFFFFF + 1
        out.append(framed)
    return b"".join(out)


@pytest.mark.parametrize("caps", [EOF_CAPS, DEPRECATE_CAPS])
def test_huge_row_starting_with_0xfe_is_a_row(caps: Capability) -> None:
    """A first column of >= 16 MiB is length-encoded with a 0xFE prefix: not a terminator."""
    value = b"a" * (1 << 24)
    row = b"\xfe" + len(value).to_bytes(8, "little") + value
    stream = result_set([row, b"\x01x"], caps)
    tracker = ResponseTracker(caps)
    tracker.start(Command.QUERY, b"\x03SELECT")
    events = []
    for i in range(0, len(stream), 1 << 20):
        events += tracker.feed(stream[i : i + (1 << 20)])
    assert single_done(events).ok and tracker.idle


def test_row_of_exactly_16mib_has_an_empty_continuation() -> None:
    row = b"\xfd" + (0xFFFFFF - 4).to_bytes(3, "little") + bytes(0xFFFFFF - 4)
    assert len(row) == 0xFFFFFF
    stream = result_set([row, b"\x01y"], EOF_CAPS)
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03SELECT")
    assert single_done(tracker.feed(stream)).ok


def test_pipelined_commands_are_answered_in_order() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    assert tracker.start(Command.PING, b"\x0e")
    assert tracker.start(Command.QUERY, b"\x03BEGIN")
    assert tracker.pending == 2
    ok_ping = encode_packet(build_ok(AUTOCOMMIT, EOF_CAPS), 1)
    ok_begin = encode_packet(build_ok(AUTOCOMMIT | ServerStatus.IN_TRANS, EOF_CAPS), 1)
    events = tracker.feed(ok_ping + ok_begin)
    assert [d.command for d in dones(events)] == [Command.PING, Command.QUERY]
    assert tracker.in_transaction and tracker.idle


def test_commands_without_response() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    assert not tracker.start(Command.STMT_CLOSE, b"\x19\x01\x00\x00\x00")
    assert not tracker.start(Command.STMT_SEND_LONG_DATA, b"\x18\x01\x00\x00\x00\x00\x00x")
    assert not tracker.start(Command.QUIT, b"\x01")
    assert tracker.idle


@pytest.mark.parametrize("command", [Command.CHANGE_USER, Command.BINLOG_DUMP, Command.MULTI])
def test_commands_the_tracker_refuses(command: Command) -> None:
    with pytest.raises(LocalProtocolError):
        ResponseTracker(EOF_CAPS).start(command, bytes((command,)))


def test_data_while_idle_is_an_error() -> None:
    with pytest.raises(RemoteProtocolError):
        ResponseTracker(EOF_CAPS).feed(encode_packet(build_ok(AUTOCOMMIT, EOF_CAPS), 1))


def test_sequence_gap_inside_a_response_is_an_error() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03SELECT 1")
    stream = encode_packet(b"\x01", 1) + encode_packet(b"\x03def" + bytes(19), 3)
    with pytest.raises(RemoteProtocolError):
        tracker.feed(stream)


def test_next_seq_for_injected_packets() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03SELECT 1", last_seq=2)  # a 3-fragment command
    assert tracker.next_seq == 3
    tracker.feed(encode_packet(b"\x01", 3) + encode_packet(b"\x03def" + bytes(19), 4))
    assert tracker.next_seq == 5


def test_progress_reports_are_skipped() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03ALTER TABLE t ENGINE=InnoDB")
    progress = b"\xff\xff\xff\x01\x01\x00\x10\x00\x05stage"
    events = tracker.feed(encode_packet(progress, 1))
    assert events == [] and not tracker.idle
    assert single_done(tracker.feed(encode_packet(build_ok(AUTOCOMMIT, EOF_CAPS), 2))).ok


def test_err_instead_of_result() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.QUERY, b"\x03SELECT")
    done = single_done(tracker.feed(encode_packet(build_err(1064, "42000", "syntax"), 1)))
    assert done.error is not None and done.error.message == "syntax"


def test_statistics_text_is_not_parsed_as_ok() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.STATISTICS, b"\x09")
    assert single_done(tracker.feed(encode_packet(b"\x00dd text", 1))).ok


def test_garbage_first_packet_is_a_protocol_error() -> None:
    tracker = ResponseTracker(EOF_CAPS)
    tracker.start(Command.PING, b"\x0e")
    with pytest.raises(ProtocolError):
        tracker.feed(encode_packet(b"\x42hello", 1))
