"""The primary connection of a read/write-split session: reconnection, restore, replay.

``master_reconnection`` (default on): when the session's primary connection is gone (killed by
the switchover's fencing, ``wait_timeout``, a server restart, ``KILL``) or the topology's
primary is another server, and no transaction that cannot be replayed is open, the next command
that needs the primary opens a new connection to the *current* primary with the session's
:class:`Login` and restores the session before that command runs:

1. the session-command history (:mod:`interlock.server.sescmd`: ``SET``, ``USE``, text
   ``PREPARE``, prepares run everywhere), each answer compared with the primary's first verdict;
2. the prepared statements that ran on the primary only, re-prepared under the client's ids
   (the backend ids are mapped again in :class:`~interlock.server.pstmt.StatementIds`);
3. with ``transaction_replay``, the open transaction (:mod:`interlock.server.rwtrx`): its
   statements one by one, each response consumed and checksummed; a checksum that differs
   rolls the transaction back and the client's command gets an error saying so;
4. the hidden ``last_gtid`` tracking of ``causal_reads``.

A COMMIT lost in flight is never re-sent blindly.  With ``transaction_replay_commit_marker``
the session wrote a token into its marker row inside the transaction before the COMMIT
(:class:`~interlock.server.rwtrx.CommitMarker`); the new connection first reads that row, with
a locking read (on the same server it waits until the old connection's transaction ended):
the token is there, so the transaction committed, and the client's COMMIT is sent again on
the new connection, where it is a no-op answered OK; it is not there, so the transaction did
not commit, and it is replayed and the COMMIT sent again.  Without the marker (or when the
read fails) the client gets an error saying the outcome is unknown.

The commands that waited for the link then run (a statement lost in flight with nothing of its
answer relayed yet, re-sent when it was a read or part of a replayable transaction).  One log
line per reconnection: session, server, reason, what was restored.

While no primary can be reached: ``delayed_retry`` keeps trying for ``delayed_retry_timeout``;
then ``master_failure_mode`` decides: ``fail_instantly`` (the session is closed when the primary
is lost), ``fail_on_write`` (the command that needs the primary gets the error and the session
is closed), ``error_on_write`` (that command gets the error, the session stays; reads go on).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from interlock.errors import ClientError
from interlock.log import get_logger
from interlock.routing.session_state import IN_TRANS, IN_TRANS_READONLY
from interlock.routing.settings import MasterFailureMode
from interlock.server import backend, errors
from interlock.server.rwlinks import CONSUME, Expect, Link, OnDone, first_value
from interlock.server.rwtrx import (
    NOT_SET_UP,
    CommitMarker,
    TrxLog,
    TrxStatement,
    plain_commit,
)
from interlock.sql.kinds import KindBits
from interlock.wire.constants import Command, ErrorCode
from interlock.wire.errors import ProtocolError
from interlock.wire.events import ResponseDone, StatementPrepared

if TYPE_CHECKING:
    from interlock.config.model import ServerConfig
    from interlock.routing.decision import RouteDecision
    from interlock.server.backend import BackendConnection
    from interlock.server.rwsplit import RWSplitSession
    from interlock.sql.kinds import Classification
    from interlock.wire.framing import Packet

log = get_logger(__name__)

RETRY_PAUSE = 0.2  # between connection attempts while waiting for a primary (delayed_retry)


def replay_failed(detail: str) -> ClientError:
    """The open transaction could not be continued: it was rolled back, nothing committed."""
    return ClientError(ErrorCode.LOCK_DEADLOCK, "40001",
                       f"Interlock: the transaction was rolled back and nothing of it was"
                       f" committed: {detail}; restart the transaction")


# The "outcome unknown" errors carry a server error code (1927, SQLSTATE 08S01: the link
# failed): Connector/C (libmariadb) reports an ERR packet with a client-side code (2000-2999)
# in answer to COM_STMT_EXECUTE as "2027 Received malformed packet" instead (measured).


def commit_unknown(server: str, reason: str, what: str = "COMMIT") -> ClientError:
    return ClientError(ErrorCode.CONNECTION_KILLED, "08S01",
                       f"Lost connection to primary '{server}' during {what} ({reason}): the"
                       f" outcome of the transaction is unknown; check whether its changes"
                       f" are there before running it again")


def write_unknown(server: str, reason: str) -> ClientError:
    return ClientError(ErrorCode.CONNECTION_KILLED, "08S01",
                       f"Lost connection to primary '{server}' during a statement outside a"
                       f" transaction that may have written ({reason}): its outcome is unknown;"
                       f" check whether its changes are there before running it again")


_COMMIT = KindBits.COMMIT
_WARNED: set[str] = set()  # marker tables already warned about (not set up)


class PrimaryKeeper:
    __slots__ = ("_attempts", "_deadline", "_same", "_session", "_tasks", "commit_statements",
                 "marked", "marker", "marking", "reason", "replay_pending", "trx", "verify")

    def __init__(self, session: RWSplitSession) -> None:
        self._session = session
        # (topology snapshot, primary link) last seen with no other primary in the snapshot:
        # check_moved has nothing to do while both are the same objects
        self._same: tuple[object, Link] | None = None
        settings = session.settings
        self.trx: TrxLog | None = (TrxLog(settings.transaction_replay_max_size)
                                   if settings.transaction_replay else None)
        self.reason = ""  # why the primary link has no connection
        self.replay_pending = False  # the open transaction is replayed on the next connection
        table = session.service.config.routing.transaction_replay_commit_marker
        self.marker = CommitMarker(table) if self.trx is not None and table else None
        self.marking = False  # the marker is being written (the client's COMMIT waits)
        self.marked: int | None = None  # the token written for the COMMIT being relayed
        # a COMMIT lost in flight: (its token, the server it was sent to), read back next
        self.verify: tuple[int, str] | None = None
        # prepared statements that are a plain COMMIT: client id -> their classification
        self.commit_statements: dict[int, Classification] = {}
        self._attempts = 0
        self._deadline = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- when --------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self._session.settings.master_reconnection

    def can_replay(self) -> bool:
        trx = self.trx
        return trx is not None and trx.replayable

    def check_moved(self) -> None:
        """Before a command: when the topology's primary is another server than the session's
        primary link, and nothing ties the session to the old one, switch (lazily)."""
        s = self._session
        link = s.primary
        topology = s.service.topology.current
        same = self._same
        if same is not None and same[0] is topology and same[1] is link:
            return  # (snapshots are immutable: its primary is still this link's server)
        if not self.enabled or link.connecting or not link.ready or not link.idle:
            return
        current = topology.primary
        if current is None or current.name == link.name:
            self._same = (topology, link)
            return
        if s.keepalive.unrestorable():
            return
        self.lost(f"the primary is now '{current.name}'")

    def lost(self, reason: str) -> None:
        """The primary link's connection is gone (or must go): a fresh, unconnected link takes
        its place; the next command that needs the primary connects it."""
        s = self._session
        self.reason = reason
        s.retire_primary()
        log.info("Session %d: primary connection closed: %s", s.id, reason)
        if s.settings.master_failure_mode is MasterFailureMode.FAIL_INSTANTLY \
                and s.service.topology.current.primary is None:
            server = s.primary.server
            s.fail(errors.lost_backend(server.name, server.address, server.port, reason), seq=1)

    def ensure(self) -> None:
        """The primary link is needed: connect it unless it is connected or connecting."""
        s = self._session
        link = s.primary
        if link.ready or link.connecting or s.closed:
            return
        link.connecting = True
        loop = asyncio.get_running_loop()
        if not self._attempts:
            settings = s.settings
            # as in MaxScale, transaction_replay implies delayed_retry, for at least
            # transaction_replay_timeout: a statement outside a transaction during a failover
            # waits for the new primary too
            replay = settings.transaction_replay
            patience = settings.delayed_retry_timeout \
                if settings.delayed_retry or replay else 0.0
            if replay:
                patience = max(patience, settings.transaction_replay_timeout)
            self._deadline = loop.time() + patience
        self._attempts += 1
        task = asyncio.ensure_future(self._connect(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def attempts_left(self) -> int:
        return self._session.settings.transaction_replay_attempts - self._attempts

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of the session (cancelled when it closes)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        if self.marker is not None:
            self.marker.release()

    # -- the commit marker -------------------------------------------------------------------

    def wants_marker(self, payload: bytes, c: Classification | None) -> bool:
        """Is ``payload`` (about to go to the primary) a COMMIT of a replayable transaction
        that may have written, whose marker is not written yet?"""
        trx = self.trx
        if self.marker is None or trx is None or self.marked is not None or not trx.wrote \
                or not trx.replayable:
            return False
        s = self._session
        state = s.state
        if not state.in_trx or state.status & IN_TRANS_READONLY:
            return False
        if payload[0] == Command.STMT_EXECUTE:
            proxy_id = s.stmts.resolve(int.from_bytes(payload[1:5], "little"))
            known = self.commit_statements.get(proxy_id)
            stmt = state.ext.statements.get(proxy_id)
            return known is not None and stmt is not None and stmt.classification is known
        return c is not None and bool(int(c.kind) & _COMMIT) and plain_commit(payload[1:])

    def prepared(self, proxy_id: int, c: Classification, payload: bytes) -> None:
        """A statement was prepared (``payload``: the COM_STMT_PREPARE)."""
        if self.marker is None or not int(c.kind) & _COMMIT or not plain_commit(payload[1:]):
            return
        known = self.commit_statements
        if len(known) >= 16:  # forget closed ones (a client that prepares per transaction)
            live = self._session.state.ext.statements
            known = self.commit_statements = {k: v for k, v in known.items() if k in live}
        known[proxy_id] = c

    def mark(self, link: Link, packet: Packet, raw: bytes | None, decision: RouteDecision,
             c: Classification | None) -> None:
        """Write the marker on ``link`` (idle), then send the COMMIT (``packet``)."""
        marker = self.marker
        assert marker is not None
        token, payload = marker.write()
        self.marking = True
        s = self._session
        s._busy = True

        def then() -> None:
            if link.idle:
                s.run_on(link, packet, raw, decision, c)
            else:
                s.park(packet, raw, link, decision)

        def on_done(done: ResponseDone, _p: StatementPrepared | None, _b: bytes) -> None:
            self.marking = False
            if done.ok:
                self.marked = token
                then()
                return
            error = done.error
            code = error.code if error is not None else 0
            if code in NOT_SET_UP:
                if marker.table not in _WARNED:
                    _WARNED.add(marker.table)
                    log.warning("Session %d: transaction_replay_commit_marker: cannot write %s"
                                " (%s): COMMITs go on without it, a COMMIT lost in flight"
                                " gets the 'outcome unknown' error", s.id, marker.table,
                                error.message if error else "error")
                self.marked = 0  # not marked: go on without
                then()
                return
            # the transaction's own failure (e.g. a deadlock rolled it back): it is the answer
            # to the client's COMMIT, which is not sent
            s.answer_command(ClientError(code, error.sqlstate if error else "HY000",
                                         error.message if error else "the marker failed"))

        link.send(payload, Expect(CONSUME, on_done))

    def lost_commit(self, server: str) -> bool:
        """The primary (``server``) was lost with the client's COMMIT in flight: can its
        outcome be established on the next connection?  (Then it is read back first.)"""
        token, self.marked = self.marked, None
        if not token:
            return False
        self.verify = (token, server)
        return True

    def _verify(self, link: Link, then: Callable[[], None]) -> None:
        """Read the lost COMMIT's marker back on the new connection, before anything else."""
        s = self._session
        verify = self.verify
        marker = self.marker
        assert verify is not None and marker is not None
        token, lost_on = verify
        wait = int(s.settings.transaction_replay_timeout) or 1

        def on_done(done: ResponseDone, _p: StatementPrepared | None, data: bytes) -> None:
            if s.closed or s.primary is not link:
                return
            self.verify = None
            if not done.ok:
                detail = done.error.message if done.error is not None else "error"
                log.warning("Session %d: the outcome of the COMMIT lost in flight (%s) could"
                            " not be read on '%s': %s", s.id, self.reason, link.name, detail)
                s.fail(commit_unknown(lost_on, f"{self.reason}; reading the commit marker on"
                                               f" '{link.name}' failed: {detail}"),
                       seq=s.parked_seq() + 1)
                return
            value = first_value(data)
            committed = value is not None and value == str(token).encode()
            log.notice("Session %d: the outcome of the COMMIT lost in flight (%s), read on"
                       " '%s': %s", s.id, self.reason, link.name,
                       "committed; the COMMIT is answered OK" if committed else
                       "not committed; the transaction is replayed")
            if committed:
                self.replay_pending = False
                if self.trx is not None:
                    self.trx.clear()
                state = s.state
                s.state = dataclasses.replace(state, status=state.status & ~(
                    IN_TRANS | IN_TRANS_READONLY), trx_target=None)
            then()

        link.send(marker.read(wait), Expect(CONSUME, on_done, collect=True))

    # -- connecting --------------------------------------------------------------------------

    def _current_server(self) -> ServerConfig | None:
        s = self._session
        info = s.service.topology.current.primary
        if info is None or not info.available:
            return None
        return next((srv for srv in s.service.servers if srv.name == info.name), None)

    async def _connect(self, link: Link) -> None:
        s = self._session
        service = s.service
        loop = asyncio.get_running_loop()
        problem = "no primary"
        while True:
            gate = service.write_gate
            if gate is not None and gate.held:
                await gate.wait()
            server = self._current_server()
            if server is not None:
                try:
                    conn = await backend.connect(server, s.login, service.config.connect_timeout,
                                                 service.tls_for(server))
                    break
                except (ClientError, OSError, ProtocolError) as exc:
                    problem = exc.message if isinstance(exc, ClientError) else str(exc)
            if s.closed or s.primary is not link:
                return
            if loop.time() >= self._deadline:
                self._give_up(link, server, problem)
                return
            await asyncio.sleep(RETRY_PAUSE)
        service.observations.backend_connected(server.name, time.monotonic())
        if s.closed or s.primary is not link:
            await backend.close_quietly(conn)
            return
        link = s.adopt_primary(link, server, conn)
        self._restore(link)

    def _give_up(self, link: Link, server: ServerConfig | None, problem: str) -> None:
        s = self._session
        link.connecting = False
        self._attempts = 0
        if server is not None:
            error: ClientError = errors.cant_connect(server.name, server.address, server.port,
                                                     problem)
        else:
            error = errors.no_server(s.service.name)
        log.warning("Session %d: no primary connection (%s): %s", s.id, self.reason, problem)
        if self.replay_pending or s.settings.master_failure_mode \
                is not MasterFailureMode.ERROR_ON_WRITE:
            s.fail(error, seq=s.parked_seq() + 1)
            return
        s.answer_parked(link, error)

    # -- restoring ---------------------------------------------------------------------------

    def _restore(self, link: Link) -> None:
        s = self._session
        steps: list[tuple[bytes, OnDone]] = []
        for entry in s.history:
            if entry.ok is not None:
                steps.append((entry.payload, self._history_answer(link, entry.payload,
                                                                  entry.proxy_id, entry.ok)))
        for proxy_id, payload in tuple(s.prepared_texts.items()):
            if s.stmts.get(proxy_id) is None:
                del s.prepared_texts[proxy_id]
                continue
            steps.append((payload, self._history_answer(link, payload, proxy_id, True)))
        restored = len(steps)

        def restore() -> None:
            self._run(link, steps, 0, lambda: self._replay(link, restored))

        if self.verify is not None and self.marker is not None:
            self._verify(link, restore)  # on a fresh connection: before the session's SETs
        else:
            restore()

    def _history_answer(self, link: Link, payload: bytes, proxy_id: int, ok: bool) -> OnDone:
        s = self._session

        def on_done(done: ResponseDone, prepared: StatementPrepared | None, _: bytes) -> None:
            if prepared is not None and done.ok and proxy_id:
                s.stmts.prepared(proxy_id, link.name, prepared.statement_id,
                                 prepared.num_params)
            if done.ok != ok:
                text = payload[1:81].decode("utf-8", "replace")
                s.fail(errors.lost_backend(
                    link.name, link.server.address, link.server.port,
                    f"the session could not be restored: '{text}' answered"
                    f" {'OK' if done.ok else 'an error'} this time"), seq=s.parked_seq() + 1)
        return on_done

    def _run(self, link: Link, steps: list[tuple[bytes, OnDone]], index: int,
             then: Callable[[], None]) -> None:
        """Send ``steps`` one after the other (each after the previous answer), then ``then``."""
        s = self._session
        if s.closed or s.primary is not link:
            return
        if index == len(steps):
            then()
            return
        payload, callback = steps[index]

        def on_done(done: ResponseDone, prepared: StatementPrepared | None, data: bytes) -> None:
            callback(done, prepared, data)
            self._run(link, steps, index + 1, then)

        link.send(payload, Expect(CONSUME, on_done))

    def _replay(self, link: Link, restored: int) -> None:
        trx = self.trx
        if not self.replay_pending or trx is None:
            self._finish(link, restored, 0)
            return
        self._replay_one(link, restored, list(trx.statements), 0)

    def _replay_one(self, link: Link, restored: int, statements: list[TrxStatement],
                    index: int) -> None:
        s = self._session
        if s.closed or s.primary is not link:
            return
        if index == len(statements):
            s.service.replays += 1
            state = s.state
            if state.in_trx and state.trx_target != link.name:
                # the transaction now runs here (a new primary): route its statements here
                s.state = dataclasses.replace(state, trx_target=link.name)
            self._finish(link, restored, len(statements))
            return
        stmt = statements[index]
        payload = stmt.payload
        if payload[0] == Command.STMT_EXECUTE:
            statement = s.stmts.get(stmt.proxy_id)
            if statement is None or link.name not in statement.backend_ids:
                self._replay_mismatch(link, index, "a prepared statement of it is gone")
                return
            payload = s.stmts.execute_payload(payload, statement, link.name)
        expect = Expect(CONSUME, None, checksum=True)

        def on_done(done: ResponseDone, _p: StatementPrepared | None, _b: bytes) -> None:
            if expect.crc != stmt.crc:
                self._replay_mismatch(link, index, "its results differ on the new connection"
                                                   " (the data changed meanwhile)")
                return
            self._replay_one(link, restored, statements, index + 1)

        expect.on_done = on_done
        link.send(payload, expect)

    def _replay_mismatch(self, link: Link, index: int, why: str) -> None:
        s = self._session
        s.service.replay_failures += 1
        log.warning("Session %d: transaction replay on server '%s' failed at statement %d"
                    " (%s): rolled back", s.id, link.name, index + 1, why)
        link.send(b"\x03ROLLBACK", Expect(CONSUME, _ignore))
        self.replay_pending = False
        if self.trx is not None:
            self.trx.clear()
        state = s.state
        s.state = dataclasses.replace(state, status=state.status & ~(IN_TRANS | IN_TRANS_READONLY),
                                      trx_target=None)
        s.causal.start(link)
        link.connecting = False
        link.ready = True
        self._attempts = 0
        s.answer_parked(link, replay_failed(
            f"the connection to the primary was lost ({self.reason}) and replaying the"
            f" transaction on '{link.name}' failed at its statement {index + 1}: {why}"))

    def _finish(self, link: Link, restored: int, replayed: int) -> None:
        s = self._session
        s.causal.start(link)
        link.connecting = False
        link.ready = True
        self.replay_pending = False
        self._attempts = 0
        s.service.reconnections += 1
        conn: BackendConnection | None = link.conn
        extra = f", transaction of {replayed} statement(s) replayed" if replayed else ""
        log.notice("Session %d: reconnected to primary '%s' (thread %d): %s; %d session"
                   " command(s) and prepared statement(s) restored%s", s.id, link.name,
                   conn.thread_id if conn else 0, self.reason, restored, extra)
        if link.idle:
            link.wake()


def _ignore(done: ResponseDone, prepared: StatementPrepared | None, data: bytes) -> None:
    """A hidden command whose answer does not matter."""
