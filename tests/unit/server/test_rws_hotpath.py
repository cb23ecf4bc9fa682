"""Short cuts on the readwritesplit per-statement path give what the general code gives:
the statement-id rewrite of an execute, the per-statement plain-read memo, the default
replica choice."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from interlock.routing import balancer
from interlock.routing.policy import execute_is_plain_read
from interlock.routing.session_state import (
    AUTOCOMMIT,
    IN_TRANS,
    initial_state,
    statement_closed,
    statement_prepared,
)
from interlock.routing.settings import SelectionCriteria
from interlock.routing.topology import ServerInfo, ServerLoad, ServerRole
from interlock.server.pstmt import StatementIds, with_id
from interlock.server.rwstmt import _plain_read
from interlock.sql.classifier import classify


def test_execute_payload_rewrites_the_id_as_with_id_does() -> None:
    ids = StatementIds()
    pid = ids.allocate()
    stmt = ids.add(pid)
    for backend_id in (0, 1, 7, 0x01020304, 0xFFFFFFFE):
        assert ids.prepared(pid, "s", backend_id, 0)
        for client_id in (0, 1, 7, 0x01020304):
            payload = b"\x17" + client_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00"
            got = ids.execute_payload(payload, stmt, "s")
            assert got == with_id(payload, backend_id)
            if client_id == backend_id:
                assert got is payload  # no copy: the client's framed bytes can be sent as is
        for short in (b"\x17", b"\x17\x01\x00"):  # malformed: as with_id
            assert ids.execute_payload(short, stmt, "s") == with_id(short, backend_id)


def test_plain_read_memo_is_per_statement_and_follows_the_state() -> None:
    state = initial_state(database="app")
    state = statement_prepared(state, 1, classify(b"SELECT c FROM sbtest1 WHERE id = ?"))
    state = statement_prepared(state, 2, classify(b"UPDATE t SET a = ?"))
    state = statement_prepared(state, 3, classify(b"SELECT c FROM sbtest2 WHERE id = ?"))
    session: Any = SimpleNamespace(state=state, exec_memo=None)  # what _plain_read reads
    for _ in range(3):  # alternating statements: every answer is the policy's
        for proxy_id in (1, 2, 3, 4):
            assert _plain_read(session, proxy_id) is execute_is_plain_read(proxy_id, state)
    assert _plain_read(session, 1) and not _plain_read(session, 2)
    # a transaction (status), a closed statement (extras): the memo does not outlive them
    session.state = type(state)(status=AUTOCOMMIT | IN_TRANS, ext=state.ext)
    assert not _plain_read(session, 1)
    session.state = statement_closed(state, 1)
    assert not _plain_read(session, 1)
    assert _plain_read(session, 3)


def test_default_criterion_short_cut_chooses_as_the_table() -> None:
    servers = [ServerInfo(f"r{i}", ServerRole.REPLICA,
                          load=ServerLoad(current_operations=ops), weight=weight)
               for i, (ops, weight) in enumerate(((0, 1.0), (1, 2.0), (0, 1.0), (3, 1.0)))]
    default = SelectionCriteria.LEAST_CURRENT_OPERATIONS
    for seed in range(50):
        for count in range(1, len(servers) + 1):
            group = servers[:count]
            fast = balancer.choose(group, default, random.Random(seed))
            table = balancer._CHOOSERS[default](group, random.Random(seed))
            assert fast is table
    chosen = [balancer.choose(servers, default, random.Random(s)) for s in range(50)]
    picked = {server.name for server in chosen if server is not None}
    assert picked == {"r0", "r1", "r2"}  # ties (score 1) shared, the busy one never
