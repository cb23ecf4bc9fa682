"""Per-session routing state and the pure functions that advance it.

Theory of operation
-------------------
A :class:`SessionState` is immutable; after every response the I/O layer replaces it with the
result of one of the ``after_*`` functions, given the statement's classification, the decision
that routed it and :class:`ResponseFacts` (what the backend reported).

Transaction state comes from the backends' status flags (``IN_TRANS``, ``IN_TRANS_READONLY``,
``AUTOCOMMIT`` of the last OK/EOF), so transactions an ORM opens implicitly, ``autocommit=0``,
``COMMIT AND CHAIN`` or a DDL's implicit commit are seen as the server sees them.  Parsing only
decides what must be known *before* the answer: where ``BEGIN``/``START TRANSACTION READ ONLY``
itself goes (see :mod:`interlock.routing.policy`).  The server that answered with ``IN_TRANS``
set becomes the transaction's server (``trx_target``) until a response shows it ended.  An ERR
packet carries no status flags: the previous ones stay (a rolled-back deadlock keeps the session
on the primary until the next OK, which errs on the safe side).

Everything else the router must remember is tracked from classifications of statements that
succeeded: temporary tables (qualified with the current database), ``LOCK TABLES`` and XA
(session locked to the primary), text and binary prepared statements, the database, the hint
stack, the last target, and for ``causal_reads`` the session's last write GTID together with the
servers known to have it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntFlag

from interlock.routing.causal import EMPTY_POSITION, GtidPosition
from interlock.routing.decision import RouteDecision, Target
from interlock.routing.errors import GtidError
from interlock.routing.settings import RouterSettings
from interlock.sql.hints import Hint, HintAction, HintDirective
from interlock.sql.kinds import Classification, FeatureBits, KindBits
from interlock.wire.constants import ServerStatus

IN_TRANS = int(ServerStatus.IN_TRANS)
AUTOCOMMIT = int(ServerStatus.AUTOCOMMIT)
IN_TRANS_READONLY = int(ServerStatus.IN_TRANS_READONLY)
CURSOR_EXISTS = int(ServerStatus.CURSOR_EXISTS)
NO_BACKSLASH_ESCAPES = int(ServerStatus.NO_BACKSLASH_ESCAPES)
_KEPT_STATUS = IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY | NO_BACKSLASH_ESCAPES


class LockReason(IntFlag):
    """Why every statement of the session goes to the primary for now."""

    NONE = 0
    LOCK_TABLES = 1  # LOCK TABLES / FLUSH TABLES WITH READ LOCK until UNLOCK TABLES
    XA = 2  # between XA START and XA COMMIT / XA ROLLBACK
    MULTI_STATEMENT = 4  # strict_multi_stmt after a multi-statement (for the whole session)
    SP_CALL = 8  # strict_sp_calls after a CALL (for the whole session)
    SESSION_DIVERGED = 16  # session state changed on the primary only (SET in a multi-statement)


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """What the backend that answered the client reported."""

    server: str  # the server whose answer went to the client (the primary for session commands)
    ok: bool = True  # False: the statement failed (ERR)
    status: int | None = None  # server status flags of the final OK/EOF (None after an ERR)
    last_gtid: str | None = None  # session-tracked ``last_gtid`` of a write, if reported
    database: str | None = None  # session-tracked schema change, if reported
    # For a session command (Target.ALL) while a transaction runs on another server than the
    # one that answered: the status that server reported (None: not known).
    trx_server_status: int | None = None


@dataclass(frozen=True, slots=True)
class PreparedStatement:
    """A binary-protocol prepared statement of the session (by the id the client sees)."""

    classification: Classification
    cursor_server: str | None = None  # where the last execute left an open cursor
    pinned_server: str | None = None  # where long data was sent: the execute must go there


@dataclass(frozen=True, slots=True)
class SessionExtras:
    """The slower-changing part of the state (kept apart so most updates copy fewer fields)."""

    database: str | None = None  # lower case
    temp_tables: frozenset[str] = frozenset()  # "db.table" (lower case)
    prepared: Mapping[str, Classification | None] = field(default_factory=dict)  # text PREPARE
    statements: Mapping[int, PreparedStatement] = field(default_factory=dict)  # binary
    user_vars_on_primary: bool = False  # a user variable was set on the primary only
    hint_stack: tuple[Hint, ...] = ()
    named_hints: Mapping[str, Hint] = field(default_factory=dict)


_EMPTY_EXTRAS = SessionExtras()
_LOCK_TABLES = int(LockReason.LOCK_TABLES)
_XA = int(LockReason.XA)
_MULTI = int(LockReason.MULTI_STATEMENT)
_SP_CALL = int(LockReason.SP_CALL)
_DIVERGED = int(LockReason.SESSION_DIVERGED)


@dataclass(frozen=True, slots=True)
class SessionState:
    status: int = AUTOCOMMIT  # IN_TRANS | AUTOCOMMIT | IN_TRANS_READONLY | NO_BACKSLASH_ESCAPES
    trx_target: str | None = None  # the server running the open transaction
    last_target: str | None = None  # where the previous statement ran
    locks: LockReason = LockReason.NONE
    causal_gtid: GtidPosition = EMPTY_POSITION  # the session's last write
    causal_synced: frozenset[str] = frozenset()  # servers known to have ``causal_gtid``
    ext: SessionExtras = _EMPTY_EXTRAS

    @property
    def in_trx(self) -> bool:
        return bool(self.status & IN_TRANS)

    @property
    def in_read_only_trx(self) -> bool:
        return bool(self.status & IN_TRANS) and bool(self.status & IN_TRANS_READONLY)

    @property
    def in_read_write_trx(self) -> bool:
        return bool(self.status & IN_TRANS) and not self.status & IN_TRANS_READONLY

    @property
    def autocommit(self) -> bool:
        return bool(self.status & AUTOCOMMIT)

    @property
    def no_backslash_escapes(self) -> bool:
        """Pass to ``classify``: the session's sql_mode makes backslash an ordinary character."""
        return bool(self.status & NO_BACKSLASH_ESCAPES)

    @property
    def database(self) -> str | None:
        return self.ext.database

    @property
    def temp_tables(self) -> frozenset[str]:
        return self.ext.temp_tables


