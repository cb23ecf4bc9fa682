"""Generic response packets: OK, ERR, EOF, and session-state-change information.

Header bytes: ``0x00`` OK, ``0xFF`` ERR, ``0xFE`` EOF (or, under ``CLIENT_DEPRECATE_EOF``, an OK
packet with a ``0xFE`` header that terminates a result set).  A ``0xFE`` first byte means EOF/OK
only when the payload is shorter than ``0xFFFFFF`` bytes: a row whose first column is a string of
16 MiB or more also starts with ``0xFE`` (an 8-byte length-encoded integer), and such a row
always fills a whole physical packet.

MariaDB sends the OK packet's ``info`` as a length-encoded string whether or not
``CLIENT_SESSION_TRACK`` is on (verified against MariaDB 10.11); ERR packets from
MariaDB carry ``#`` + SQLSTATE.  MariaDB *progress reports* use an ERR header with error code
0xFFFF; they are only sent to clients that negotiated ``MARIADB_CLIENT_PROGRESS`` (the proxy
never does).  :func:`parse_err` raises :class:`RemoteProtocolError` for them; use
:func:`is_progress` / :func:`parse_progress` to recognise them.
"""

from __future__ import annotations

from dataclasses import dataclass

from interlock.wire.codec import Reader, decode_text, lenenc_bytes, lenenc_int
from interlock.wire.constants import Capability, ServerStatus, SessionTrackType
from interlock.wire.errors import LocalProtocolError, RemoteProtocolError

OK_HEADER = 0x00
EOF_HEADER = 0xFE
ERR_HEADER = 0xFF
LOCAL_INFILE_HEADER = 0xFB
PROGRESS_CODE = 0xFFFF
_MAX_SHORT = 0xFFFFFF


@dataclass(frozen=True, slots=True)
class OkPacket:
    affected_rows: int
    last_insert_id: int
    status: ServerStatus
    warnings: int
    info: bytes = b""
    session_state: bytes = b""


@dataclass(frozen=True, slots=True)
class ErrPacket:
    code: int
    sqlstate: str
    message: str


@dataclass(frozen=True, slots=True)
class EofPacket:
    warnings: int
    status: ServerStatus


@dataclass(frozen=True, slots=True)
class ProgressReport:
    stage: int
    max_stage: int
    progress: int  # per mille (MariaDB sends progress * 1000)
    info: bytes


@dataclass(frozen=True, slots=True)
class SessionStateChange:
    """One entry of an OK packet's session-state information.

    ``SYSTEM_VARIABLES``: ``name`` is the variable (e.g. ``last_gtid``), ``value`` its new value.
    ``SCHEMA``, ``STATE_CHANGE``, ``GTIDS``, ``TRANSACTION_CHARACTERISTICS``,
    ``TRANSACTION_STATE``: ``name`` is ``""`` and ``value`` the text.  Unknown kinds: ``kind`` is
    the raw int, ``value`` the raw bytes.
    """

    kind: SessionTrackType | int
    name: str
    value: str | bytes


def is_ok(payload: bytes | memoryview) -> bool:
    return len(payload) > 0 and payload[0] == OK_HEADER


def is_err(payload: bytes | memoryview) -> bool:
    return len(payload) > 0 and payload[0] == ERR_HEADER


def is_eof(payload: bytes | memoryview) -> bool:
    """A result-set terminator: classic EOF, or OK-with-0xFE under DEPRECATE_EOF (not a row)."""
    return 0 < len(payload) < _MAX_SHORT and payload[0] == EOF_HEADER


def is_progress(payload: bytes | memoryview) -> bool:
    return len(payload) >= 3 and payload[0] == ERR_HEADER and payload[1] == payload[2] == 0xFF


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_ok(payload: bytes | memoryview, caps: Capability) -> OkPacket:
    """Parse an OK packet (header 0x00, or 0xFE when it terminates a result set)."""
    r = Reader(payload)
    header = r.read_uint(1)
    if header not in (OK_HEADER, EOF_HEADER):
        raise RemoteProtocolError(f"not an OK packet (header 0x{header:02x})")
    affected = r.read_lenenc_int()
    insert_id = r.read_lenenc_int()
    status = ServerStatus(r.read_uint(2))
    warnings = r.read_uint(2)
    info = b""
    state = b""
    if not r.at_end():
        info = r.read_lenenc_bytes()
    tracked = caps & Capability.SESSION_TRACK and status & ServerStatus.SESSION_STATE_CHANGED
    if tracked and not r.at_end():
        state = r.read_lenenc_bytes()
    return OkPacket(affected, insert_id, status, warnings, info, state)


