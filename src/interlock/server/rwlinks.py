"""The backend connections of a read/write-split session and what each one owes.

A :class:`Link` is one server of the session: its :class:`BackendConnection` (once logged in),
and a queue of the responses the session expects from it, in order.  Each expected response is
either **relayed** (the client's current command: its bytes go to the client chunk by chunk as
they arrive) or **consumed** by the proxy (a session command's echo on a replica, the replay of
the session-command history on a new connection, a causal-reads wait, the ``@@last_gtid``
lookup): its bytes are dropped, or collected when the proxy needs the result, and a callback
gets the :class:`ResponseDone`.

Invariant that keeps the relay simple: a relayed command is only sent on a link with nothing
else pending, so one received chunk never mixes a consumed response with a relayed one.
Consumed responses may queue behind each other (history replay, session commands on replicas).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from interlock.config.model import ServerConfig
from interlock.routing.decision import RouteDecision
from interlock.routing.session_state import ResponseFacts
from interlock.routing.topology import ServerLoad
from interlock.server.backend import BackendConnection
from interlock.server.sescmd import SessionCommand
from interlock.sql.kinds import Classification
from interlock.wire.codec import Reader
from interlock.wire.constants import SessionTrackType
from interlock.wire.events import ResponseDone, StatementPrepared
from interlock.wire.framing import encode_packet
from interlock.wire.packets import parse_session_state

OnDone = Callable[[ResponseDone, StatementPrepared | None, bytes], None]

RELAY = 0
CONSUME = 1


class Expect:
    """One response a link owes: relayed, or consumed with ``on_done`` (and ``collect``ed)."""

    __slots__ = ("buffer", "crc", "kind", "on_done")

    def __init__(self, kind: int, on_done: OnDone | None = None, collect: bool = False,
                 checksum: bool = False) -> None:
        self.kind = kind
        self.on_done = on_done
        self.buffer: bytearray | None = bytearray() if collect else None
        # a CRC-32 of the response bytes, chunk by chunk (transaction replay); None: not kept
        self.crc: int | None = 0 if checksum else None


RELAYED = Expect(RELAY)

# after_* update used when the relayed response is complete
AFTER_QUERY, AFTER_EXECUTE, AFTER_INIT_DB, AFTER_RESET, AFTER_PREPARE, AFTER_COMMAND = range(6)
AFTER_NOTHING = 6  # COM_PING, COM_STATISTICS: the session's state (incl. its last server) stays


@dataclass(slots=True)
class Inflight:
    """The client command whose response is being relayed."""

    payload: bytes
    decision: RouteDecision
    after: int
    classification: Classification | None = None
    entry: SessionCommand | None = None  # a session command's history entry
    proxy_id: int = 0  # prepared statement id (PREPARE, EXECUTE)
    held: bytearray | None = None  # PREPARE: the response, held to put the client's id in
    started: float = 0.0
    gtid_hold: bool = False  # a write's answer, held until its GTID is known (causal_reads)
    relayed: bool = False  # some of the response already reached the client
    server: str = ""  # where it was sent (its load counts it until answered or closed)
    load: ServerLoad | None = None  # that server's live counters (set with ``server``)




class Link:
    """One server of a read/write-split session."""

    __slots__ = ("conn", "connecting", "is_primary", "name", "pending", "ready", "server",
                 "used", "waiters")

    def __init__(self, server: ServerConfig, is_primary: bool = False) -> None:
        self.server = server
        self.name = server.name
        self.is_primary = is_primary
        self.conn: BackendConnection | None = None
        self.pending: deque[Expect] = deque()
        self.ready = False  # logged in and the history replay sent
        self.connecting = False
        self.waiters: list[Callable[[], None]] = []  # called once the link is idle (or gone)
        self.used = time.monotonic()  # when a command was last sent (keepalive)

    @property
    def idle(self) -> bool:
        """Ready for a relayed command: logged in, nothing pending."""
        return self.ready and not self.pending

    def expect(self, expect: Expect) -> None:
        self.pending.append(expect)

    def send(self, payload: bytes, expect: Expect | None, raw: bytes | None = None,
             last_seq: int = 0) -> None:
        """Send one command (``raw``: the same packet already framed, sent as is)."""
        conn = self.conn
        assert conn is not None
        self.used = time.monotonic()
        answered = conn.tracker.start(payload[0], payload[:16], last_seq)
        if answered and expect is not None:
            self.pending.append(expect)
        conn.write(raw if raw is not None else encode_packet(payload, 0))

    def wake(self) -> None:
        """Call the waiters (the link became idle, or went away)."""
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            waiter()


_FACTS: dict[tuple[str, bool, int | None], ResponseFacts] = {}


def response_facts(server: str, done: ResponseDone) -> ResponseFacts:
    """What the routing state needs from a response (status, tracked GTID and schema)."""
    if not done.session_state:
        # the common case (no tracked change): equal facts are shared, they are immutable
        status = int(done.status) if done.ok else None
        key = (server, done.ok, status)
        facts = _FACTS.get(key)
        if facts is None:
            if len(_FACTS) > 4096:  # server names come and go: stay bounded
                _FACTS.clear()
            facts = _FACTS[key] = ResponseFacts(server, done.ok, status)
        return facts
    last_gtid = database = None
    if done.session_state:
        for change in parse_session_state(done.session_state):
            if change.kind == SessionTrackType.SYSTEM_VARIABLES and change.name == "last_gtid":
                last_gtid = str(change.value)
            elif change.kind == SessionTrackType.SCHEMA:
                database = str(change.value)
    status = int(done.status) if done.ok else None
    if last_gtid is None and database is None:
        return ResponseFacts(server, done.ok, status)
    return ResponseFacts(server, done.ok, status, last_gtid or None, database)


def first_value(response: bytes) -> bytes | None:
    """The first column of the first row of a framed text result set (None: NULL / no row)."""
    payloads: list[bytes] = []
    pos = 0
    while pos + 4 <= len(response):
        length = int.from_bytes(response[pos : pos + 3], "little")
        payloads.append(response[pos + 4 : pos + 4 + length])
        pos += 4 + length
    if not payloads or payloads[0][:1] in (b"\x00", b"\xff"):
        return None
    columns = Reader(payloads[0]).read_lenenc_int()
    index = 1 + columns
    if index < len(payloads) and payloads[index][:1] == b"\xfe" and len(payloads[index]) < 9:
        index += 1  # the EOF after the column definitions (no DEPRECATE_EOF)
    if index >= len(payloads):
        return None
    row = payloads[index]
    if not row or row[0] in (0xFB, 0xFE, 0xFF):
        return None
    return Reader(row).read_lenenc_bytes()
