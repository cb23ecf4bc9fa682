"""The pure parts of the readwritesplit session: statement-id mapping and execute rewriting,
the session-command history, facts from responses, the hidden result parser."""

from __future__ import annotations

from interlock.server.pstmt import (
    LAST_PREPARED,
    StatementIds,
    execute_types,
    patch_prepare_ok,
    statement_id,
    with_id,
    with_types,
)
from interlock.server.rwlinks import first_value, response_facts
from interlock.server.sescmd import SessionHistory, diverged
from interlock.wire.constants import ServerStatus, SessionTrackType
from interlock.wire.events import ResponseDone
from interlock.wire.framing import encode_packet
from interlock.wire.packets import SessionStateChange, build_session_state


def _execute(stmt: int, nulls: bytes, bound: int, types: bytes, values: bytes) -> bytes:
    return (b"\x17" + stmt.to_bytes(4, "little") + b"\x00" + (1).to_bytes(4, "little")
            + nulls + bytes((bound,)) + types + values)


def test_statement_id_rewrite() -> None:
    payload = b"\x19" + (7).to_bytes(4, "little")
    assert statement_id(payload) == 7
    assert statement_id(with_id(payload, 0x01020304)) == 0x01020304
    response = bytearray(encode_packet(b"\x00" + (99).to_bytes(4, "little") + b"\x01\x00" * 4, 1))
    patch_prepare_ok(response, 5)
    assert int.from_bytes(response[5:9], "little") == 5
    err = bytearray(encode_packet(b"\xff\x10\x04#42000oops", 1))
    before = bytes(err)
    patch_prepare_ok(err, 5)
    assert bytes(err) == before


def test_execute_types_are_found_and_put_back() -> None:
    types = b"\x03\x00\xfd\x00"  # LONG, VAR_STRING
    values = b"\x01\x00\x00\x00\x02hi"
    bound = _execute(1, b"\x00", 1, types, values)
    assert execute_types(bound, 2) == (True, types)
    unbound = _execute(1, b"\x00", 0, b"", values)
    assert execute_types(unbound, 2) == (False, b"")
    assert with_types(unbound, 2, types) == bound
    assert execute_types(b"\x17" + b"\x00" * 9, 0) is None


def test_execute_on_another_backend_gets_the_remembered_types() -> None:
    ids = StatementIds()
    pid = ids.allocate()
    stmt = ids.add(pid)
    assert ids.prepared(pid, "primary", 11, 2, primary=True)
    assert ids.prepared(pid, "replica", 22, 2)
    types = b"\x03\x00\xfd\x00"
    values = b"\x01\x00\x00\x00\x02hi"
    first = ids.execute_payload(_execute(pid, b"\x00", 1, types, values), stmt, "primary")
    assert first == _execute(11, b"\x00", 1, types, values)
    # the client sends no types any more; the replica never saw them: they are put back once
    again = _execute(pid, b"\x00", 0, b"", values)
    assert ids.execute_payload(again, stmt, "replica") == _execute(22, b"\x00", 1, types,
                                                                   values)
    assert ids.execute_payload(again, stmt, "replica") == _execute(22, b"\x00", 0, b"", values)
    assert ids.execute_payload(again, stmt, "primary") == _execute(11, b"\x00", 0, b"", values)


def test_last_prepared_and_closed_statements() -> None:
    ids = StatementIds()
    a, b = ids.allocate(), ids.allocate()
    assert (a, b) == (1, 2)
    ids.add(a)
    ids.prepared(a, "p", 5, 0, primary=True)
    assert ids.resolve(LAST_PREPARED) == a
    ids.close(a)
    assert ids.resolve(LAST_PREPARED) == LAST_PREPARED
    assert not ids.prepared(a, "r", 6, 0)  # answered after the client closed it
    ids.add(b)
    ids.prepared(b, "p", 7, 0)
    ids.prepared(b, "r", 8, 0)
    ids.forget_server("r")
    assert ids.backend_id(b, "r") is None and ids.backend_id(b, "p") == 7


