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

Cost
----
This is the relay's per-packet work, so it is written for speed: state, status flags and
commands are plain ints inside (``ServerStatus`` objects are made only for the public
``status`` and the events, from a cache), a control packet that lies whole in the received chunk
is sliced out and handled directly (the accumulator only serves packets split across chunks),
EOF packets, short OK packets and 1-byte column counts are decoded inline, and nothing is
allocated per tracker until it is needed (command queue, accumulator).
"""

from __future__ import annotations

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
from interlock.wire.framing import unpack_header_first
from interlock.wire.infile import ClientFileTracker
from interlock.wire.packets import (
    ErrPacket,
    eof_status,
    is_progress,
    parse_err,
    parse_ok,
    quick_ok,
)

__all__ = [
    "LocalInfileRequested",
    "ResponseDone",
    "ResponseEvent",
    "ResponseTracker",
    "StatementPrepared",
]


_MAX = 0xFFFFFF
_NO_STATUS = ServerStatus(0)
# (length | seq << 24, first payload byte)
_unpack_header = unpack_header_first  # (length | seq << 24, first payload byte)

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

# commands and flags as plain ints (enum arithmetic is slow on the hot path)
_QUERY = int(Command.QUERY)
_STMT_FETCH = int(Command.STMT_FETCH)
_MORE_RESULTS = int(ServerStatus.MORE_RESULTS_EXISTS)
_CURSOR_EXISTS = int(ServerStatus.CURSOR_EXISTS)
_IN_TRANS = int(ServerStatus.IN_TRANS)
_SESSION_TRACK = int(Capability.SESSION_TRACK)
_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
_CACHE_METADATA = int(Capability.MARIADB_CLIENT_CACHE_METADATA)

_NO_RESPONSE = frozenset(int(c) for c in (Command.QUIT, Command.STMT_SEND_LONG_DATA,
                                          Command.STMT_CLOSE))
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
_UNANSWERED = -1
_REFUSED = -2
#: command -> the state its response starts in (_UNANSWERED: no response; _REFUSED: an error)
_START: dict[int, int] = {
    **_INITIAL_STATE,
    **dict.fromkeys(_NO_RESPONSE, _UNANSWERED),
    **dict.fromkeys(_UNSUPPORTED, _REFUSED),
}
_EXECUTE_COMMANDS = frozenset((int(Command.STMT_EXECUTE), int(Command.STMT_BULK_EXECUTE)))

_STATUS_CACHE: dict[int, ServerStatus] = {}


def _as_status(value: int) -> ServerStatus:
    """``ServerStatus(value)``, made once per distinct value."""
    status = _STATUS_CACHE.get(value)
    if status is None:
        status = _STATUS_CACHE[value] = ServerStatus(value)
    return status


_DONE_CACHE: dict[tuple[int, int, int, int, int], ResponseDone] = {}
_DONE_CACHE_MAX = 1024


def _done(command: int, status: int, affected: int, insert_id: int, warnings: int) -> ResponseDone:
    """A successful ``ResponseDone`` without session state.  Events are immutable values, so
    equal ones are shared: building a frozen dataclass costs more than the rest of a typical
    response's tracking."""
    key = (command, status, affected, insert_id, warnings)
    done = _DONE_CACHE.get(key)
    if done is None:
        if len(_DONE_CACHE) >= _DONE_CACHE_MAX:
            _DONE_CACHE.clear()
        done = _DONE_CACHE[key] = ResponseDone(
            command, _as_status(status), True, None, affected, insert_id, warnings, b""
        )
    return done


def _skip_rows(data: bytes, pos: int, n: int, expect: int) -> tuple[int, int]:
    """The hot loop: skip whole row packets by length from ``pos`` while their first byte is
    not 0xFE/0xFF, their sequence id is ``expect`` and they are neither empty nor 16 MiB
    fragments.  Returns the position of the first packet not skipped (possibly past ``n``: the
    last row continues in the next chunk) and the sequence id that packet should carry."""
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
    return pos, expect