def initial_state(status: int = AUTOCOMMIT, database: str | None = None) -> SessionState:
    """The state of a new session (``status``: from the primary's handshake)."""
    ext = _EMPTY_EXTRAS if database is None else SessionExtras(database=database.lower())
    return SessionState(status=status & _KEPT_STATUS, ext=ext)


def qualify(table: str, database: str | None) -> str:
    """``t`` -> ``db.t`` with the session's database (names are already lower case)."""
    if "." in table or database is None:
        return table
    return f"{database}.{table}"


# ----------------------------------------------------------------------------- hints

def effective_hint(directive: HintDirective | None, state: SessionState) -> Hint | None:
    """The hint that applies to this statement (its own, or the top of the hint stack)."""
    stack = state.ext.hint_stack
    if directive is None or directive.action is HintAction.DEFINE:
        return stack[-1] if stack else None
    if directive.action is HintAction.USE:
        return directive.hint
    if directive.action is HintAction.POP:
        return stack[-2] if len(stack) > 1 else None
    if directive.name is not None:  # PUSH of a named hint
        return state.ext.named_hints.get(directive.name.lower())
    return directive.hint


def _apply_directive(ext: SessionExtras, directive: HintDirective) -> SessionExtras:
    if directive.action is HintAction.POP:
        return replace(ext, hint_stack=ext.hint_stack[:-1])
    if directive.action is HintAction.DEFINE and directive.name and directive.hint:
        named = {**ext.named_hints, directive.name.lower(): directive.hint}
        return replace(ext, named_hints=named)
    if directive.action is HintAction.PUSH:
        hint = (ext.named_hints.get(directive.name.lower()) if directive.name
                else directive.hint)
        if hint is not None:
            return replace(ext, hint_stack=(*ext.hint_stack, hint))
    return ext


