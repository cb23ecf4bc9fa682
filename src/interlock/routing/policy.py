"""The routing decision: ``decide(classification, state, topology, settings) -> RouteDecision``.

Theory of operation
-------------------
A pure function of the statement's classification, the session's routing state, a topology
snapshot and the router settings.  The rules, in the order they apply:

1. **Session commands** (``SET`` of session variables, ``USE``, text ``PREPARE``/``DEALLOCATE``)
   go to every backend (``Target.ALL``); the primary's answer is relayed.  (Inside a
   multi-statement they cannot, see 6.)
2. **Hints** (``-- maxscale route to ...``, or the top of the session's hint stack) override
   what follows, as in MaxScale, except inside a transaction when ``transaction_replay`` is on.
   ``route to server <name>`` and ``route to last`` are ignored when that server is not usable.
3. **Locks**: after ``LOCK TABLES``, inside XA, after a multi-statement with
   ``strict_multi_stmt`` or a ``CALL`` with ``strict_sp_calls``, or once the session's state
   diverged between backends, everything goes to the primary.
4. **Transactions** (from the backends' status flags): inside one, everything goes to the
   server running it (the primary, or the replica a ``START TRANSACTION READ ONLY`` went to).
   Outside: ``START TRANSACTION READ ONLY`` goes to a replica, other ``BEGIN``s to the primary;
   with ``autocommit=0`` everything goes to the primary (the statement opens a transaction).
5. **Primary-only kinds**: writes, DDL, unknown statements, ``CALL``, ``HANDLER``, ``LOAD DATA
   LOCAL``, XA, ``LOCK``/``UNLOCK TABLES``, ``SET TRANSACTION``, savepoints.
6. **Multi-statements** go to the primary.
7. ``EXECUTE name`` is routed as the statement prepared under that name.
8. **Reads** go to a replica unless: the primary alone can answer (``SHOW MASTER STATUS``...),
   they ask about the previous statement (``FOUND_ROWS()``, ``SHOW WARNINGS``: its server),
   they lock rows, write a file, call session-bound functions (``LAST_INSERT_ID()``,
   ``GET_LOCK``...), name a temporary table of the session, or use user variables while
   ``use_sql_variables_in=master`` (or after a variable was set on the primary only).  A read
   that *assigns* a user variable goes to every backend (``use_sql_variables_in=all``).
9. **Replica choice** (:mod:`interlock.routing.balancer`): ``max_replication_lag``,
   ``master_accept_reads``, ``slave_selection_criteria``, weights; ``causal_reads``: ``local``/
   ``global`` wait on the replica for the session's (service's) last GTID (``wait_gtid``),
   ``fast`` keeps only replicas the monitor knows have it.  No usable replica: the primary, with
   a reason metrics can count (``Reason.NO_USABLE_REPLICA`` / ``Reason.CAUSAL_FALLBACK``).
"""

from __future__ import annotations

import random

from interlock.routing.balancer import candidates, choose
from interlock.routing.causal import CausalReads, GtidPosition
from interlock.routing.decision import Reason, RouteDecision, Target, plain_decision
from interlock.routing.session_state import (
    AUTOCOMMIT,
    IN_TRANS,
    IN_TRANS_READONLY,
    LockReason,
    SessionState,
    effective_hint,
    qualify,
)
from interlock.routing.settings import RouterSettings, UseSqlVariablesIn
from interlock.routing.topology import Topology
from interlock.sql.hints import Hint, HintRoute
from interlock.sql.kinds import Classification, FeatureBits, KindBits, StatementKind
from interlock.wire.constants import Command

