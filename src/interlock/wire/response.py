"""ResponseTracker: follows backend responses packet by packet without decoding rows.

Theory of operation
-------------------
The relay forwards backend bytes unchanged; the tracker only has to know *where each response
ends* and *what the backend reported* (status flags, errors, prepared statement ids, LOCAL
INFILE requests).  It walks the 4-byte packet headers of the received ``bytes`` with index
arithmetic and, depending on the state, does one of three things with a packet:

* **skip** it by length: rows, column and parameter definitions, continuation fragments of
  logical packets of 16 MiB or more.  Rows are recognised by their first byte only: inside a
  result set a packet is a row unless it starts with ``0xFF`` (ERR) or with ``0xFE`` *and* is
  shorter than ``0xFFFFFF`` bytes (EOF, or the OK-with-0xFE terminator under DEPRECATE_EOF; a row
  whose first column is a string of 16 MiB or more also starts with 0xFE but fills a whole
  physical packet).
* **collect** it into a small buffer and parse it: OK, ERR, EOF, column counts, PREPARE_OK,
  the LOCAL INFILE request.  These are the only packets that are ever copied.
* for packets split across ``feed`` calls, keep at most a partial header (< 5 bytes), the number
  of payload bytes still to skip, or the partial collected packet.

Per command (``start``), the response shapes, verified against MariaDB 10.11 (captures in
``tests/unit/wire/data``):

* COM_QUERY / COM_STMT_EXECUTE / COM_STMT_BULK_EXECUTE: ``OK`` | ``ERR`` | ``0xFB filename``
  (QUERY only; then the client's file packets, an empty packet, then OK/ERR) | a result set:
  column count (+ a metadata-follows byte under MARIADB_CLIENT_CACHE_METADATA; 0 means the
  column definitions are not sent) , column definitions, ``EOF`` (unless DEPRECATE_EOF), rows,
  ``EOF`` / ``OK-0xFE`` | ``ERR``.  A terminator or OK with MORE_RESULTS_EXISTS starts the next
  result of the same response (multi-statements, CALL).  For COM_STMT_EXECUTE opening a cursor,
  the packet after the column definitions is a terminator with CURSOR_EXISTS and no rows follow
  (with DEPRECATE_EOF too).
* COM_STMT_PREPARE: ``ERR`` | PREPARE_OK, parameter definitions (+EOF), column definitions
  (+EOF); each EOF is sent only without DEPRECATE_EOF and only when the count is non-zero.
* COM_STMT_FETCH: rows, then a terminator (CURSOR_EXISTS or LAST_ROW_SENT) | ``ERR``.
* COM_FIELD_LIST: column definitions until a terminator (EOF / OK-0xFE) | ``ERR``.
* COM_STATISTICS: one packet of plain text.
* COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT: no response.
* everything else (PING, INIT_DB, RESET_CONNECTION, SET_OPTION, PROCESS_KILL, REFRESH, DEBUG,
  STMT_RESET, unknown commands...): one OK, EOF (SET_OPTION and DEBUG answer with an EOF, or an
  OK-0xFE under DEPRECATE_EOF) or ERR packet.

Sequence ids are checked within a response; the first packet of a response may carry any id.
``ResponseDone.status`` after an ERR is the last status the backend reported before it (ERR
packets carry no status), without MORE_RESULTS_EXISTS.  ``ResponseDone.session_state`` is
the concatenation of the session
state blocks of all OK packets of the response (parse it with
:func:`interlock.wire.packets.parse_session_state`).  MariaDB progress reports (ERR frames with
code 0xFFFF) are skipped.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

from interlock.wire.codec import Reader
from interlock.wire.constants import Capability, Command, ServerStatus
from interlock.wire.errors import LocalProtocolError, RemoteProtocolError
from interlock.wire.events import (
    LocalInfileRequested,
    ResponseDone,
    ResponseEvent,
    StatementPrepared,
)
from interlock.wire.infile import ClientFileTracker
from interlock.wire.packets import ErrPacket, is_progress, parse_eof, parse_err, parse_ok

__all__ = [
    "LocalInfileRequested",
    "ResponseDone",
    "ResponseEvent",
    "ResponseTracker",
    "StatementPrepared",
]


_MAX = 0xFFFFFF
_NO_STATUS = ServerStatus(0)
_unpack_header = struct.Struct("<IB").unpack_from  # (length | seq << 24, first payload byte)

# states (ints, compared in the hot loop)
_IDLE = 0
_FIRST = 1  # first packet of a result: OK | ERR | column count | 0xFB (QUERY)
_SIMPLE = 2  # one OK / EOF / ERR
_STATISTICS = 3  # one text packet
_COLDEFS = 4  # skip column definitions (count)
_COLS_EOF = 5  # EOF after the column definitions
_ROWS = 6  # rows until terminator or ERR
_FIELDS = 7  # COM_FIELD_LIST definitions until terminator or ERR
_PREPARE = 8  # PREPARE_OK | ERR
_PARAMS = 9  # skip parameter definitions (count)
_PARAMS_EOF = 10
_PCOLS = 11  # skip prepared statement column definitions (count)
_PCOLS_EOF = 12
_INFILE = 13  # the client is sending a LOCAL INFILE file

_SKIP_COUNTED = frozenset((_COLDEFS, _PARAMS, _PCOLS))
_SCANNED = frozenset((_ROWS, _FIELDS))

_NO_RESPONSE = frozenset((Command.QUIT, Command.STMT_SEND_LONG_DATA, Command.STMT_CLOSE))
_UNSUPPORTED: dict[int, str] = {
    Command.CHANGE_USER: "COM_CHANGE_USER is handled by the server layer",
    Command.BINLOG_DUMP: "COM_BINLOG_DUMP cannot be relayed",
    Command.BINLOG_DUMP_GTID: "COM_BINLOG_DUMP_GTID cannot be relayed",
    Command.MULTI: "COM_MULTI is not supported",
}
_INITIAL_STATE: dict[int, int] = {
    Command.QUERY: _FIRST,
    Command.STMT_EXECUTE: _FIRST,
    Command.STMT_BULK_EXECUTE: _FIRST,
    Command.PROCESS_INFO: _FIRST,
    Command.STMT_PREPARE: _PREPARE,
    Command.STMT_FETCH: _ROWS,
    Command.FIELD_LIST: _FIELDS,
    Command.STATISTICS: _STATISTICS,
}
_EXECUTE_COMMANDS = frozenset((Command.STMT_EXECUTE, Command.STMT_BULK_EXECUTE))


class ResponseTracker:
    """Tracks backend responses; see the module docstring."""

    def __init__(self, capabilities: Capability, status: ServerStatus = _NO_STATUS) -> None:
        self.capabilities = capabilities
        self._deprecate_eof = bool(capabilities & Capability.DEPRECATE_EOF)
        self._cache_metadata = bool(capabilities & Capability.MARIADB_CLIENT_CACHE_METADATA)
        self.status = status
        self._queue: deque[tuple[int, int, int]] = deque()
        self._state = _IDLE
        self._command = -1
        self._seq = 0  # last sequence id seen (or the command's, before the first packet)
        self._check_seq = False
        self._count = 0  # definitions still to skip
        self._cont = False  # the previous physical packet was 0xFFFFFF bytes long
        self._skip = 0  # payload bytes of the current packet still to skip
        self._need = 0  # payload bytes of the current packet still to collect
        self._acc = bytearray()
        self._hdr = b""  # partial header (+ first payload byte), < 5 bytes
        self._infile: ClientFileTracker | None = None
        self._events: list[ResponseEvent] = []
        self._reset_response()
        self._handlers: dict[int, Callable[[bytes], None]] = {
            _FIRST: self._on_first,
            _SIMPLE: self._on_simple,
            _STATISTICS: self._on_statistics,
            _COLS_EOF: self._on_cols_eof,
            _ROWS: self._on_row_terminator,
            _FIELDS: self._on_fields_terminator,
            _PREPARE: self._on_prepare,
            _PARAMS_EOF: self._on_params_eof,
            _PCOLS_EOF: self._on_pcols_eof,
        }

    # -- public state ------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return self._state == _IDLE

    @property
    def in_transaction(self) -> bool:
        return bool(self.status & ServerStatus.IN_TRANS)

    @property
    def next_seq(self) -> int:
        return (self._seq + 1) & 0xFF

    @property
    def awaiting_client_data(self) -> bool:
        return self._state == _INFILE

    @property
    def command(self) -> int | None:
        """The command whose response is being tracked, or None when idle."""
        return None if self._state == _IDLE else self._command

    @property
    def pending(self) -> int:
        """Commands whose responses are expected (incl. the current one)."""
        return len(self._queue) + (self._state != _IDLE)

    # -- commands ----------------------------------------------------------------------------

    def start(self, command: int, payload: bytes | memoryview, last_seq: int = 0) -> bool:
        """The client sent ``command``; returns True if the backend will answer it.

        ``last_seq`` is the sequence id of the command's last physical packet (0 unless the
        command was 16 MiB or more); it only matters for :attr:`next_seq` before the first
        response packet arrives.
        """
        reason = _UNSUPPORTED.get(command)
        if reason is not None:
            raise LocalProtocolError(reason)
        if command in _NO_RESPONSE:
            return False
        state = _INITIAL_STATE.get(command, _SIMPLE)
        self._queue.append((command, state, last_seq & 0xFF))
        if self._state == _IDLE:
            self._activate()
        return True

    def _activate(self) -> None:
        if not self._queue:
            self._state = _IDLE
            return
        self._command, self._state, self._seq = self._queue.popleft()
        self._check_seq = False
        self._reset_response()

    def _reset_response(self) -> None:
        self._affected = 0
        self._insert_id = 0
        self._warnings = 0
        self._session: list[bytes] = []
        self._prepared: StatementPrepared | None = None

    # -- backend bytes -----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[ResponseEvent]:
        """Consume backend bytes (any split); return the events they complete."""
        events: list[ResponseEvent] = []
        self._events = events
        n = len(data)
        pos = 0
        if self._hdr:
            pos = self._resume_header(data)
        while True:
            if self._skip:
                end = pos + self._skip
                if end > n:
                    self._skip = end - n
                    return events
                pos = end
                self._skip = 0
            elif self._need:
                take = min(self._need, n - pos)
                self._acc += data[pos : pos + take]
                pos += take
                self._need -= take
                if self._need:
                    return events
                payload = bytes(self._acc)
                self._acc.clear()
                self._dispatch(payload)
            if pos >= n:
                return events
            state = self._state
            if state in _SCANNED and not self._cont:
                # hot loop: skip rows by length while their first byte is not 0xFE/0xFF
                expect = (self._seq + 1) & 0xFF
                start = pos
                last = n - 5
                unpack = _unpack_header
                while pos <= last:
                    header, first = unpack(data, pos)
                    if first >= 0xFE or header >> 24 != expect:
                        break
                    plen = header & 0xFFFFFF
                    if plen == 0xFFFFFF or not plen:
                        break
                    expect = (expect + 1) & 0xFF
                    pos += 4 + plen
                if pos != start:
                    self._seq = (expect - 1) & 0xFF
                    self._check_seq = True
                if pos >= n:
                    self._skip = pos - n
                    return events
            if n - pos < 5:
                plen = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 if n - pos >= 3 else 1
                if n - pos < 4 or plen:
                    self._hdr = bytes(data[pos:n])
                    return events
            plen = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
            first = data[pos + 4] if plen else -1
            pos += 4
            if not self._begin(plen, data[pos - 1], first):
                self._skip = plen
            elif plen:
                self._need = plen
            else:
                self._dispatch(b"")

    def _resume_header(self, data: bytes) -> int:
        """Complete a packet header split across feeds; return the position after it."""
        head = self._hdr + bytes(data[: 5 - len(self._hdr)])
        if len(head) < 4:
            self._hdr = head
            return len(data)
        plen = head[0] | head[1] << 8 | head[2] << 16
        if plen and len(head) < 5:
            self._hdr = head
            return len(data)
        size = 5 if plen else 4
        used = size - len(self._hdr)
        self._hdr = b""
        if self._begin(plen, head[3], head[4] if plen else -1):
            self._acc += head[4:size]
            self._need = plen - (size - 4)
            if not self._need:
                payload = bytes(self._acc)
                self._acc.clear()
                self._dispatch(payload)
        else:
            self._skip = plen - (size - 4)
        return used

    def _begin(self, plen: int, seq: int, first: int) -> bool:
        """A physical packet starts: check its sequence id; True to collect, False to skip."""
        if self._check_seq and seq != (self._seq + 1) & 0xFF:
            raise RemoteProtocolError(
                f"packet out of order: sequence id {seq}, expected {(self._seq + 1) & 0xFF}"
            )
        state = self._state
        if state == _IDLE:
            raise RemoteProtocolError("backend sent data while no command was pending")
        if state == _INFILE:
            raise RemoteProtocolError("backend sent data during a LOCAL INFILE transfer")
        self._seq = seq
        self._check_seq = True
        if self._cont:  # continuation fragment of a skipped logical packet
            self._cont = plen == _MAX
            return False
        if state in _SKIP_COUNTED:
            self._cont = plen == _MAX
            self._count -= 1
            if not self._count:
                self._after_definitions()
            return False
        if state in _SCANNED:
            if first == -1:
                raise RemoteProtocolError("empty packet inside a result set")
            if not (first == 0xFF or (first == 0xFE and plen < _MAX)):
                self._cont = plen == _MAX
                return False
        if plen >= _MAX:
            raise RemoteProtocolError("control packet of 16 MiB or more")
        return True

    def _dispatch(self, payload: bytes) -> None:
        if not payload and self._state != _STATISTICS:
            raise RemoteProtocolError("empty response packet")
        self._handlers[self._state](payload)

    # -- client bytes (LOCAL INFILE) ---------------------------------------------------------

    def feed_client(self, data: bytes) -> list[ResponseEvent]:
        """Consume the client's LOCAL INFILE packets; detects the terminating empty packet."""
        if self._state != _INFILE or self._infile is None:
            raise LocalProtocolError("no LOCAL INFILE transfer in progress")
        if self._infile.feed(data):
            self._seq = self._infile.seq
            self._infile = None
            self._state = _FIRST  # OK | ERR; with MORE_RESULTS_EXISTS the next result follows
        return []

    # -- packet handlers ---------------------------------------------------------------------

    def _on_first(self, payload: bytes) -> None:
        head = payload[0]
        if head == 0x00:
            self._ok(payload, more_allowed=True)
        elif head == 0xFF:
            self._err(payload)
        elif head == 0xFB and self._command == Command.QUERY:
            self._state = _INFILE
            self._infile = ClientFileTracker(self._seq)
            self._events.append(LocalInfileRequested(payload[1:]))
        else:
            self._column_count(payload)

    def _column_count(self, payload: bytes) -> None:
        r = Reader(payload)
        count = r.read_lenenc_int()
        follows = r.read_uint(1) if self._cache_metadata else 1
        if not count or not r.at_end() or count > 0xFFFF:
            raise RemoteProtocolError("invalid column count packet")
        self._affected = self._insert_id = 0  # they describe the last result only
        if follows:
            self._count = count
            self._state = _COLDEFS
        else:
            self._state = _ROWS if self._deprecate_eof else _COLS_EOF

    def _after_definitions(self) -> None:
        state = self._state
        if state == _COLDEFS:
            self._state = _ROWS if self._deprecate_eof else _COLS_EOF
        elif state == _PARAMS:
            if not self._deprecate_eof:
                self._state = _PARAMS_EOF
            else:
                self._after_params()
        elif not self._deprecate_eof:
            self._state = _PCOLS_EOF
        else:
            self._finish(None)

    def _on_cols_eof(self, payload: bytes) -> None:
        if payload[0] == 0xFF:
            self._err(payload)
            return
        eof = parse_eof(payload)
        self.status = eof.status
        self._warnings = eof.warnings
        if eof.status & ServerStatus.CURSOR_EXISTS and self._command in _EXECUTE_COMMANDS:
            self._finish(None)
        else:
            self._state = _ROWS

    def _on_row_terminator(self, payload: bytes) -> None:
        if payload[0] == 0xFF:
            self._err(payload)
            return
        if self._deprecate_eof:
            self._ok(payload, more_allowed=self._command != Command.STMT_FETCH)
            return
        eof = parse_eof(payload)
        self.status = eof.status
        self._warnings = eof.warnings
        self._next_result_or_finish(self._command != Command.STMT_FETCH)

    def _on_fields_terminator(self, payload: bytes) -> None:
        if payload[0] == 0xFF:
            self._err(payload)
        else:
            self._terminator(payload)

    def _on_simple(self, payload: bytes) -> None:
        head = payload[0]
        if head == 0x00:
            self._ok(payload, more_allowed=False)
        elif head == 0xFF:
            self._err(payload)
        elif head == 0xFE:
            self._terminator(payload)
        else:
            raise RemoteProtocolError(f"unexpected response packet 0x{head:02x}")

    def _on_statistics(self, payload: bytes) -> None:
        if payload[:1] == b"\xff":
            self._err(payload)
        else:
            self._finish(None)

    def _on_prepare(self, payload: bytes) -> None:
        if payload[0] == 0xFF:
            self._err(payload)
            return
        r = Reader(payload)
        if r.read_uint(1) != 0 or len(payload) < 9:
            raise RemoteProtocolError("invalid COM_STMT_PREPARE response")
        stmt_id = r.read_uint(4)
        columns = r.read_uint(2)
        params = r.read_uint(2)
        warnings = r.read_uint(2) if r.remaining >= 3 and r.read_uint(1) == 0 else 0
        self._prepared = StatementPrepared(stmt_id, columns, params, warnings)
        if params:
            self._count = params
            self._state = _PARAMS
        else:
            self._after_params()

    def _after_params(self) -> None:
        prepared = self._prepared
        if prepared is not None and prepared.num_columns:
            self._count = prepared.num_columns
            self._state = _PCOLS
        else:
            self._finish(None)

    def _on_params_eof(self, payload: bytes) -> None:
        self.status = parse_eof(payload).status
        self._after_params()

    def _on_pcols_eof(self, payload: bytes) -> None:
        self.status = parse_eof(payload).status
        self._finish(None)

    # -- shared steps ------------------------------------------------------------------------

    def _terminator(self, payload: bytes) -> None:
        """A 0xFE packet ending a single-packet response or a definition list."""
        if self._deprecate_eof:
            self._ok(payload, more_allowed=False)
        else:
            eof = parse_eof(payload)
            self.status = eof.status
            self._warnings = eof.warnings
            self._finish(None)

    def _ok(self, payload: bytes, more_allowed: bool) -> None:
        ok = parse_ok(payload, self.capabilities)
        self.status = ok.status
        self._affected = ok.affected_rows
        self._insert_id = ok.last_insert_id
        self._warnings = ok.warnings
        if ok.session_state:
            self._session.append(ok.session_state)
        self._next_result_or_finish(more_allowed)

    def _next_result_or_finish(self, more_allowed: bool) -> None:
        if more_allowed and self.status & ServerStatus.MORE_RESULTS_EXISTS:
            self._state = _FIRST
        else:
            self._finish(None)

    def _err(self, payload: bytes) -> None:
        if is_progress(payload):
            return
        self._finish(parse_err(payload, self.capabilities))

    def _finish(self, error: ErrPacket | None) -> None:
        if error is None and self._prepared is not None:
            self._events.append(self._prepared)
        if self.status & ServerStatus.MORE_RESULTS_EXISTS:  # stale after an ERR
            self.status &= ~ServerStatus.MORE_RESULTS_EXISTS
        self._events.append(ResponseDone(
            self._command, self.status, error is None, error, self._affected, self._insert_id,
            self._warnings, b"".join(self._session),
        ))
        self._activate()
