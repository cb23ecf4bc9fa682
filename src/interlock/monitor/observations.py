"""What one probe tick reads from one server, and the pure parsers of the probe's rows.

The probe (:mod:`interlock.monitor.probe`) connects with the monitor user, runs
:data:`PROBE_QUERIES` in order and reads each result as ``{column: value}`` dicts (one per
row, keys as the server names them) and hands the rows to :func:`build_observation`.  A
probe that cannot connect or query hands its error to :func:`failed_observation`.  Values may
arrive as ``int``/``float``/``str``/``bytes``/``None`` depending on the driver; the parsers
accept each.

For the switchover's fencing step the executor reads :data:`SQL_PROCESSLIST` and parses it
with :func:`parse_processlist`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, TypeVar

from interlock.monitor.errors import ObservationError
from interlock.monitor.gtid import EMPTY, GtidList

Row = Mapping[str, Any]
_E = TypeVar("_E", bound=Enum)

#: one row: the server's identity and replication-relevant variables
SQL_VARIABLES = (
    "SELECT @@version AS version, @@server_id AS server_id, @@read_only AS read_only,"
    " @@log_bin AS log_bin, @@log_slave_updates AS log_slave_updates,"
    " @@gtid_domain_id AS gtid_domain_id, @@gtid_current_pos AS gtid_current_pos,"
    " @@gtid_binlog_pos AS gtid_binlog_pos, @@gtid_slave_pos AS gtid_slave_pos,"
    " @@gtid_strict_mode AS gtid_strict_mode,"
    " @@global.wait_timeout AS wait_timeout, @@global.max_connections AS max_connections"
)
#: one row per replication connection (multi-source: several; empty when not a replica)
SQL_SLAVES = "SHOW ALL SLAVES STATUS"
#: ``Variable_name``/``Value`` rows: rpl_semi_sync_master_status, ..._slave_status, clients
SQL_SEMISYNC_STATUS = "SHOW GLOBAL STATUS LIKE 'rpl\\_semi\\_sync\\_%'"
#: ``Variable_name``/``Value`` rows: rpl_semi_sync_master_enabled, ..._slave_enabled, ...
SQL_SEMISYNC_VARIABLES = "SHOW GLOBAL VARIABLES LIKE 'rpl\\_semi\\_sync\\_%'"
#: what a tick runs, in order (the rows of each go to build_observation in the same order)
PROBE_QUERIES = (SQL_VARIABLES, SQL_SLAVES, SQL_SEMISYNC_STATUS, SQL_SEMISYNC_VARIABLES)
#: the process list, for fencing (switchover: kill every client connection)
SQL_PROCESSLIST = (
    "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO"
    " FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
)


class ProbeFailure(IntEnum):
    """Why a probe did not produce an observation."""

    DOWN = 1  # could not connect (refused, unreachable, connect timeout)
    AUTH = 2  # connected, the monitor login was refused
    TIMEOUT = 3  # connected, a query did not answer in time (hung server)
    QUERY = 4  # connected, a probe query failed (missing grant, ...)


#: MariaDB/MySQL error numbers that mean "the login was refused" (not "the server is down")
AUTH_ERROR_CODES = frozenset({1044, 1045, 1129, 1130, 1251, 1698, 1862})
#: client-side error numbers that mean "no server there"
DOWN_ERROR_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 2055})


@dataclass(frozen=True, slots=True)
class ProbeError:
    kind: ProbeFailure
    message: str
    code: int | None = None

    def __str__(self) -> str:
        code = f" ({self.code})" if self.code is not None else ""
        return f"{self.kind.name.lower()}{code}: {self.message}"


def classify_error(code: int | None, message: str, timed_out: bool = False) -> ProbeError:
    """The probe's exception, described: auth refusals are told apart from "down"."""
    if code in AUTH_ERROR_CODES:
        return ProbeError(ProbeFailure.AUTH, message, code)
    if timed_out:
        return ProbeError(ProbeFailure.TIMEOUT, message, code)
    if code is None or code in DOWN_ERROR_CODES:
        return ProbeError(ProbeFailure.DOWN, message, code)
    return ProbeError(ProbeFailure.QUERY, message, code)


class IoState(Enum):
    """``Slave_IO_Running`` (MariaDB also reports ``Preparing`` briefly at start)."""

    YES = "Yes"
    CONNECTING = "Connecting"
    PREPARING = "Preparing"
    NO = "No"

    @property
    def running(self) -> bool:
        """The IO thread is on (connected or trying to connect)."""
        return self is not IoState.NO


class UsingGtid(Enum):
    NO = "No"
    SLAVE_POS = "Slave_Pos"
    CURRENT_POS = "Current_Pos"