K, F = KindBits, FeatureBits
_READ = K.READ
_SESSION = K.SESSION_WRITE | K.PREPARE_NAMED | K.DEALLOCATE
# Primary-only statement kinds, most specific first (the first match names the reason).
_PRIMARY_KINDS: tuple[tuple[int, Reason], ...] = (
    (K.LOAD_LOCAL, Reason.LOAD_DATA_LOCAL), (K.CALL, Reason.CALL), (K.HANDLER, Reason.HANDLER),
    (K.XA, Reason.XA), (K.LOCK_TABLES | K.UNLOCK_TABLES, Reason.LOCK_TABLES),
    (K.NEXT_TRX, Reason.NEXT_TRX), (K.SAVEPOINT, Reason.SAVEPOINT),
    (K.WRITE | K.CREATE_TMP_TABLE | K.DROP_TABLE, Reason.WRITE), (K.UNKNOWN, Reason.UNKNOWN),
    (K.BEGIN_TRX, Reason.BEGIN), (K.COMMIT | K.ROLLBACK, Reason.TRX_END),
)
_PRIMARY_KIND_MASK = sum(bits for bits, _ in _PRIMARY_KINDS)
# Read features that keep a read on the primary, most specific first.
_PRIMARY_FEATURES: tuple[tuple[int, Reason], ...] = (
    (F.PRIMARY_ONLY, Reason.PRIMARY_ONLY_READ), (F.LOCKING_READ, Reason.LOCKING_READ),
    (F.INTO_FILE, Reason.SELECT_INTO), (F.MASTER_ONLY_FUNCTION, Reason.MASTER_ONLY_FUNCTION),
)
_LOCK_REASONS: tuple[tuple[int, Reason], ...] = (
    (int(LockReason.LOCK_TABLES), Reason.LOCK_TABLES), (int(LockReason.XA), Reason.XA),
    (int(LockReason.MULTI_STATEMENT), Reason.STRICT_MULTI_STMT),
    (int(LockReason.SP_CALL), Reason.STRICT_SP_CALLS),
    (int(LockReason.SESSION_DIVERGED), Reason.SESSION_DIVERGED),
)
_HINT_REASONS = {HintRoute.MASTER: Reason.HINT_MASTER, HintRoute.SLAVE: Reason.HINT_SLAVE,
                 HintRoute.SERVER: Reason.HINT_SERVER, HintRoute.LAST: Reason.HINT_LAST}
_ALL_SESSION = RouteDecision(Target.ALL, None, Reason.SESSION_COMMAND)
_ALL_PREPARE = RouteDecision(Target.ALL, None, Reason.PREPARE)
_ALL_ASSIGN = RouteDecision(Target.ALL, None, Reason.USER_VARIABLE_ASSIGNMENT)
_NO_CAUSAL = CausalReads.NONE
_NO_LOCKS = LockReason.NONE
_MULTI, _LAST, _ASSIGNS, _USES_VARS, _INTO = (F.MULTI_STATEMENT, F.LAST_TARGET,
                                              F.ASSIGNS_USER_VARS, F.USES_USER_VARS,
                                              F.SELECT_INTO)
_PRIMARY_FEATURE_MASK = sum(bits for bits, _ in _PRIMARY_FEATURES)


def _primary(topology: Topology, reason: Reason) -> RouteDecision:
    primary = topology.primary
    return plain_decision(Target.PRIMARY, primary.name if primary else None, reason)


def _first(bits: int, table: tuple[tuple[int, Reason], ...]) -> Reason | None:
    for mask, reason in table:
        if bits & mask:
            return reason
    return None


# ----------------------------------------------------------------------------- reads

def _wanted_position(state: SessionState, topology: Topology,
                     mode: CausalReads) -> GtidPosition | None:
    if mode.service_wide:
        service = topology.wanted_global_position()
        wanted = service.merge(state.causal_gtid) if service else state.causal_gtid
    else:
        wanted = state.causal_gtid
    return wanted or None