# ----------------------------------------------------------------------------- effects

_EFFECT_KINDS = (KindBits.CREATE_TMP_TABLE | KindBits.DROP_TABLE | KindBits.LOCK_TABLES
                 | KindBits.UNLOCK_TABLES | KindBits.XA | KindBits.PREPARE_NAMED
                 | KindBits.DEALLOCATE | KindBits.USE)
_SESSION_KINDS = (KindBits.SESSION_WRITE | KindBits.PREPARE_NAMED | KindBits.DEALLOCATE)
_XA_OPEN = frozenset(("start", "begin"))
_XA_CLOSE = frozenset(("commit", "rollback"))


def _part_effects(part: Classification, locks: int,
                  ext: SessionExtras) -> tuple[int, SessionExtras]:
    kind = int(part.kind)
    db = ext.database
    if kind & KindBits.CREATE_TMP_TABLE and part.name:
        ext = replace(ext, temp_tables=ext.temp_tables | {qualify(part.name, db)})
    if kind & KindBits.DROP_TABLE and ext.temp_tables:
        dropped = {qualify(t, db) for t in part.dropped_tables}
        ext = replace(ext, temp_tables=ext.temp_tables - dropped)
    if kind & KindBits.LOCK_TABLES:
        locks |= _LOCK_TABLES
    if kind & KindBits.UNLOCK_TABLES:
        locks &= ~_LOCK_TABLES
    if kind & KindBits.XA and part.name in _XA_OPEN:
        locks |= _XA
    if kind & KindBits.XA and part.name in _XA_CLOSE:
        locks &= ~_XA
    if kind & KindBits.PREPARE_NAMED and part.name:
        ext = replace(ext, prepared={**ext.prepared, part.name: part.prepared})
    if kind & KindBits.DEALLOCATE and part.name in ext.prepared:
        ext = replace(ext, prepared={k: v for k, v in ext.prepared.items() if k != part.name})
    if kind & KindBits.USE and part.database:
        ext = replace(ext, database=part.database)
    return locks, ext


def _effects(c: Classification, decision: RouteDecision, locks: int,
             ext: SessionExtras) -> tuple[int, SessionExtras]:
    for part in c.parts:
        if int(part.kind) & _EFFECT_KINDS:
            locks, ext = _part_effects(part, locks, ext)
        if int(part.kind) & _SESSION_KINDS and decision.target is not Target.ALL:
            locks |= _DIVERGED  # e.g. SET inside a multi-statement
    if int(c.features) & FeatureBits.ASSIGNS_USER_VARS and decision.target is not Target.ALL:
        ext = replace(ext, user_vars_on_primary=True)
    return locks, ext


_TRX_BITS = IN_TRANS | IN_TRANS_READONLY


def _transaction(state: SessionState, facts: ResponseFacts) -> tuple[int, str | None]:
    if facts.status is None:
        return state.status, state.trx_target
    status = facts.status & _KEPT_STATUS
    trx_target = state.trx_target
    if state.status & IN_TRANS and trx_target is not None and facts.server != trx_target:
        # Another server answered (a session command's replier, a hinted statement): its flags
        # say nothing about the transaction, which only its own server can end.
        known = facts.trx_server_status
        trx = (known if known is not None else state.status) & _TRX_BITS
        status = (status & ~_TRX_BITS) | trx
        return status, trx_target if status & IN_TRANS else None
    if not status & IN_TRANS:
        return status, None
    return status, trx_target or facts.server


def _causal(state: SessionState, decision: RouteDecision,
            facts: ResponseFacts) -> tuple[GtidPosition, frozenset[str]]:
    gtid, synced = state.causal_gtid, state.causal_synced
    if facts.last_gtid:
        try:
            written = GtidPosition.parse(facts.last_gtid)
        except GtidError:
            return gtid, synced
        return gtid.merge(written), frozenset((facts.server,))
    if decision.wait_gtid is not None and facts.ok and facts.server not in synced:
        return gtid, synced | {facts.server}
    return gtid, synced