def test_last_prepared_is_the_last_prepare_sent_even_if_it_fails() -> None:
    """As on the server: after a refused prepare, "last prepared" names no statement, not the
    one prepared before (which stays usable by its own id)."""
    ids = StatementIds()
    a = ids.allocate()
    ids.add(a)
    ids.prepared(a, "p", 5, 1, primary=True)
    b = ids.allocate()
    ids.add(b)
    assert ids.resolve(LAST_PREPARED) == b  # a pipelined EXECUTE(-1) waits for b's answer
    ids.close(b)  # the primary refused it
    assert ids.resolve(LAST_PREPARED) == LAST_PREPARED
    assert ids.backend_id(a, "p") == 5


def test_history_prunes_the_oldest_entry() -> None:
    history = SessionHistory(limit=3, prune=True)
    for n in range(5):
        history.record(b"\x03SET @a = %d" % n)
    assert [e.payload for e in history] == [b"\x03SET @a = 2", b"\x03SET @a = 3",
                                            b"\x03SET @a = 4"]
    assert history.pruned == 2 and not history.lost


def test_history_without_pruning_is_lost_when_full() -> None:
    history = SessionHistory(limit=2, prune=False)
    history.record(b"\x03SET @a = 1")
    history.record(b"\x03SET @a = 2")
    assert not history.lost
    history.record(b"\x03SET @a = 3")
    assert history.lost and len(history) == 0
    history.clear()
    assert not history.lost


def test_disabled_history_is_lost_at_the_first_command() -> None:
    history = SessionHistory(enabled=False)
    history.record(b"\x02test")
    assert history.lost


def test_closed_statements_leave_the_history() -> None:
    history = SessionHistory()
    history.record(b"\x16SELECT 1", proxy_id=1)
    history.record(b"\x03SET @a = 1")
    history.record(b"\x16SELECT 2", proxy_id=2)
    history.forget_statement(1)
    assert [e.proxy_id for e in history] == [0, 2]


def test_divergence_needs_the_primary_verdict() -> None:
    entry = SessionHistory().record(b"\x03SET @a = 1")
    assert diverged(entry, True) is None
    entry.ok = True
    assert diverged(entry, True) is False
    assert diverged(entry, False) is True


def test_response_facts_read_tracked_gtid_and_schema() -> None:
    state = build_session_state((
        SessionStateChange(SessionTrackType.SYSTEM_VARIABLES, "last_gtid", "0-1-42"),
        SessionStateChange(SessionTrackType.SCHEMA, "", "Test"),
    ))
    done = ResponseDone(3, ServerStatus.AUTOCOMMIT, True, session_state=state)
    facts = response_facts("server1", done)
    assert (facts.server, facts.ok, facts.status, facts.last_gtid, facts.database) == (
        "server1", True, int(ServerStatus.AUTOCOMMIT), "0-1-42", "Test")
    failed = response_facts("server2", ResponseDone(3, ServerStatus.IN_TRANS, False))
    assert failed.status is None and not failed.ok


def _result(rows: list[bytes | None], deprecate_eof: bool) -> bytes:
    coldef = (b"\x03def\x00\x00\x00\x0b@@last_gtid\x00\x0c\x21\x00\x00\x01\x00\x00"
              b"\xfd\x00\x00\x00\x00")
    packets = [b"\x01", coldef]
    if not deprecate_eof:
        packets.append(b"\xfe\x00\x00\x02\x00")
    for row in rows:
        packets.append(b"\xfb" if row is None else bytes((len(row),)) + row)
    packets.append(b"\xfe\x00\x00\x02\x00" if not deprecate_eof
                   else b"\xfe\x00\x00\x02\x00\x00\x00")
    return b"".join(encode_packet(p, i + 1) for i, p in enumerate(packets))


def test_first_value_of_a_hidden_result() -> None:
    for deprecate_eof in (False, True):
        assert first_value(_result([b"0-1-7"], deprecate_eof)) == b"0-1-7"
        assert first_value(_result([b""], deprecate_eof)) == b""
        assert first_value(_result([None], deprecate_eof)) is None
        assert first_value(_result([], deprecate_eof)) is None
    assert first_value(encode_packet(b"\xff\x10\x04#42000oops", 1)) is None