def route_read(state: SessionState, topology: Topology, settings: RouterSettings, *,
               max_lag: float | None = None, reason: Reason = Reason.READ,
               rng: random.Random | None = None) -> RouteDecision:
    """Send a read to a replica (balancer, lag, causal reads) or fall back to the primary."""
    mode = settings.causal_reads
    lag = settings.max_replication_lag if max_lag is None else max_lag
    if mode is _NO_CAUSAL:
        wanted, fast, synced = None, False, state.causal_synced
    else:
        wanted = _wanted_position(state, topology, mode)
        fast = wanted is not None and not mode.waits
        synced = frozenset() if mode.service_wide else state.causal_synced
    found = candidates(topology, max_lag=lag, wanted=wanted if fast else None, synced=synced,
                       include_primary=settings.master_accept_reads)
    server = choose(found, settings.slave_selection_criteria, rng)
    primary = topology.primary
    if server is None or server is primary:
        if server is not None and len(found) > 1:
            return RouteDecision(Target.PRIMARY, server.name, Reason.READ_ON_PRIMARY)
        if fast and candidates(topology, max_lag=lag):
            return _primary(topology, Reason.CAUSAL_FALLBACK)
        return _primary(topology, Reason.NO_USABLE_REPLICA)
    if wanted is None:
        return plain_decision(Target.REPLICA, server.name, reason)
    if mode.waits and (mode.service_wide or server.name not in synced):
        return RouteDecision(Target.REPLICA, server.name, reason, wait_gtid=wanted, causal=mode,
                             wait_timeout=settings.causal_reads_timeout)
    return RouteDecision(Target.REPLICA, server.name, reason, causal=mode if fast else _NO_CAUSAL)


def _uses_temp_table(c: Classification, state: SessionState) -> bool:
    temp = state.ext.temp_tables
    if not temp:
        return False
    database = state.ext.database
    return any(qualify(table, database) in temp for table in c.tables)


def _read(c: Classification, features: int, state: SessionState, topology: Topology,
          settings: RouterSettings, max_lag: float | None,
          rng: random.Random | None) -> RouteDecision:
    if features:
        if features & _LAST:
            if topology.usable(state.last_target):
                return plain_decision(Target.LAST, state.last_target, Reason.PREVIOUS_TARGET)
            return _primary(topology, Reason.PREVIOUS_TARGET)
        if features & _PRIMARY_FEATURE_MASK:
            return _primary(topology, _first(features, _PRIMARY_FEATURES) or Reason.WRITE)
    if state.ext.temp_tables and _uses_temp_table(c, state):
        return _primary(topology, Reason.TEMPORARY_TABLE)
    if features:
        if features & _USES_VARS and (
                settings.use_sql_variables_in is UseSqlVariablesIn.MASTER
                or state.ext.user_vars_on_primary):
            return _primary(topology, Reason.USER_VARIABLES)
        if features & _INTO:  # SELECT ... INTO @v: on the primary (the value is its own)
            return _primary(topology, Reason.SELECT_INTO)
        if features & _ASSIGNS:
            return _ALL_ASSIGN
    return route_read(state, topology, settings, max_lag=max_lag, rng=rng)


# ----------------------------------------------------------------------------- statements

def _hinted(hint: Hint, c: Classification, state: SessionState, topology: Topology,
            settings: RouterSettings, rng: random.Random | None) -> RouteDecision | None:
    route = hint.route
    if route is HintRoute.MASTER:
        return _primary(topology, Reason.HINT_MASTER)
    if route is HintRoute.SLAVE:
        return route_read(state, topology, settings, max_lag=hint.max_replication_lag,
                          reason=Reason.HINT_SLAVE, rng=rng)
    name = hint.server if route is HintRoute.SERVER else state.last_target
    if route is not None and topology.usable(name):
        target = Target.SERVER if route is HintRoute.SERVER else Target.LAST
        return RouteDecision(target, name, _HINT_REASONS[route])
    return None  # not usable, or only a lag limit: normal routing


def _transaction(kind: int, state: SessionState, topology: Topology, settings: RouterSettings,
                 rng: random.Random | None) -> RouteDecision | None:
    if state.status & IN_TRANS:  # stay on the transaction's server
        read_only = bool(state.status & IN_TRANS_READONLY)
        reason = Reason.READ_ONLY_TRX if read_only else Reason.READ_WRITE_TRX
        primary = topology.primary
        target = state.trx_target
        if target is None or (primary is not None and target == primary.name):
            return _primary(topology, reason)
        return plain_decision(Target.SERVER, target, reason)
    if kind & K.BEGIN_TRX_READ_ONLY:
        return route_read(state, topology, settings, reason=Reason.BEGIN_READ_ONLY, rng=rng)
    if not state.status & AUTOCOMMIT and not kind & _SESSION:  # this opens a transaction
        return _primary(topology, Reason.AUTOCOMMIT_OFF)
    return None