# Built once per response: the slot descriptors set the fields of the frozen dataclass without
# going through object.__setattr__ per field (half the cost; tests compare with __init__).
_SET_STATUS, _SET_TRX, _SET_LAST, _SET_LOCKS, _SET_GTID, _SET_SYNCED, _SET_EXT = (
    SessionState.__dict__[f].__set__ for f in (
        "status", "trx_target", "last_target", "locks", "causal_gtid", "causal_synced", "ext"))


def make_state(status: int, trx_target: str | None, last_target: str | None,
               locks: LockReason, causal_gtid: GtidPosition, causal_synced: frozenset[str],
               ext: SessionExtras) -> SessionState:
    """``SessionState(...)`` with every field given, built faster."""
    state: SessionState = object.__new__(SessionState)
    _SET_STATUS(state, status)
    _SET_TRX(state, trx_target)
    _SET_LAST(state, last_target)
    _SET_LOCKS(state, locks)
    _SET_GTID(state, causal_gtid)
    _SET_SYNCED(state, causal_synced)
    _SET_EXT(state, ext)
    return state


def _finish(state: SessionState, decision: RouteDecision, facts: ResponseFacts, locks: int,
            ext: SessionExtras) -> SessionState:
    status, trx_target = _transaction(state, facts)
    if facts.last_gtid or decision.wait_gtid is not None:
        gtid, synced = _causal(state, decision, facts)
    else:
        gtid, synced = state.causal_gtid, state.causal_synced
    if facts.database is not None and facts.database.lower() != ext.database:
        ext = replace(ext, database=facts.database.lower())
    lock_flags = state.locks if locks == state.locks else LockReason(locks)
    if (status == state.status and trx_target == state.trx_target
            and facts.server == state.last_target and lock_flags is state.locks
            and gtid is state.causal_gtid and synced is state.causal_synced
            and ext is state.ext):
        return state  # nothing changed (e.g. a run of reads on the same replica)
    return make_state(status, trx_target, facts.server, lock_flags, gtid, synced, ext)


# ----------------------------------------------------------------------------- updates

def after_query(state: SessionState, c: Classification, decision: RouteDecision,
                facts: ResponseFacts, settings: RouterSettings) -> SessionState:
    """The state after a COM_QUERY ``c``, routed by ``decision``, was answered."""
    return _after_statement(state, c, decision, facts, settings, hints=True)


def _after_statement(state: SessionState, c: Classification, decision: RouteDecision,
                     facts: ResponseFacts, settings: RouterSettings,
                     hints: bool) -> SessionState:
    locks, ext = int(state.locks), state.ext
    if hints and c.hint is not None and c.hint.action is not HintAction.USE:
        ext = _apply_directive(ext, c.hint)
    features, kind = int(c.features), int(c.kind)
    if features & FeatureBits.MULTI_STATEMENT and settings.strict_multi_stmt:
        locks |= _MULTI
    if kind & KindBits.CALL and settings.strict_sp_calls:
        locks |= _SP_CALL
    if facts.ok and (kind & _EFFECT_KINDS or features & (FeatureBits.MULTI_STATEMENT
                                                         | FeatureBits.ASSIGNS_USER_VARS)):
        locks, ext = _effects(c, decision, locks, ext)
    if kind & KindBits.CALL and features & FeatureBits.USES_USER_VARS \
            and not ext.user_vars_on_primary:
        # CALL p(..., @out): an OUT parameter sets the variable on the primary only
        ext = replace(ext, user_vars_on_primary=True)
    return _finish(state, decision, facts, locks, ext)


def after_command(state: SessionState, decision: RouteDecision,
                  facts: ResponseFacts) -> SessionState:
    """The state after another command (COM_PING, COM_FIELD_LIST, COM_SET_OPTION...)."""
    return _finish(state, decision, facts, int(state.locks), state.ext)