def parse_err(payload: bytes | memoryview, caps: Capability = Capability.PROTOCOL_41) -> ErrPacket:
    r = Reader(payload)
    if r.read_uint(1) != ERR_HEADER:
        raise RemoteProtocolError("not an ERR packet")
    code = r.read_uint(2)
    if code == PROGRESS_CODE:
        raise RemoteProtocolError("MariaDB progress report where an ERR packet was expected")
    sqlstate = "HY000"
    if caps & Capability.PROTOCOL_41 and not r.at_end() and r.peek() == ord("#"):
        r.skip(1)
        sqlstate = decode_text(r.read_bytes(5), "SQLSTATE")
    return ErrPacket(code, sqlstate, _text(r.read_rest()))


def parse_progress(payload: bytes | memoryview) -> ProgressReport:
    r = Reader(payload)
    if r.read_uint(1) != ERR_HEADER or r.read_uint(2) != PROGRESS_CODE:
        raise RemoteProtocolError("not a progress report")
    stage = r.read_uint(1)
    max_stage = r.read_uint(1)
    progress = r.read_uint(3)
    return ProgressReport(stage, max_stage, progress, r.read_lenenc_bytes())


def parse_eof(payload: bytes | memoryview) -> EofPacket:
    if not is_eof(payload) or len(payload) < 5:
        raise RemoteProtocolError("not an EOF packet")
    r = Reader(payload, 1)
    warnings = r.read_uint(2)
    return EofPacket(warnings, ServerStatus(r.read_uint(2)))


# -- the relay's fast readers (ints, no objects; anything unusual -> the checking parsers) ----

_SESSION_STATE_CHANGED = int(ServerStatus.SESSION_STATE_CHANGED)


def _lenenc(data: bytes, pos: int) -> tuple[int, int]:
    """A length-encoded integer of up to 3 bytes at ``pos``: ``(value, next pos)``, or
    ``(-1, pos)`` for anything else (longer, NULL/ERR prefixes, past the end)."""
    if pos >= len(data):
        return -1, pos
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC and pos + 3 <= len(data):
        return data[pos + 1] | data[pos + 2] << 8, pos + 3
    if first == 0xFD and pos + 4 <= len(data):
        return data[pos + 1] | data[pos + 2] << 8 | data[pos + 3] << 16, pos + 4
    return -1, pos


def quick_ok(payload: bytes, session_track: bool) -> tuple[int, int, int, int] | None:
    """``(affected rows, insert id, status, warnings)`` of a well-formed OK packet (header
    byte already checked by the caller) that carries no session state to extract (an info
    string is allowed), read without building objects; None for anything else, which then goes
    through :func:`parse_ok` and its checks."""
    affected, pos = _lenenc(payload, 1)
    if affected < 0:
        return None
    insert_id, pos = _lenenc(payload, pos)
    if insert_id < 0 or pos + 4 > len(payload):
        return None
    status = payload[pos] | payload[pos + 1] << 8
    warnings = payload[pos + 2] | payload[pos + 3] << 8
    pos += 4
    if pos < len(payload):
        if session_track and status & _SESSION_STATE_CHANGED:
            return None
        size, pos = _lenenc(payload, pos)  # the info string must fit, as parse_ok checks
        if size < 0 or pos + size > len(payload):
            return None
    return affected, insert_id, status, warnings


def eof_status(payload: bytes) -> int:
    """The status flags of an EOF packet (what ``parse_eof`` checks, without the objects)."""
    if len(payload) < 5 or payload[0] != 0xFE:
        raise RemoteProtocolError("not an EOF packet")
    return payload[3] | payload[4] << 8


def parse_terminator(payload: bytes | memoryview, caps: Capability) -> OkPacket | EofPacket:
    """Parse a 0xFE result-set terminator: an OK packet under DEPRECATE_EOF, else an EOF."""
    if caps & Capability.DEPRECATE_EOF:
        return parse_ok(payload, caps)
    return parse_eof(payload)