def _route(c: Classification, state: SessionState, topology: Topology,
           settings: RouterSettings, rng: random.Random | None, hints: bool) -> RouteDecision:
    kind, features = int(c.kind), int(c.features)
    multi = features & _MULTI
    if kind & _SESSION and not multi:
        return _ALL_PREPARE if kind & (K.PREPARE_NAMED | K.DEALLOCATE) else _ALL_SESSION
    max_lag: float | None = None
    if hints and (c.hint is not None or state.ext.hint_stack) and not (
            settings.transaction_replay and state.status & IN_TRANS):
        hint = effective_hint(c.hint, state)
        if hint is not None:
            decided = _hinted(hint, c, state, topology, settings, rng)
            if decided is not None:
                return decided
            max_lag = hint.max_replication_lag
    if state.locks is not _NO_LOCKS:  # (Flag.__bool__ is a Python-level call)
        return _primary(topology, _first(int(state.locks), _LOCK_REASONS) or Reason.WRITE)
    in_trx = _transaction(kind, state, topology, settings, rng)
    if in_trx is not None:
        return in_trx
    if multi:
        return _primary(topology, Reason.MULTI_STATEMENT)
    if kind & _PRIMARY_KIND_MASK:
        return _primary(topology, _first(kind, _PRIMARY_KINDS) or Reason.WRITE)
    if kind & K.EXECUTE_NAMED:
        prepared = state.ext.prepared.get(c.name or "")
        if prepared is None:
            return _primary(topology, Reason.UNKNOWN_PREPARED)
        return _route(prepared, state, topology, settings, rng, hints=False)
    if kind & _READ:
        return _read(c, features, state, topology, settings, max_lag, rng)
    return _primary(topology, Reason.UNKNOWN)


def decide(c: Classification, state: SessionState, topology: Topology,
           settings: RouterSettings, *, rng: random.Random | None = None) -> RouteDecision:
    """Where the COM_QUERY classified as ``c`` goes."""
    return _route(c, state, topology, settings, rng, hints=True)


# ----------------------------------------------------------------------------- commands

_ALL_COMMANDS = frozenset((
    Command.INIT_DB, Command.CHANGE_USER, Command.RESET_CONNECTION, Command.SET_OPTION,
    Command.PING, Command.QUIT, Command.STMT_CLOSE, Command.STMT_RESET, Command.REFRESH,
    Command.DEBUG,
))
_FIELD_LIST = Classification(StatementKind.READ)


def can_run_on_replica(c: Classification) -> bool:
    """Might a statement of this classification ever be routed to a replica?"""
    kind, features = int(c.kind), int(c.features)
    if kind & (_PRIMARY_KIND_MASK & ~(K.BEGIN_TRX | K.COMMIT | K.ROLLBACK)):
        return False
    return not features & (F.MULTI_STATEMENT | F.PRIMARY_ONLY | F.LOCKING_READ | F.INTO_FILE
                           | F.MASTER_ONLY_FUNCTION)


def decide_command(command: int, state: SessionState, topology: Topology,
                   settings: RouterSettings, *, classification: Classification | None = None,
                   stmt_id: int | None = None,
                   rng: random.Random | None = None) -> RouteDecision:
    """Where a protocol command goes.

    ``classification``: of the SQL for COM_QUERY and COM_STMT_PREPARE (and optionally of the
    table for COM_FIELD_LIST); ``stmt_id``: for the COM_STMT_* commands that carry one.
    """
    if command == Command.QUERY:
        if classification is None:
            return _primary(topology, Reason.UNKNOWN)
        return decide(classification, state, topology, settings, rng=rng)
    if command in _ALL_COMMANDS:
        return _ALL_SESSION
    if command == Command.STMT_PREPARE:
        if classification is not None and not can_run_on_replica(classification):
            return _primary(topology, Reason.PREPARE)
        return _ALL_PREPARE
    if command in (Command.STMT_EXECUTE, Command.STMT_BULK_EXECUTE,
                   Command.STMT_SEND_LONG_DATA):
        return _execute(command, state, topology, settings, stmt_id, rng)
    if command == Command.STMT_FETCH:
        stmt = state.ext.statements.get(stmt_id) if stmt_id is not None else None
        if stmt is not None and topology.usable(stmt.cursor_server):
            return RouteDecision(Target.SERVER, stmt.cursor_server, Reason.CURSOR)
        if topology.usable(state.last_target):
            return RouteDecision(Target.LAST, state.last_target, Reason.CURSOR)
        return _primary(topology, Reason.CURSOR)
    if command == Command.FIELD_LIST:
        return _route(classification or _FIELD_LIST, state, topology, settings, rng, False)
    return _primary(topology, Reason.COMMAND)