def after_init_db(state: SessionState, database: str, decision: RouteDecision,
                  facts: ResponseFacts) -> SessionState:
    """COM_INIT_DB answered."""
    ext = replace(state.ext, database=database.lower()) if facts.ok else state.ext
    return _finish(state, decision, facts, int(state.locks), ext)


def after_reset(state: SessionState, facts: ResponseFacts,
                database: str | None = None) -> SessionState:
    """COM_CHANGE_USER or COM_RESET_CONNECTION succeeded: the server forgot the session."""
    if not facts.ok:
        return state
    keep = SessionExtras(database=database.lower() if database else None,
                         hint_stack=state.ext.hint_stack, named_hints=state.ext.named_hints)
    status = facts.status & _KEPT_STATUS if facts.status is not None else AUTOCOMMIT
    locks = LockReason(int(state.locks) & (_MULTI | _SP_CALL))  # strict_* last the session
    return SessionState(status, None, facts.server, locks, state.causal_gtid,
                        state.causal_synced, keep)


def statement_prepared(state: SessionState, stmt_id: int, c: Classification) -> SessionState:
    """COM_STMT_PREPARE succeeded; ``stmt_id`` is the id the client was given."""
    return _put_statement(state, stmt_id, PreparedStatement(c))


def statement_closed(state: SessionState, stmt_id: int) -> SessionState:
    """COM_STMT_CLOSE (no answer): forget the statement."""
    if stmt_id not in state.ext.statements:
        return state
    statements = {k: v for k, v in state.ext.statements.items() if k != stmt_id}
    return replace(state, ext=replace(state.ext, statements=statements))


def _put_statement(state: SessionState, stmt_id: int, stmt: PreparedStatement) -> SessionState:
    statements = {**state.ext.statements, stmt_id: stmt}
    return replace(state, ext=replace(state.ext, statements=statements))


def long_data_sent(state: SessionState, stmt_id: int, server: str) -> SessionState:
    """COM_STMT_SEND_LONG_DATA went to ``server``: the execute has to follow it there."""
    known = state.ext.statements.get(stmt_id)
    if known is None or known.pinned_server == server:
        return state
    return _put_statement(state, stmt_id, replace(known, pinned_server=server))


def after_execute(state: SessionState, stmt_id: int, decision: RouteDecision,
                  facts: ResponseFacts, settings: RouterSettings) -> SessionState:
    """COM_STMT_EXECUTE (or BULK_EXECUTE) answered: like a query of the statement's kind,
    plus where a cursor it opened lives; the long-data pin is used up."""
    known = state.ext.statements.get(stmt_id)
    if known is None:
        return _finish(state, decision, facts, int(state.locks), state.ext)
    cursor = facts.server if facts.status is not None and facts.status & CURSOR_EXISTS else None
    if cursor != known.cursor_server or known.pinned_server is not None:
        state = _put_statement(state, stmt_id, PreparedStatement(known.classification, cursor))
    c = known.classification
    if no_statement_effects(c):  # (a prepared plain read: only status and targets change)
        return _finish(state, decision, facts, int(state.locks), state.ext)
    return _after_statement(state, c, decision, facts, settings, hints=False)


# what makes _after_statement(hints=False) more than _finish: locks (strict_multi_stmt,
# strict_sp_calls), statement effects, user variables set on the primary only
_STATEMENT_EFFECT_KINDS = int(_EFFECT_KINDS | KindBits.CALL)
_STATEMENT_EFFECT_FEATURES = int(FeatureBits.MULTI_STATEMENT | FeatureBits.ASSIGNS_USER_VARS)


def no_statement_effects(c: Classification) -> bool:
    """Does the state after a statement classified as ``c`` (no hint of its own) depend only
    on the response (status flags, server, tracked GTID/schema), whatever the settings?"""
    return not (int(c.kind) & _STATEMENT_EFFECT_KINDS
                or int(c.features) & _STATEMENT_EFFECT_FEATURES)