def build_ok(
    status: ServerStatus,
    caps: Capability,
    affected_rows: int = 0,
    last_insert_id: int = 0,
    warnings: int = 0,
    info: bytes = b"",
    eof_header: bool = False,
    session_state: bytes = b"",
) -> bytes:
    """OK packet payload (with a 0xFE header when ``eof_header``: DEPRECATE_EOF terminator)."""
    if session_state and not caps & Capability.SESSION_TRACK:
        raise LocalProtocolError("session state needs CLIENT_SESSION_TRACK")
    if session_state:
        status |= ServerStatus.SESSION_STATE_CHANGED
    parts = [
        b"\xfe" if eof_header else b"\x00",
        lenenc_int(affected_rows),
        lenenc_int(last_insert_id),
        int(status).to_bytes(2, "little"),
        warnings.to_bytes(2, "little"),
    ]
    if info or session_state:
        parts.append(lenenc_bytes(info))
    if session_state:
        parts.append(lenenc_bytes(session_state))
    return b"".join(parts)


def build_err(code: int, sqlstate: str, message: str) -> bytes:
    """ERR packet payload, always with ``#`` + SQLSTATE (PROTOCOL_41)."""
    state = sqlstate.encode("ascii", "replace")
    if len(state) != 5:
        raise LocalProtocolError(f"SQLSTATE must be 5 characters: {sqlstate!r}")
    if not 0 <= code < PROGRESS_CODE:
        raise LocalProtocolError(f"error code out of range: {code}")
    return b"\xff" + code.to_bytes(2, "little") + b"#" + state + message.encode("utf-8")


def build_err_from(err: ErrPacket) -> bytes:
    return build_err(err.code, err.sqlstate, err.message)


def build_eof(status: ServerStatus, warnings: int = 0) -> bytes:
    return b"\xfe" + warnings.to_bytes(2, "little") + int(status).to_bytes(2, "little")


# -- session state ---------------------------------------------------------------------------


def _parse_sysvar(data: bytes) -> tuple[str, str | bytes]:
    r = Reader(data)
    name = _text(r.read_lenenc_bytes())
    return name, _text(r.read_lenenc_bytes())


def _parse_single(data: bytes) -> tuple[str, str | bytes]:
    return "", _text(Reader(data).read_lenenc_bytes())


def _parse_raw(data: bytes) -> tuple[str, str | bytes]:
    return "", _text(data)


def _parse_gtids(data: bytes) -> tuple[str, str | bytes]:
    r = Reader(data)
    r.skip(1)  # encoding specification (0 = text)
    return "", _text(r.read_lenenc_bytes())


_SESSION_PARSERS = {
    SessionTrackType.SYSTEM_VARIABLES: _parse_sysvar,
    SessionTrackType.SCHEMA: _parse_single,
    SessionTrackType.STATE_CHANGE: _parse_raw,  # MariaDB: the body is just "1", no length
    SessionTrackType.GTIDS: _parse_gtids,
    SessionTrackType.TRANSACTION_CHARACTERISTICS: _parse_single,
    SessionTrackType.TRANSACTION_STATE: _parse_single,
}


def parse_session_state(data: bytes | memoryview) -> tuple[SessionStateChange, ...]:
    """Split an OK packet's session-state block into its entries."""
    r = Reader(data)
    out: list[SessionStateChange] = []
    while not r.at_end():
        kind = r.read_uint(1)
        body = r.read_lenenc_bytes()
        parser = _SESSION_PARSERS.get(kind)  # type: ignore[call-overload]
        if parser is None:
            out.append(SessionStateChange(kind, "", body))
            continue
        name, value = parser(body)
        out.append(SessionStateChange(SessionTrackType(kind), name, value))
    return tuple(out)


def build_session_state(changes: tuple[SessionStateChange, ...]) -> bytes:
    """Inverse of :func:`parse_session_state` (used by tests and by an injecting proxy)."""
    parts: list[bytes] = []
    for change in changes:
        value = change.value if isinstance(change.value, bytes) else change.value.encode()
        if change.kind == SessionTrackType.SYSTEM_VARIABLES:
            body = lenenc_bytes(change.name.encode()) + lenenc_bytes(value)
        elif change.kind == SessionTrackType.GTIDS:
            body = b"\x00" + lenenc_bytes(value)
        elif change.kind == SessionTrackType.STATE_CHANGE:
            body = value
        elif change.kind in _SESSION_PARSERS:
            body = lenenc_bytes(value)
        else:
            body = value
        parts.append(bytes((int(change.kind),)) + lenenc_bytes(body))
    return b"".join(parts)