class ResponseTracker:
    """Tracks backend responses; see the module docstring."""

    __slots__ = (
        "_acc",
        "_affected",
        "_cache_metadata",
        "_check_seq",
        "_command",
        "_cont",
        "_count",
        "_deprecate_eof",
        "_events",
        "_hdr",
        "_infile",
        "_insert_id",
        "_need",
        "_prepared",
        "_queue",
        "_seq",
        "_session",
        "_session_track",
        "_skip",
        "_state",
        "_status",
        "_warnings",
        "awaiting_client_data",
        "capabilities",
    )

    def __init__(self, capabilities: Capability, status: ServerStatus = _NO_STATUS) -> None:
        self.capabilities = capabilities
        caps = int(capabilities)
        self._deprecate_eof = bool(caps & _DEPRECATE_EOF)
        self._cache_metadata = bool(caps & _CACHE_METADATA)
        self._session_track = bool(caps & _SESSION_TRACK)
        self._status = int(status)
        self._queue: deque[tuple[int, int, int]] | None = None  # commands after the current one
        self._state = _IDLE
        self._command = -1
        self._seq = 0  # last sequence id seen (or the command's, before the first packet)
        self._check_seq = False
        self._count = 0  # definitions still to skip
        self._cont = False  # the previous physical packet was 0xFFFFFF bytes long
        self._skip = 0  # payload bytes of the current packet still to skip
        self._need = 0  # payload bytes of the current packet still to collect
        self._acc: bytearray | None = None  # a collected packet split across feeds
        self._hdr = b""  # partial header (+ first payload byte), < 5 bytes
        self._infile: ClientFileTracker | None = None
        self._events: list[ResponseEvent] = []
        self._affected = 0
        self._insert_id = 0
        self._warnings = 0
        self._session: list[bytes] | None = None
        self._prepared: StatementPrepared | None = None
        #: the backend asked for a LOCAL INFILE file: the client's packets go to feed_client
        self.awaiting_client_data = False

    # -- public state ------------------------------------------------------------------------

    @property
    def status(self) -> ServerStatus:
        """The last status flags the backend reported."""
        return _as_status(self._status)

    @status.setter
    def status(self, value: ServerStatus) -> None:
        self._status = int(value)

    @property
    def idle(self) -> bool:
        return self._state == _IDLE

    @property
    def in_transaction(self) -> bool:
        return bool(self._status & _IN_TRANS)

    @property
    def next_seq(self) -> int:
        return (self._seq + 1) & 0xFF

    @property
    def command(self) -> int | None:
        """The command whose response is being tracked, or None when idle."""
        return None if self._state == _IDLE else self._command

    @property
    def pending(self) -> int:
        """Commands whose responses are expected (incl. the current one)."""
        return (len(self._queue) if self._queue else 0) + (self._state != _IDLE)

    # -- commands ----------------------------------------------------------------------------

    def start(self, command: int, payload: bytes | memoryview, last_seq: int = 0) -> bool:
        """The client sent ``command``; returns True if the backend will answer it.

        ``last_seq`` is the sequence id of the command's last physical packet (0 unless the
        command was 16 MiB or more); it only matters for :attr:`next_seq` before the first
        response packet arrives.
        """
        state = _START.get(command, _SIMPLE)
        if state < 0:
            if state == _UNANSWERED:
                return False
            raise LocalProtocolError(_UNSUPPORTED[command])
        if self._state == _IDLE:  # (the queue is empty whenever the tracker is idle)
            self._begin_response(command, state, last_seq & 0xFF)
        else:
            if self._queue is None:
                self._queue = deque()
            self._queue.append((command, state, last_seq & 0xFF))
        return True

    def _begin_response(self, command: int, state: int, seq: int) -> None:
        self._command = command
        self._state = state
        self._seq = seq
        self._check_seq = False
        self._affected = 0
        self._insert_id = 0
        self._warnings = 0
        self._session = None
        self._prepared = None

    # -- backend bytes -----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[ResponseEvent]:
        """Consume backend bytes (any split); return the events they complete."""
        events: list[ResponseEvent] = []
        self._events = events
        n = len(data)
        pos = 0
        if self._hdr:
            pos = self._resume_header(data)
        elif (self._state == _FIRST and not self._check_seq
              and not (self._skip or self._need or self._cont)):
            pos = self._fast_response(data, n)
        while True:
            if self._skip:
                end = pos + self._skip
                if end > n:
                    self._skip = end - n
                    return events
                pos = end
                self._skip = 0
            elif self._need:
                acc = self._accumulator()
                take = min(self._need, n - pos)
                acc += data[pos : pos + take]
                pos += take
                self._need -= take
                if self._need:
                    return events
                payload = bytes(acc)
                acc.clear()
                self._dispatch(payload)
            if pos >= n:
                return events
            state = self._state
            if state in _SCANNED and not self._cont:
                start = pos
                pos, expect = _skip_rows(data, pos, n, (self._seq + 1) & 0xFF)
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
            elif not plen:
                self._dispatch(b"")
            elif pos + plen <= n:  # the whole packet is here: no accumulator
                end = pos + plen
                self._dispatch(bytes(data[pos:end]))
                pos = end
            else:
                self._need = plen

    def _fast_response(self, data: bytes, n: int) -> int:
        """The common case inline: a response starting at ``data[0]`` that is a short OK, or
        a result set (column count, definitions, EOF, rows, terminator) of whole packets.

        Returns the position where the general loop takes over (0: nothing was consumed);
        the fields are then exactly what the general loop would have left at that packet
        boundary.  Anything unusual (ERR, long OK, session state, LOCAL INFILE, multi-results,
        16 MiB packets, a wrong sequence id, a packet cut by the chunk's end) is handed over
        at the packet where it appears, so errors are raised by the general code.
        """
        if n < 5:
            return 0
        header, first = _unpack_header(data, 0)
        plen = header & 0xFFFFFF
        pos = 4 + plen
        if pos > n:
            return 0
        seq = header >> 24
        if first == 0x00:
            if plen != 7 or data[5] >= 0xFB or data[6] >= 0xFB:
                return 0
            status = data[7] | data[8] << 8
            if status & _MORE_RESULTS:
                return 0
            self._seq = seq
            self._check_seq = True
            self._affected = data[5]
            self._insert_id = data[6]
            self._status = status
            self._warnings = data[9] | data[10] << 8
            self._finish(None)
            return pos
        cache = self._cache_metadata
        if first >= 0xFB or plen != 1 + cache:
            return 0
        # a column count: from here on, every exit leaves a consistent state
        self._affected = self._insert_id = 0
        self._check_seq = True
        eof_state = _ROWS if self._deprecate_eof else _COLS_EOF
        count = first
        if cache and not data[5]:
            state = eof_state
        else:
            state = _COLDEFS
            while pos + 4 <= n:  # skip the column definitions by length
                plen = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
                end = pos + 4 + plen
                if data[pos + 3] != (seq + 1) & 0xFF or plen == _MAX or end > n:
                    break
                seq = (seq + 1) & 0xFF
                pos = end
                count -= 1
                if not count:
                    state = eof_state
                    break
            if state == _COLDEFS:
                self._state = state
                self._count = count
                self._seq = seq
                return pos
        if state == _COLS_EOF:
            if pos + 5 > n:
                return self._hand_over(state, seq, pos)
            header, first = _unpack_header(data, pos)
            plen = header & 0xFFFFFF
            end = pos + 4 + plen
            if header >> 24 != (seq + 1) & 0xFF or first != 0xFE or plen < 5 or end > n:
                return self._hand_over(state, seq, pos)
            seq = header >> 24
            status = self._status = data[pos + 7] | data[pos + 8] << 8
            self._warnings = data[pos + 5] | data[pos + 6] << 8
            pos = end
            if status & _CURSOR_EXISTS and self._command in _EXECUTE_COMMANDS:
                self._seq = seq
                self._finish(None)
                return pos
        pos, expect = _skip_rows(data, pos, n, (seq + 1) & 0xFF)
        last = n - 5
        unpack = _unpack_header
        seq = (expect - 1) & 0xFF
        if pos >= n:
            self._skip = pos - n
            return self._hand_over(_ROWS, seq, n)
        if pos > last:
            return self._hand_over(_ROWS, seq, pos)
        header, first = unpack(data, pos)
        plen = header & 0xFFFFFF
        end = pos + 4 + plen
        if first != 0xFE or header >> 24 != expect or plen >= _MAX or end > n:
            return self._hand_over(_ROWS, seq, pos)
        if self._deprecate_eof:  # an OK packet with a 0xFE header
            if plen != 7 or data[pos + 5] >= 0xFB or data[pos + 6] >= 0xFB:
                return self._hand_over(_ROWS, seq, pos)
            self._affected = data[pos + 5]
            self._insert_id = data[pos + 6]
            status = data[pos + 7] | data[pos + 8] << 8
            self._warnings = data[pos + 9] | data[pos + 10] << 8
        elif plen >= 5:
            status = data[pos + 7] | data[pos + 8] << 8
            self._warnings = data[pos + 5] | data[pos + 6] << 8
        else:
            return self._hand_over(_ROWS, seq, pos)
        self._status = status
        self._seq = expect
        if status & _MORE_RESULTS and self._command != _STMT_FETCH:
            self._state = _FIRST
        else:
            self._finish(None)
        return end

    def _hand_over(self, state: int, seq: int, pos: int) -> int:
        self._state = state
        self._seq = seq
        return pos

    def _accumulator(self) -> bytearray:
        acc = self._acc
        if acc is None:
            acc = self._acc = bytearray()
        return acc

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
            acc = self._accumulator()
            acc += head[4:size]
            self._need = plen - (size - 4)
            if not self._need:
                payload = bytes(acc)
                acc.clear()
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
        state = self._state
        if not payload and state != _STATISTICS:
            raise RemoteProtocolError("empty response packet")
        _HANDLERS[state](self, payload)

    # -- client bytes (LOCAL INFILE) ---------------------------------------------------------

    def feed_client(self, data: bytes) -> list[ResponseEvent]:
        """Consume the client's LOCAL INFILE packets; detects the terminating empty packet."""
        if self._state != _INFILE or self._infile is None:
            raise LocalProtocolError("no LOCAL INFILE transfer in progress")
        if self._infile.feed(data):
            self._seq = self._infile.seq
            self._infile = None
            self.awaiting_client_data = False
            self._state = _FIRST  # OK | ERR; with MORE_RESULTS_EXISTS the next result follows
        return []

    # -- packet handlers ---------------------------------------------------------------------

    def _on_first(self, payload: bytes) -> None:
        head = payload[0]
        if head == 0x00:
            self._ok(payload, more_allowed=True)
        elif head == 0xFF:
            self._err(payload)
        elif head == 0xFB and self._command == _QUERY:
            self._state = _INFILE
            self.awaiting_client_data = True
            self._infile = ClientFileTracker(self._seq)
            self._events.append(LocalInfileRequested(payload[1:]))
        else:
            self._column_count(payload)

    def _column_count(self, payload: bytes) -> None:
        count = payload[0]
        if count < 0xFB and len(payload) == 1 + self._cache_metadata:
            follows = payload[1] if self._cache_metadata else 1
        else:
            r = Reader(payload)
            count = r.read_lenenc_int()
            follows = r.read_uint(1) if self._cache_metadata else 1
            if not r.at_end():
                raise RemoteProtocolError("invalid column count packet")
        if not count or count > 0xFFFF:
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
        status = self._status = eof_status(payload)
        self._warnings = payload[1] | payload[2] << 8
        if status & _CURSOR_EXISTS and self._command in _EXECUTE_COMMANDS:
            self._finish(None)
        else:
            self._state = _ROWS

    def _on_row_terminator(self, payload: bytes) -> None:
        if payload[0] == 0xFF:
            self._err(payload)
            return
        if self._deprecate_eof:
            self._ok(payload, more_allowed=self._command != _STMT_FETCH)
            return
        self._status = eof_status(payload)
        self._warnings = payload[1] | payload[2] << 8
        self._next_result_or_finish(self._command != _STMT_FETCH)

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
        self._status = eof_status(payload)
        self._after_params()

    def _on_pcols_eof(self, payload: bytes) -> None:
        self._status = eof_status(payload)
        self._finish(None)

    # -- shared steps ------------------------------------------------------------------------

    def _terminator(self, payload: bytes) -> None:
        """A 0xFE packet ending a single-packet response or a definition list."""
        if self._deprecate_eof:
            self._ok(payload, more_allowed=False)
        else:
            self._status = eof_status(payload)
            self._warnings = payload[1] | payload[2] << 8
            self._finish(None)

    def _ok(self, payload: bytes, more_allowed: bool) -> None:
        if len(payload) == 7 and payload[1] < 0xFB and payload[2] < 0xFB:
            # the usual short OK: 1-byte affected rows and insert id, no info, no session state
            self._affected = payload[1]
            self._insert_id = payload[2]
            self._status = payload[3] | payload[4] << 8
            self._warnings = payload[5] | payload[6] << 8
        elif (fields := quick_ok(payload, self._session_track)) is not None:
            self._affected, self._insert_id, self._status, self._warnings = fields
        else:
            ok = parse_ok(payload, self.capabilities)
            self._status = int(ok.status)
            self._affected = ok.affected_rows
            self._insert_id = ok.last_insert_id
            self._warnings = ok.warnings
            if ok.session_state:
                if self._session is None:
                    self._session = []
                self._session.append(ok.session_state)
        self._next_result_or_finish(more_allowed)

    def _next_result_or_finish(self, more_allowed: bool) -> None:
        if more_allowed and self._status & _MORE_RESULTS:
            self._state = _FIRST
        else:
            self._finish(None)

    def _err(self, payload: bytes) -> None:
        if is_progress(payload):
            return
        self._finish(parse_err(payload, self.capabilities))

    def _finish(self, error: ErrPacket | None) -> None:
        events = self._events
        if error is None and self._prepared is not None:
            events.append(self._prepared)
        status = self._status = self._status & ~_MORE_RESULTS  # stale after an ERR
        session = self._session
        if error is None and session is None:
            key = (self._command, status, self._affected, self._insert_id, self._warnings)
            done = _DONE_CACHE.get(key)
            if done is None:
                done = _done(*key)
            events.append(done)
        else:
            events.append(ResponseDone(
                self._command, _as_status(status), error is None, error, self._affected,
                self._insert_id, self._warnings, b"".join(session) if session else b"",
            ))
        queue = self._queue  # track the next queued command, or go idle
        if queue:
            self._begin_response(*queue.popleft())
        else:
            self._state = _IDLE


_HANDLERS: dict[int, Callable[[ResponseTracker, bytes], None]] = {
    _FIRST: ResponseTracker._on_first,
    _SIMPLE: ResponseTracker._on_simple,
    _STATISTICS: ResponseTracker._on_statistics,
    _COLS_EOF: ResponseTracker._on_cols_eof,
    _ROWS: ResponseTracker._on_row_terminator,
    _FIELDS: ResponseTracker._on_fields_terminator,
    _PREPARE: ResponseTracker._on_prepare,
    _PARAMS_EOF: ResponseTracker._on_params_eof,
    _PCOLS_EOF: ResponseTracker._on_pcols_eof,
}
