"""Prepared-statement commands of the ``readwritesplit`` session (see ``rwsplit``, ``pstmt``).

Handlers in the session's dispatch table: COM_STMT_PREPARE (to the primary, and to every ready
replica when the statement may ever run there; recorded in the session-command history),
COM_STMT_EXECUTE / COM_STMT_FETCH / COM_STMT_SEND_LONG_DATA (routed by the prepared text's
classification, the cursor's or the long data's server; the id rewritten for that backend),
COM_STMT_CLOSE and COM_STMT_RESET (every backend holding the statement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.routing import policy
from interlock.routing.decision import Reason, RouteDecision, Target, plain_decision
from interlock.routing.session_state import long_data_sent, statement_closed
from interlock.server.pstmt import statement_id, with_id
from interlock.server.rwlinks import (
    AFTER_COMMAND,
    AFTER_EXECUTE,
    AFTER_NOTHING,
    AFTER_PREPARE,
    CONSUME,
    Expect,
    Inflight,
    Link,
)
from interlock.server.sescmd import SessionCommand
from interlock.sql import classify
from interlock.wire.constants import Command
from interlock.wire.framing import Packet

if TYPE_CHECKING:
    from interlock.server.rwsplit import RWSplitSession

_EXECUTES = frozenset((int(Command.STMT_EXECUTE), int(Command.STMT_BULK_EXECUTE)))
_EXECUTE = int(Command.STMT_EXECUTE)
_BULK_EXECUTE = int(Command.STMT_BULK_EXECUTE)
_SEND_LONG_DATA = int(Command.STMT_SEND_LONG_DATA)
_REPLICA = Target.REPLICA



def prepare(self: RWSplitSession, packet: Packet, raw: bytes | None) -> None:
    """COM_STMT_PREPARE: everywhere the statement may run, under a new client id."""
    payload = packet.payload
    c = classify(payload[1:], no_backslash_escapes=self.state.no_backslash_escapes)
    decision = policy.decide_command(Command.STMT_PREPARE, self.state, self.topology(),
                                     self.settings, classification=c)
    if not self.primary.idle:
        self.park(packet, raw, self.primary)
        return
    proxy_id = self.stmts.allocate()
    self.stmts.add(proxy_id)
    if decision.target is Target.ALL:
        self.session_command(packet, raw, decision, AFTER_PREPARE, c, proxy_id)
        return
    flight = Inflight(payload, decision, AFTER_PREPARE, c, proxy_id=proxy_id,
                      held=bytearray())
    self.relay(self.primary, flight, raw, packet.seq)


def execute(self: RWSplitSession, packet: Packet, raw: bytes | None) -> None:
    """COM_STMT_EXECUTE, BULK_EXECUTE, FETCH, SEND_LONG_DATA: routed by the statement."""
    payload = packet.payload
    proxy_id = self.stmts.resolve(statement_id(payload))
    command = payload[0]
    if command == _EXECUTE and _plain_read(self, proxy_id):
        # steady state of a prepared read: only the replica choice is made per execution
        decision = policy.route_read(self.state, self.topology(), self.settings)
        if decision.target is _REPLICA and decision.wait_gtid is None:
            link = self.links.get(decision.server or "")
            if link is not None and link.ready and not link.pending and not link.is_primary:
                # what route_packet -> run_on do with an idle replica link: send it there
                execute_on(self, link, packet, decision, raw, proxy_id)
                return
    elif command == _BULK_EXECUTE:
        decision = plain_decision(Target.PRIMARY, self.primary.name, Reason.WRITE)
    else:
        if command == _EXECUTE and policy.execute_is_pinned(self.state):
            decision = _pinned(self, proxy_id)
        else:
            decision = policy.decide_command(command, self.state, self.topology(),
                                             self.settings, stmt_id=proxy_id)
        if decision.target is Target.ALL:  # a prepared SET: binary executes run once
            decision = plain_decision(Target.PRIMARY, self.primary.name,
                                      Reason.SESSION_COMMAND)
    self.route_packet(packet, raw, decision)


def _plain_read(self: RWSplitSession, proxy_id: int) -> bool:
    """``policy.execute_is_plain_read``, kept per statement while what it depends on is the
    same (the state's extras, which hold the statements, status flags and locks: not the last
    target)."""
    state = self.state
    ext, status, locks = state.ext, state.status, state.locks
    memo = self.exec_memo
    if memo is None or memo[0] is not ext or memo[1] != status or memo[2] is not locks:
        memo = self.exec_memo = (ext, status, locks, {})
    known = memo[3]
    plain = known.get(proxy_id)
    if plain is None:
        plain = known[proxy_id] = policy.execute_is_plain_read(proxy_id, state)
    return plain


def _pinned(self: RWSplitSession, proxy_id: int) -> RouteDecision:
    """``decide_command`` for an execute inside a transaction or a session lock
    (``policy.execute_is_pinned``), kept per statement while the state and the topology are the
    same snapshots (e.g. the statements of a transaction on its server)."""
    state, topology = self.state, self.topology()
    memo = self.exec_pinned
    if memo is None or memo[0] is not state or memo[1] is not topology:
        memo = self.exec_pinned = (state, topology, {})
    known = memo[2]
    decision = known.get(proxy_id)
    if decision is None:
        decision = known[proxy_id] = policy.decide_command(
            _EXECUTE, state, topology, self.settings, stmt_id=proxy_id)
    return decision


def execute_on(self: RWSplitSession, link: Link, packet: Packet, decision: RouteDecision,
               raw: bytes | None = None, proxy_id: int | None = None) -> None:
    """Send a statement command on ``link`` with that backend's statement id (``raw``: the
    client's framed packet, sent as is when the payload needs no rewrite for ``link``;
    ``proxy_id``: the statement, when the caller resolved it already)."""
    payload = packet.payload
    stmts = self.stmts
    if proxy_id is None:
        proxy_id = stmts.resolve(statement_id(payload))
    stmt = stmts.by_id.get(proxy_id)
    if stmt is not None and link.name not in stmt.backend_ids:
        link = self.primary  # not prepared there (history pruned, or prepared later)
        decision = plain_decision(Target.PRIMARY, link.name, Reason.UNKNOWN_PREPARED)
        if not link.idle:
            self.park(packet, None, link, decision)
            return
    command = payload[0]
    if stmt is not None:
        if command == _EXECUTE:
            payload = stmts.execute_payload(payload, stmt, link.name)
        else:
            payload = with_id(payload, stmt.backend_ids[link.name])
    if command == _SEND_LONG_DATA:
        self.state = long_data_sent(self.state, proxy_id, link.name)
    after = AFTER_EXECUTE if command in _EXECUTES else AFTER_COMMAND
    self.relay(link, Inflight(payload, decision, after, proxy_id=proxy_id),
               raw if payload is packet.payload else None, packet.seq)


def close_statement(self: RWSplitSession, packet: Packet, raw: bytes | None) -> None:
    """COM_STMT_CLOSE (no answer): on every backend that has the statement."""
    proxy_id = self.stmts.resolve(statement_id(packet.payload))
    stmt = self.stmts.close(proxy_id)
    self.history.forget_statement(proxy_id)
    self.state = statement_closed(self.state, proxy_id)
    if stmt is None:
        return
    for name, backend_id in stmt.backend_ids.items():
        link = self.links.get(name)
        if link is not None and link.conn is not None:
            link.send(with_id(packet.payload, backend_id), None)


def reset_statement(self: RWSplitSession, packet: Packet, raw: bytes | None) -> None:
    """COM_STMT_RESET: on every backend that has it; the primary's answer is relayed."""
    primary = self.primary
    if not primary.idle:
        self.park(packet, raw, primary)
        return
    payload = packet.payload
    proxy_id = self.stmts.resolve(statement_id(payload))
    stmt = self.stmts.get(proxy_id)
    decision = plain_decision(Target.ALL, None, Reason.SESSION_COMMAND)
    entry = SessionCommand(payload)
    if stmt is not None:
        for name, backend_id in stmt.backend_ids.items():
            link = self.links.get(name)
            if link is not None and link is not primary and link.ready:
                link.send(with_id(payload, backend_id),
                          Expect(CONSUME, self.replica_answer(link, entry)))
        payload = with_id(payload, stmt.backend_ids.get(primary.name, proxy_id))
    # (the session's last server stays: SHOW WARNINGS after a reset still means that server)
    self.relay(primary, Inflight(payload, decision, AFTER_NOTHING, entry=entry), None,
               packet.seq)