def _execute(command: int, state: SessionState, topology: Topology, settings: RouterSettings,
             stmt_id: int | None, rng: random.Random | None) -> RouteDecision:
    stmt = state.ext.statements.get(stmt_id) if stmt_id is not None else None
    if stmt is None:
        return _primary(topology, Reason.UNKNOWN_PREPARED)
    if stmt.pinned_server is not None and topology.usable(stmt.pinned_server):
        return RouteDecision(Target.SERVER, stmt.pinned_server, Reason.LONG_DATA)
    decision = _route(stmt.classification, state, topology, settings, rng, hints=False)
    if command == Command.STMT_SEND_LONG_DATA and decision.target is not Target.ALL:
        return RouteDecision(decision.target, decision.server, Reason.LONG_DATA)
    return decision


_NOT_PLAIN_KINDS = _SESSION | _PRIMARY_KIND_MASK | K.EXECUTE_NAMED | K.BEGIN_TRX_READ_ONLY
_NOT_PLAIN_FEATURES = (_MULTI | _LAST | _PRIMARY_FEATURE_MASK | _USES_VARS | _INTO | _ASSIGNS)


def execute_is_plain_read(stmt_id: int, state: SessionState) -> bool:
    """Is ``decide_command(STMT_EXECUTE, state, topology, settings, stmt_id=stmt_id)`` the
    same as ``route_read(state, topology, settings)``, whatever the topology and settings?

    True for a prepared plain read (no locking, user variables, temporary tables...) in
    autocommit, outside a transaction, with no session lock and no long-data pin.  The answer
    depends only on ``stmt_id``, ``state.ext``, ``state.status`` and ``state.locks`` (not on
    ``last_target`` or the causal-reads fields): the I/O layer may keep it while those are the
    same, and then call only :func:`route_read` per execution.  (Mirrors ``_execute`` ->
    ``_route(hints=False)`` -> ``_read``; a unit test checks it against them.)
    """
    stmt = state.ext.statements.get(stmt_id)
    if stmt is None or stmt.pinned_server is not None:
        return False
    if state.locks is not _NO_LOCKS or state.status & IN_TRANS \
            or not state.status & AUTOCOMMIT or state.ext.temp_tables:
        return False
    c = stmt.classification
    kind = int(c.kind)
    return bool(kind & _READ) and not kind & _NOT_PLAIN_KINDS \
        and not int(c.features) & _NOT_PLAIN_FEATURES


def execute_is_pinned(state: SessionState) -> bool:
    """Is ``decide_command(STMT_EXECUTE, state, topology, settings, stmt_id=...)`` a pure
    function of the statement, ``state``, ``topology`` and ``settings`` (no replica choice, so
    no dependence on the live load or the random tie-break)?

    True inside a transaction (everything goes to its server) and under a session lock
    (everything goes to the primary): ``_execute`` -> ``_route(hints=False)`` decides before
    any read routing.  The I/O layer may keep such a decision per statement while the state
    and topology snapshots are the same objects.  (A unit test checks it against loads and
    seeds.)
    """
    return bool(state.status & IN_TRANS) or state.locks is not _NO_LOCKS


def causal_timeout_fallback(decision: RouteDecision, topology: Topology) -> RouteDecision:
    """The wait before ``decision``'s read timed out: the read is retried on the primary."""
    primary = topology.primary
    return RouteDecision(Target.PRIMARY, primary.name if primary else None,
                         Reason.CAUSAL_TIMEOUT, causal=decision.causal)