@dataclass(frozen=True, slots=True)
class SlaveStatus:
    """One row of ``SHOW ALL SLAVES STATUS``."""

    connection_name: str
    master_host: str
    master_port: int
    io_state: IoState
    sql_running: bool
    seconds_behind_master: int | None
    gtid_io_pos: GtidList
    using_gtid: UsingGtid
    last_io_errno: int = 0
    last_io_error: str = ""
    last_sql_errno: int = 0
    last_sql_error: str = ""
    master_server_id: int | None = None
    received_heartbeats: int = 0
    slave_sql_state: str = ""

    @property
    def running(self) -> bool:
        """Replicating as MaxScale counts it: IO thread Yes/Connecting and SQL thread Yes."""
        return self.io_state.running and self.sql_running

    @property
    def connected(self) -> bool:
        return self.io_state is IoState.YES and self.sql_running

    @property
    def errors(self) -> tuple[str, ...]:
        found = []
        if self.last_io_errno or self.last_io_error:
            found.append(f"IO error {self.last_io_errno}: {self.last_io_error}")
        if self.last_sql_errno or self.last_sql_error:
            found.append(f"SQL error {self.last_sql_errno}: {self.last_sql_error}")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class SemiSync:
    master_enabled: bool = False  # rpl_semi_sync_master_enabled
    master_status: bool = False  # Rpl_semi_sync_master_status (ON: acks are being waited for)
    master_clients: int = 0  # Rpl_semi_sync_master_clients
    slave_enabled: bool = False  # rpl_semi_sync_slave_enabled
    slave_status: bool = False  # Rpl_semi_sync_slave_status (this replica sends acks)


