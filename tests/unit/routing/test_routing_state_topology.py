"""Session state bookkeeping, the topology snapshot and the settings defaults."""

from __future__ import annotations

import dataclasses

import pytest
from routing_helpers import AUTOCOMMIT, IN_TRANS, IN_TRANS_READONLY, Session, primary, replica

from interlock.routing.causal import CausalReads
from interlock.routing.errors import SettingsError
from interlock.routing.session_state import (
    NO_BACKSLASH_ESCAPES,
    SessionState,
    effective_hint,
    initial_state,
    qualify,
)
from interlock.routing.settings import (
    MasterFailureMode,
    ReplayChecksum,
    RouterSettings,
    SelectionCriteria,
    UseSqlVariablesIn,
)
from interlock.routing.topology import ServerInfo, ServerRole, Topology
from interlock.sql.hints import Hint, HintAction, HintDirective, HintRoute


def test_initial_state() -> None:
    s = initial_state(AUTOCOMMIT | 0x4000, database="App")
    assert s.autocommit and not s.in_trx and s.database == "app" and s.status == AUTOCOMMIT
    assert initial_state(0).autocommit is False
    assert initial_state(AUTOCOMMIT | NO_BACKSLASH_ESCAPES).no_backslash_escapes


@pytest.mark.parametrize(("status", "in_trx", "ro", "rw", "autocommit"), [
    (AUTOCOMMIT, False, False, False, True),
    (IN_TRANS | AUTOCOMMIT, True, False, True, True),
    (IN_TRANS | IN_TRANS_READONLY, True, True, False, False),
    (IN_TRANS_READONLY, False, False, False, False),
])
def test_flags(status: int, in_trx: bool, ro: bool, rw: bool, autocommit: bool) -> None:
    s = SessionState(status=status)
    assert (s.in_trx, s.in_read_only_trx, s.in_read_write_trx, s.autocommit) == (
        in_trx, ro, rw, autocommit)


def test_qualify() -> None:
    assert qualify("t", "db") == "db.t"
    assert qualify("x.t", "db") == "x.t"
    assert qualify("t", None) == "t"


def test_states_are_immutable() -> None:
    s = initial_state()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.status = 0  # type: ignore[misc]
    session = Session()
    before = session.state
    session.run(b"CREATE TEMPORARY TABLE tmp (a int)")
    assert before.temp_tables == frozenset() and session.state.temp_tables == {"tmp"}


def test_last_target_and_trx_target_follow_the_answers() -> None:
    s = Session(topo=Topology.of([primary(), replica("r1")]))
    s.run(b"SELECT 1")
    assert s.state.last_target == "r1"
    s.run(b"SET NAMES utf8")  # ALL: the primary answered
    assert s.state.last_target == "p1"


def test_effective_hint() -> None:
    master, slave = Hint(HintRoute.MASTER), Hint(HintRoute.SLAVE)
    state = SessionState()
    assert effective_hint(None, state) is None
    assert effective_hint(HintDirective(HintAction.USE, master), state) is master
    stacked = dataclasses.replace(state, ext=dataclasses.replace(
        state.ext, hint_stack=(master, slave), named_hints={"n": master}))
    assert effective_hint(None, stacked) is slave
    assert effective_hint(HintDirective(HintAction.POP), stacked) is master
    assert effective_hint(HintDirective(HintAction.DEFINE, slave, "x"), stacked) is slave
    assert effective_hint(HintDirective(HintAction.PUSH, None, "N"), stacked) is master
    assert effective_hint(HintDirective(HintAction.PUSH, slave), state) is slave


def test_gtid_of_consecutive_writes_merges_per_domain() -> None:
    s = Session()
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-5")
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="1-1-2")
    s.run(b"INSERT INTO t VALUES (1)", last_gtid="0-1-6")
    assert str(s.state.causal_gtid) == "0-1-6,1-1-2"


def test_topology_lookups() -> None:
    servers = [ServerInfo("old", ServerRole.PRIMARY, maintenance=True), primary("p2"),
               replica("r1"), replica("r2", healthy=False)]
    topo = Topology.of(servers, generation=3)
    assert topo.primary is servers[1]
    assert [s.name for s in topo.replicas] == ["r1"]
    assert topo.server("r2") is servers[3] and topo.server("nope") is None
    assert topo.usable("r1") and not topo.usable("r2") and not topo.usable(None)
    assert not topo.usable("old")
    assert topo.wanted_global_position() is None
    assert Topology().primary is None and Topology().replicas == ()


def test_topology_is_frozen() -> None:
    topo = Topology.of([primary()])
    with pytest.raises(dataclasses.FrozenInstanceError):
        topo.generation = 2  # type: ignore[misc]


def test_settings_defaults_are_maxscale_s() -> None:
    s = RouterSettings()
    assert s.causal_reads is CausalReads.NONE and s.causal_reads_timeout == 10
    assert s.master_accept_reads is False
    assert s.max_replication_lag == 0
    assert s.slave_selection_criteria is SelectionCriteria.LEAST_CURRENT_OPERATIONS
    assert s.use_sql_variables_in is UseSqlVariablesIn.ALL
    assert (s.strict_multi_stmt, s.strict_sp_calls, s.strict_tmp_tables) == (False, False, True)
    assert s.master_failure_mode is MasterFailureMode.FAIL_ON_WRITE
    assert s.master_reconnection is True and s.lazy_connect is False
    assert (s.max_slave_connections, s.slave_connections) == (255, 255)
    assert s.transaction_replay is False and s.transaction_replay_attempts == 5
    assert s.transaction_replay_max_size == 1024 * 1024
    assert s.transaction_replay_timeout == 30 and s.transaction_replay_safe_commit is True
    assert s.transaction_replay_checksum is ReplayChecksum.FULL
    assert (s.max_sescmd_history, s.prune_sescmd_history, s.disable_sescmd_history) == (
        50, True, False)
    assert (s.delayed_retry, s.delayed_retry_timeout, s.retry_failed_reads) == (False, 10, True)


def test_settings_validation_and_parsing() -> None:
    with pytest.raises(SettingsError):
        RouterSettings(max_replication_lag=-1)
    assert UseSqlVariablesIn.parse("MASTER") is UseSqlVariablesIn.MASTER
    assert MasterFailureMode.parse("error_on_write") is MasterFailureMode.ERROR_ON_WRITE
    assert ReplayChecksum.parse("no_insert_id") is ReplayChecksum.NO_INSERT_ID


def test_fast_state_constructor_builds_what_init_builds() -> None:
    from interlock.routing.causal import GtidPosition
    from interlock.routing.session_state import LockReason, SessionExtras, make_state

    args = (IN_TRANS, "r1", "r2", LockReason.XA, GtidPosition.parse("0-1-2"), frozenset({"r1"}),
            SessionExtras(database="d"))
    fast, slow = make_state(*args), SessionState(*args)
    assert fast == slow and repr(fast) == repr(slow)
