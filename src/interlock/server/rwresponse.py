"""Responses from the backends of a ``readwritesplit`` session.

Every chunk a backend sends is walked by its link's :class:`ResponseTracker` (headers only).
The response at the head of the link's queue decides where the bytes go: a *relayed* response
goes to the client as it arrives (a PREPARE OK is held back whole to put the client's statement
id in it); a *consumed* one is dropped or collected for its callback.  When the relayed
response is complete, the routing state advances from what the backend reported (status flags:
transaction state and autocommit; session-tracked ``last_gtid`` and schema) and the next
buffered client command is handled.

Replicas' answers to session commands are compared with the primary's
(:func:`~interlock.server.sescmd.diverged`): a replica that answers otherwise is dropped from
the session.  A lost or garbled primary (or the link relaying the current response) fails the
session; a lost or garbled replica that owes only consumed answers is dropped.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import replace

from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing.session_state import (
    after_command,
    after_execute,
    after_init_db,
    after_query,
    after_reset,
    statement_prepared,
)
from interlock.server import errors
from interlock.server.backend import BackendConnection
from interlock.server.pstmt import patch_prepare_ok
from interlock.server.rwbase import RWSessionBase
from interlock.server.rwlinks import (
    AFTER_COMMAND,
    AFTER_EXECUTE,
    AFTER_INIT_DB,
    AFTER_PREPARE,
    AFTER_QUERY,
    AFTER_RESET,
    RELAYED,
    Inflight,
    Link,
    OnDone,
    response_facts,
)
from interlock.server.rwprimary import commit_unknown, write_unknown
from interlock.server.sescmd import SessionCommand, diverged
from interlock.sql.kinds import FeatureBits, KindBits
from interlock.wire.constants import Command
from interlock.wire.errors import ProtocolError
from interlock.wire.events import ResponseDone, ResponseEvent, StatementPrepared
from interlock.wire.framing import Packet

log = get_logger(__name__)

_K = KindBits
# in a transaction, a statement lost in flight with one of these kinds may have committed it
# (explicitly or implicitly): never re-sent blindly.  (ROLLBACK: re-sending it is harmless.)
_ENDS_TRX = (_K.COMMIT | _K.BEGIN_TRX | _K.DDL | _K.SET_AUTOCOMMIT | _K.LOCK_TABLES
             | _K.UNLOCK_TABLES | _K.XA | _K.CALL | _K.UNKNOWN | _K.EXECUTE_NAMED | _K.LOAD_LOCAL)
# outside a transaction, a statement with only these kinds changed no data: it can be re-sent
_NO_CHANGE = _K.READ | _K.SHOW | _K.BEGIN_TRX | _K.BEGIN_TRX_READ_ONLY | _K.COMMIT | _K.ROLLBACK
_OPAQUE = FeatureBits.MULTI_STATEMENT | FeatureBits.COMPOUND  # what runs is not known
_STATEMENTS = frozenset((int(Command.QUERY), int(Command.STMT_EXECUTE),
                         int(Command.STMT_BULK_EXECUTE)))


def _why(exc: Exception | None, link: Link) -> str:
    detail = str(exc) if exc else "connection closed by the server"
    return f"lost connection to '{link.name}': {detail}"


class RWResponses(RWSessionBase):
    __slots__ = ()

    def backend_data(self, backend: BackendConnection, data: bytes) -> None:
        link = self._by_conn.get(backend)
        if link is None:
            return
        try:
            events = backend.tracker.feed(data)
        except ProtocolError as exc:
            self._bad_response(link, exc)
            return
        pending = link.pending
        head = pending[0] if pending else None
        if head is RELAYED:
            flight = self._current
            if flight is not None and flight.held is not None:
                flight.held += data
            else:
                self.client.write(data)
                if flight is not None:
                    flight.relayed = True
            trx = self.keeper.trx
            if trx is not None and link.is_primary:
                trx.relayed(data)
        elif head is not None:
            if head.buffer is not None:
                head.buffer += data
            if head.crc is not None:
                head.crc = zlib.crc32(data, head.crc)
        if not events:
            return
        try:
            if head is RELAYED and len(events) == 1 and type(events[0]) is ResponseDone:
                # the common case: one whole relayed answer (what _link_events does for it)
                pending.popleft()
                self._relayed(link, events[0], None)
                if link.waiters and link.idle:
                    link.wake()
                return
            self._link_events(link, events)
        except ClientError as exc:
            self.fail(exc, seq=1)
        except Exception:  # one session's failure must never reach the listener
            log.exception("Session %d: unexpected failure", self.id)
            self.fail(errors.proxy_failure("internal error"), seq=backend.tracker.next_seq)

    def _link_events(self, link: Link, events: list[ResponseEvent]) -> None:
        prepared: StatementPrepared | None = None
        for event in events:
            if type(event) is StatementPrepared:
                prepared = event
                continue
            if type(event) is not ResponseDone:
                continue
            if not link.pending:
                continue  # an answer nobody waits for (e.g. after the link was dropped)
            expect = link.pending.popleft()
            if expect is RELAYED:
                self._relayed(link, event, prepared)
            elif expect.on_done is not None:
                expect.on_done(event, prepared, bytes(expect.buffer or b""))
            prepared = None
        if link.idle and link.waiters:
            link.wake()

    def _relayed(self, link: Link, done: ResponseDone, prepared: StatementPrepared | None) -> None:
        flight = self._current
        self._current = None
        assert flight is not None
        now = time.monotonic()
        load = flight.load
        if load is None or flight.server != link.name:
            load = self.service.topology.load(link.name)
        load.finished(now - flight.started)
        if not done.ok:
            load.errors += 1
        if flight.held is not None:
            if prepared is not None and done.ok:
                self.stmts.prepared(flight.proxy_id, link.name, prepared.statement_id,
                                    prepared.num_params, primary=True)
                patch_prepare_ok(flight.held, flight.proxy_id)
            if flight.gtid_hold and done.ok:
                self.causal.hold_reply(bytes(flight.held))
            else:
                self.client.write(bytes(flight.held))
        self._advance(link, flight, done, prepared)
        keeper = self.keeper
        trx = keeper.trx
        if trx is not None and link.is_primary:
            trx.done(self.state.in_trx)
            keeper.marked = None  # (set only for the COMMIT just answered)
        if self._rec is not None:
            self._rec.idle(self.id, now)
        self._busy = False
        self._pump()

    def _advance(self, link: Link, flight: Inflight, done: ResponseDone,
                 prepared: StatementPrepared | None) -> None:
        """The routing state after the relayed response."""
        facts = response_facts(link.name, done)
        state, decision, after = self.state, flight.decision, flight.after
        entry = flight.entry
        if entry is not None:
            entry.ok = done.ok
            for name, ok in entry.early.items():
                other = self._links.get(name)
                if ok != done.ok and other is not None:
                    self._diverged(other, entry, ok)
            entry.early.clear()
        c = flight.classification
        if after == AFTER_QUERY and c is not None:
            state = after_query(state, c, decision, facts, self.settings)
        elif after == AFTER_EXECUTE:
            state = after_execute(state, flight.proxy_id, decision, facts, self.settings)
        elif after == AFTER_PREPARE:
            if done.ok and prepared is not None and c is not None:
                # a prepare runs everywhere: SHOW WARNINGS still means the statement before
                state = replace(statement_prepared(state, flight.proxy_id, c),
                                last_target=state.last_target)
            elif not done.ok:
                self.stmts.close(flight.proxy_id)
                self.history.forget_statement(flight.proxy_id)
            if done.ok and entry is None and link.is_primary:
                self.prepared_texts[flight.proxy_id] = flight.payload
            if done.ok and c is not None:
                self.keeper.prepared(flight.proxy_id, c, flight.payload)
        elif after == AFTER_INIT_DB:
            database = flight.payload[1:].decode("utf-8", "replace")
            state = after_init_db(state, database, decision, facts)
        elif after == AFTER_RESET:
            if done.ok:
                self.history.clear()
                self.stmts.clear()
            state = after_reset(state, facts, state.database)
        elif after == AFTER_COMMAND:
            state = after_command(state, decision, facts)
        self.state = state
        self.causal.after_response(link, flight, facts)

    def _bad_response(self, link: Link, exc: ProtocolError) -> None:
        log.error("Session %d: unexpected data from server %s: %s", self.id,
                  link.conn.label if link.conn else link.name, exc)
        if link.is_primary or (link.pending and link.pending[0] is RELAYED):
            server = link.server
            self.fail(errors.lost_backend(server.name, server.address, server.port,
                                          "malformed response"),
                      seq=link.conn.tracker.next_seq if link.conn else 1)
        else:
            self.drop(link, "malformed response")

    def backend_lost(self, backend: BackendConnection, exc: Exception | None) -> None:
        link = self._by_conn.get(backend)
        if self.closed or link is None:
            return
        if self._quitting:
            self.close()
            return
        if not link.pending and self._rec is not None:  # (idle since its last command)
            now = time.monotonic()
            self._rec.backend_lost_idle(link.name, now, now - link.used)
        relaying = bool(link.pending) and link.pending[0] is RELAYED
        if link.is_primary and self.keeper.enabled and self._survive(link, relaying, exc):
            return
        if link.is_primary or relaying:
            tracker = backend.tracker
            seq = tracker.next_seq if relaying else 1
            reason = str(exc) if exc else "connection closed by the server"
            log.warning("Session %d: lost connection to server %s: %s", self.id,
                        backend.label, reason)
            server = link.server
            self.fail(errors.lost_backend(server.name, server.address, server.port), seq=seq)
            return
        self.drop(link, str(exc) if exc else "connection closed by the server")
    def _survive(self, link: Link, relaying: bool, exc: Exception | None) -> bool:
        """The primary connection is gone: keep the session when that is sound (nothing of the
        answer in flight reached the client and it can be re-sent, or nothing was in flight;
        a transaction only with replay).  False: the client gets the error."""
        reason = _why(exc, link)
        keeper = self.keeper
        in_trx = self.state.in_trx
        if self.keepalive.unrestorable() and not (in_trx and keeper.can_replay()
                                                  and not self.state.temp_tables):
            return False
        if link.connecting:  # lost while restoring: try again (bounded by the attempts)
            if keeper.replay_pending and keeper.attempts_left() <= 0:
                return False
            keeper.lost(reason)
            if not self.closed and self._parked is not None:
                keeper.ensure()
            return True
        resend: tuple[Packet, bytes | None] | None = None
        if relaying:
            flight = self._current
            last = self._last_cmd
            if flight is None or flight.relayed or last is None:
                return False
            kind = self._kind_of(flight)
            seq = link.conn.tracker.next_seq if link.conn else 1
            if in_trx:
                if not keeper.can_replay():
                    return False
                if kind is None or kind & _ENDS_TRX:
                    commit = kind is not None and kind & _K.COMMIT
                    if not (commit and keeper.lost_commit(link.name)):  # (else: read back)
                        what = "COMMIT" if commit else "a statement that may end the transaction"
                        self.fail(commit_unknown(link.name, reason, what), seq=seq)
                        return True
            elif flight.entry is not None or not self.settings.retry_failed_reads:
                return False
            elif kind is None or kind & ~_NO_CHANGE:
                self.fail(write_unknown(link.name, reason), seq=seq)
                return True
            resend = last
            if keeper.trx is not None:
                keeper.trx.unanswered()
            self._current = None
            self._busy = False
            self.service.topology.load(link.name).finished()
        elif keeper.marking:  # lost while writing the COMMIT's marker: the COMMIT was not sent
            keeper.marking = False
            resend = self._last_cmd
        elif in_trx and not keeper.can_replay():
            return False
        keeper.replay_pending = in_trx
        keeper.lost(reason)
        if self.closed:
            return True
        if resend is not None:
            self.park(resend[0], resend[1], self._primary)
        elif self._parked is not None or self._primary.waiters:
            keeper.ensure()
        return True

    def _kind_of(self, flight: Inflight) -> int | None:
        """The statement kind bits of ``flight`` (a prepared statement's from its prepare);
        None: not known (or a multi-statement, whose parts may be anything)."""
        c = flight.classification
        if c is None:
            command = flight.payload[0]
            if command not in _STATEMENTS:
                return _K.READ  # COM_PING, COM_FIELD_LIST...: nothing a re-send could repeat
            stmt = self.state.ext.statements.get(flight.proxy_id)
            if stmt is None:
                return None
            c = stmt.classification
        if int(c.features) & _OPAQUE:
            return None
        return int(c.kind)

    def may_change(self, flight: Inflight) -> bool:
        """Might the statement of ``flight`` change data?"""
        kind = self._kind_of(flight)
        return kind is None or bool(kind & ~_NO_CHANGE)

    def replica_answer(self, link: Link, entry: SessionCommand) -> OnDone:
        def on_done(done: ResponseDone, prepared: StatementPrepared | None, _: bytes) -> None:
            if (prepared is not None and done.ok and entry.proxy_id
                    and not self.stmts.prepared(entry.proxy_id, link.name,
                                                prepared.statement_id, prepared.num_params)):
                link.send(bytes((Command.STMT_CLOSE,))
                              + prepared.statement_id.to_bytes(4, "little"), None)
            verdict = diverged(entry, done.ok)
            if verdict is None:
                entry.early[link.name] = done.ok
            elif verdict:
                self._diverged(link, entry, ok=done.ok)
        return on_done

    def _diverged(self, link: Link, entry: SessionCommand, ok: bool) -> None:
        """``link`` answered ``entry`` otherwise than the primary did."""
        if entry.command == Command.STMT_PREPARE:
            # (e.g. the table is not replicated yet): executes of it stay on the primary
            log.info("Session %d: statement %d could not be prepared on server '%s'; it runs"
                     " on the primary", self.id, entry.proxy_id, link.name)
            return
        mine = "OK" if ok else "an error"
        theirs = "OK" if entry.ok else "an error"
        text = entry.payload[1:81].decode("utf-8", "replace")
        self.drop(link, f"session command '{text}' (0x{entry.command:02x}): the primary"
                        f" answered {theirs}, this server {mine}")