@dataclass(frozen=True, slots=True)
class ServerObservation:
    """One server at one tick.  ``error`` is ``None`` exactly when the probe succeeded; the
    other fields then hold what was read (and defaults otherwise).  ``observed_at``: the
    probe's clock (monotonic seconds) when the rows were read."""

    name: str
    observed_at: float
    error: ProbeError | None = None
    version: str = ""
    server_id: int = 0
    read_only: bool = False
    log_bin: bool = False
    log_slave_updates: bool = False
    gtid_domain_id: int = 0
    gtid_current_pos: GtidList = EMPTY
    gtid_binlog_pos: GtidList = EMPTY
    gtid_slave_pos: GtidList = EMPTY
    gtid_strict_mode: bool = False
    wait_timeout: int = 0  # @@global.wait_timeout (the advisor; 0: not read)
    max_connections: int = 0  # @@global.max_connections (the advisor; 0: not read)
    semi_sync: SemiSync = SemiSync()
    slaves: tuple[SlaveStatus, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.error is None

    @property
    def auth_error(self) -> bool:
        return self.error is not None and self.error.kind is ProbeFailure.AUTH

    @property
    def version_tuple(self) -> tuple[int, ...]:
        head = self.version.split("-", 1)[0]
        parts = [int(p) for p in head.split(".") if p.isdigit()]
        return tuple(parts)

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()

    def can_promote(self) -> bool:
        """Binary logging with replicated events logged too: others can replicate from it."""
        return self.log_bin and self.log_slave_updates


# -- value readers ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _int(value: Any, column: str) -> int:
    try:
        return int(_text(value).strip() or "0") if not isinstance(value, int) else value
    except ValueError:
        raise ObservationError(f"{column}: not an integer: {value!r}") from None


def _opt_int(value: Any, column: str) -> int | None:
    if value is None or _text(value).strip().upper() in ("", "NULL"):
        return None
    return _int(value, column)


_TRUE_WORDS = frozenset({"1", "on", "yes", "true"})
_FALSE_WORDS = frozenset({"0", "off", "no", "false", ""})


def _bool(value: Any, column: str) -> bool:
    word = _text(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ObservationError(f"{column}: not a boolean: {value!r}")


def _gtids(value: Any, column: str) -> GtidList:
    try:
        return GtidList.parse(_text(value))
    except ValueError as exc:
        raise ObservationError(f"{column}: {exc}") from None


def _column(row: Row, name: str) -> Any:
    if name in row:
        return row[name]
    lowered = {k.lower(): v for k, v in row.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    raise ObservationError(f"the row has no column {name!r} (columns: {', '.join(row)})")


def _enum_value(kind: type[_E], value: Any, column: str) -> _E:
    text = _text(value).strip()
    for member in kind:
        if str(member.value).lower() == text.lower():
            return member
    raise ObservationError(f"{column}: unexpected value {value!r}")


# -- parsers ----------------------------------------------------------------------------------


def parse_slave_status(row: Row) -> SlaveStatus:
    """One ``SHOW ALL SLAVES STATUS`` row (also a ``SHOW SLAVE STATUS`` row, which has no
    ``Connection_name``: the default connection ``''``)."""
    get = row.get
    return SlaveStatus(
        connection_name=_text(get("Connection_name", "")),
        master_host=_text(_column(row, "Master_Host")),
        master_port=_int(_column(row, "Master_Port"), "Master_Port"),
        io_state=_enum_value(IoState, _column(row, "Slave_IO_Running"), "Slave_IO_Running"),
        sql_running=_bool(_column(row, "Slave_SQL_Running"), "Slave_SQL_Running"),
        seconds_behind_master=_opt_int(get("Seconds_Behind_Master"), "Seconds_Behind_Master"),
        gtid_io_pos=_gtids(get("Gtid_IO_Pos"), "Gtid_IO_Pos"),
        using_gtid=_enum_value(UsingGtid, get("Using_Gtid", "No"), "Using_Gtid"),
        last_io_errno=_int(get("Last_IO_Errno", 0), "Last_IO_Errno"),
        last_io_error=_text(get("Last_IO_Error")),
        last_sql_errno=_int(get("Last_SQL_Errno", 0), "Last_SQL_Errno"),
        last_sql_error=_text(get("Last_SQL_Error")),
        master_server_id=_opt_int(get("Master_Server_Id"), "Master_Server_Id") or None,
        received_heartbeats=_int(get("Slave_received_heartbeats", 0), "Slave_received_heartbeats"),
        slave_sql_state=_text(get("Slave_SQL_Running_State")),
    )


def _name_values(rows: Iterable[Row]) -> dict[str, Any]:
    return {_text(_column(r, "Variable_name")).lower(): _column(r, "Value") for r in rows}


def parse_semisync(status_rows: Iterable[Row], variable_rows: Iterable[Row]) -> SemiSync:
    """Semi-sync from ``SHOW GLOBAL STATUS/VARIABLES LIKE 'rpl_semi_sync_%'`` rows (missing
    names, e.g. a server without the feature, read as off)."""
    status, variables = _name_values(status_rows), _name_values(variable_rows)
    return SemiSync(
        master_enabled=_bool(variables.get("rpl_semi_sync_master_enabled"), "master_enabled"),
        master_status=_bool(status.get("rpl_semi_sync_master_status"), "master_status"),
        master_clients=_int(status.get("rpl_semi_sync_master_clients", 0), "master_clients"),
        slave_enabled=_bool(variables.get("rpl_semi_sync_slave_enabled"), "slave_enabled"),
        slave_status=_bool(status.get("rpl_semi_sync_slave_status"), "slave_status"),
    )


def build_observation(
    name: str,
    observed_at: float,
    variables: Row,
    slave_rows: Iterable[Row] = (),
    semisync_status: Iterable[Row] = (),
    semisync_variables: Iterable[Row] = (),
) -> ServerObservation:
    """A successful probe: the single row of :data:`SQL_VARIABLES` and the rows of the other
    :data:`PROBE_QUERIES`.  Raises :class:`ObservationError` on rows it cannot read."""
    v = variables
    return ServerObservation(
        name=name,
        observed_at=observed_at,
        version=_text(_column(v, "version")),
        server_id=_int(_column(v, "server_id"), "server_id"),
        read_only=_bool(_column(v, "read_only"), "read_only"),
        log_bin=_bool(_column(v, "log_bin"), "log_bin"),
        log_slave_updates=_bool(_column(v, "log_slave_updates"), "log_slave_updates"),
        gtid_domain_id=_int(v.get("gtid_domain_id", 0), "gtid_domain_id"),
        gtid_current_pos=_gtids(_column(v, "gtid_current_pos"), "gtid_current_pos"),
        gtid_binlog_pos=_gtids(_column(v, "gtid_binlog_pos"), "gtid_binlog_pos"),
        gtid_slave_pos=_gtids(_column(v, "gtid_slave_pos"), "gtid_slave_pos"),
        gtid_strict_mode=_bool(v.get("gtid_strict_mode", 0), "gtid_strict_mode"),
        wait_timeout=_int(v.get("wait_timeout", 0), "wait_timeout"),
        max_connections=_int(v.get("max_connections", 0), "max_connections"),
        semi_sync=parse_semisync(semisync_status, semisync_variables),
        slaves=tuple(parse_slave_status(r) for r in slave_rows),
    )


def failed_observation(name: str, observed_at: float, error: ProbeError) -> ServerObservation:
    return ServerObservation(name=name, observed_at=observed_at, error=error)


# -- process list (fencing) ------------------------------------------------------------------

#: ``COMMAND`` values of threads that are not client sessions
SERVER_THREAD_COMMANDS = frozenset({
    "binlog dump", "binlog dump gtid", "slave_io", "slave_sql", "slave_worker", "daemon",
    "killed",
})


@dataclass(frozen=True, slots=True)
class ProcessEntry:
    id: int
    user: str
    host: str
    command: str
    time: int
    state: str
    info: str


def parse_processlist(rows: Iterable[Row]) -> tuple[ProcessEntry, ...]:
    return tuple(
        ProcessEntry(
            id=_int(_column(r, "ID"), "ID"),
            user=_text(_column(r, "USER")),
            host=_text(r.get("HOST")),
            command=_text(_column(r, "COMMAND")),
            time=_opt_int(r.get("TIME"), "TIME") or 0,
            state=_text(r.get("STATE")),
            info=_text(r.get("INFO")),
        )
        for r in rows
    )


def client_connections(entries: Iterable[ProcessEntry],
                       keep_users: Iterable[str]) -> tuple[ProcessEntry, ...]:
    """The connections fencing must kill: every thread that is a client session, except
    replication (binlog dump), server threads (``system user``, event scheduler) and the
    sessions of ``keep_users`` (the monitor's own)."""
    keep = frozenset(keep_users) | {"system user", "event_scheduler"}
    return tuple(
        e for e in entries
        if e.user not in keep and e.command.strip().lower() not in SERVER_THREAD_COMMANDS
    )
