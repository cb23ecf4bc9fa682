"""Parameters of the ``readwritesplit`` router, with MaxScale's defaults (24.02/24.08).

:class:`RouterSettings` is what the routing functions read; the config layer maps a service's
parameters onto it (durations in seconds, sizes in bytes, enums via their ``parse``).  Fields
the pure router does not act on (reconnection, replay, history limits) are here too so the I/O
layer reads every router parameter from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Self

from interlock.routing.causal import CausalReads
from interlock.routing.errors import SettingsError

__all__ = [
    "CausalReads",
    "MasterFailureMode",
    "ReplayChecksum",
    "RouterSettings",
    "SelectionCriteria",
    "UseSqlVariablesIn",
]


class _Parsable(Enum):
    @classmethod
    def parse(cls, text: str) -> Self:
        """Case-insensitive (MaxScale's upper-case spellings are deprecated, still accepted)."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(str(m.value) for m in cls)
            raise SettingsError(f"{text!r} is not one of: {choices}") from None


class SelectionCriteria(_Parsable):
    LEAST_CURRENT_OPERATIONS = "least_current_operations"
    LEAST_BEHIND_MASTER = "least_behind_master"
    ADAPTIVE_ROUTING = "adaptive_routing"
    LEAST_GLOBAL_CONNECTIONS = "least_global_connections"  # legacy: "should not be used"
    LEAST_ROUTER_CONNECTIONS = "least_router_connections"  # legacy


class UseSqlVariablesIn(_Parsable):
    ALL = "all"
    MASTER = "master"


class MasterFailureMode(_Parsable):
    FAIL_INSTANTLY = "fail_instantly"
    FAIL_ON_WRITE = "fail_on_write"
    ERROR_ON_WRITE = "error_on_write"


class ReplayChecksum(_Parsable):
    FULL = "full"
    RESULT_ONLY = "result_only"
    NO_INSERT_ID = "no_insert_id"


@dataclass(frozen=True, slots=True)
class RouterSettings:
    causal_reads: CausalReads = CausalReads.NONE
    causal_reads_timeout: float = 10.0  # seconds
    delayed_retry: bool = False
    delayed_retry_timeout: float = 10.0
    lazy_connect: bool = False
    master_accept_reads: bool = False
    master_failure_mode: MasterFailureMode = MasterFailureMode.FAIL_ON_WRITE
    master_reconnection: bool = True
    max_replication_lag: float = 0.0  # seconds; 0: no limit
    max_slave_connections: int = 255
    retry_failed_reads: bool = True
    slave_connections: int = 255
    slave_selection_criteria: SelectionCriteria = SelectionCriteria.LEAST_CURRENT_OPERATIONS
    strict_multi_stmt: bool = False
    strict_sp_calls: bool = False
    strict_tmp_tables: bool = True
    transaction_replay: bool = False
    transaction_replay_attempts: int = 5
    transaction_replay_checksum: ReplayChecksum = ReplayChecksum.FULL
    transaction_replay_max_size: int = 1024 * 1024  # bytes
    transaction_replay_retry_on_deadlock: bool = False
    transaction_replay_retry_on_mismatch: bool = False
    transaction_replay_safe_commit: bool = True
    transaction_replay_timeout: float = 30.0
    use_sql_variables_in: UseSqlVariablesIn = UseSqlVariablesIn.ALL
    # Service-level session-command history settings (core parameters in MaxScale).
    max_sescmd_history: int = 50
    prune_sescmd_history: bool = True
    disable_sescmd_history: bool = False

    def __post_init__(self) -> None:
        if self.causal_reads_timeout < 0 or self.max_replication_lag < 0:
            raise SettingsError("causal_reads_timeout and max_replication_lag must be >= 0")
