"""What the router decided for one statement or command: :class:`RouteDecision`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from interlock.routing.causal import CausalReads, GtidPosition


class Target(IntEnum):
    PRIMARY = 1  # the current primary (``server`` names it; None: there is no usable primary)
    REPLICA = 2  # ``server`` is the replica the balancer chose
    ALL = 3  # a session command: every backend of the session; the primary's answer is relayed
    LAST = 4  # where the previous statement ran (``server``)
    SERVER = 5  # a server named by a hint, or the one holding the session's read-only trx/cursor


class Reason(StrEnum):
    """Why a statement goes where it goes: for logs, tests and per-reason metrics."""

    WRITE = "write"
    UNKNOWN = "unknown"  # unclassifiable input
    SESSION_COMMAND = "session_command"
    USER_VARIABLE_ASSIGNMENT = "user_variable_assignment"  # SELECT @v := ... to every backend
    PREPARE = "prepare"
    READ_WRITE_TRX = "read_write_transaction"
    READ_ONLY_TRX = "read_only_transaction"
    AUTOCOMMIT_OFF = "autocommit_off"
    BEGIN = "begin"
    BEGIN_READ_ONLY = "begin_read_only"
    TRX_END = "transaction_end"
    NEXT_TRX = "set_transaction"
    SAVEPOINT = "savepoint"
    LOCK_TABLES = "lock_tables"
    XA = "xa"
    STRICT_MULTI_STMT = "strict_multi_stmt"
    STRICT_SP_CALLS = "strict_sp_calls"
    SESSION_DIVERGED = "session_diverged"
    MULTI_STATEMENT = "multi_statement"
    CALL = "call"
    HANDLER = "handler"
    LOAD_DATA_LOCAL = "load_data_local"
    TEMPORARY_TABLE = "temporary_table"
    LOCKING_READ = "locking_read"
    SELECT_INTO = "select_into"
    MASTER_ONLY_FUNCTION = "master_only_function"
    PRIMARY_ONLY_READ = "primary_only_read"
    USER_VARIABLES = "user_variables"
    PREVIOUS_TARGET = "previous_target"
    UNKNOWN_PREPARED = "unknown_prepared_statement"
    READ = "read"  # to a replica
    READ_ON_PRIMARY = "read_on_primary"  # master_accept_reads: the balancer picked the primary
    NO_USABLE_REPLICA = "no_usable_replica"  # a read fell back to the primary
    CAUSAL_FALLBACK = "causal_reads_fallback"  # no replica has the session's writes (fast mode)
    CAUSAL_TIMEOUT = "causal_reads_timeout"  # the wait timed out: retried on the primary
    HINT_MASTER = "hint_master"
    HINT_SLAVE = "hint_slave"
    HINT_SERVER = "hint_server"
    HINT_LAST = "hint_last"
    CURSOR = "cursor"  # COM_STMT_FETCH to the server holding the cursor
    LONG_DATA = "long_data"  # COM_STMT_EXECUTE after COM_STMT_SEND_LONG_DATA: same server
    COMMAND = "command"  # other protocol commands


FALLBACK_REASONS = frozenset((Reason.NO_USABLE_REPLICA, Reason.CAUSAL_FALLBACK,
                              Reason.CAUSAL_TIMEOUT))


@dataclass(frozen=True, slots=True)
class RouteDecision:
    target: Target
    server: str | None
    reason: Reason
    # causal_reads: before the read, wait on ``server`` until it has applied ``wait_gtid``
    # (see interlock.routing.causal.wait_statement); ``causal`` is the mode that applied.
    wait_gtid: GtidPosition | None = None
    causal: CausalReads = CausalReads.NONE
    wait_timeout: float = 0.0

    @property
    def fallback(self) -> bool:
        """A read that should have gone to a replica went to the primary."""
        return self.reason in FALLBACK_REASONS

    @property
    def single_server(self) -> bool:
        return self.target is not Target.ALL


_PLAIN: dict[tuple[Target, str | None, Reason], RouteDecision] = {}


def plain_decision(target: Target, server: str | None, reason: Reason) -> RouteDecision:
    """A decision without causal-reads parts; equal ones are shared (decisions are immutable,
    and building a frozen dataclass per statement costs more than the lookup)."""
    key = (target, server, reason)
    decision = _PLAIN.get(key)
    if decision is None:
        if len(_PLAIN) > 4096:  # server names come and go with topologies: stay bounded
            _PLAIN.clear()
        decision = _PLAIN[key] = RouteDecision(target, server, reason)
    return decision
