"""Binary-protocol prepared statements of a read/write-split session: one id for the client.

A statement prepared through ``readwritesplit`` may exist on several backends (the primary and
the replicas it may run on), each with its own statement id.  The client sees one id the proxy
assigns (1, 2, 3... per session); :class:`StatementIds` maps it to each backend's id, and the
functions here rewrite the 4-byte id in the commands that carry one (COM_STMT_EXECUTE,
COM_STMT_SEND_LONG_DATA, COM_STMT_RESET, COM_STMT_CLOSE, COM_STMT_FETCH, COM_STMT_BULK_EXECUTE)
and in the PREPARE OK the client receives.

Parameter types: a client sends the parameter types with the first COM_STMT_EXECUTE after
binding (``new_params_bound = 1``) and leaves them out afterwards; the server remembers them per
statement.  When a later execute goes to another backend than the one that saw the types, the
proxy puts the remembered types back into the packet (:func:`with_types`), as MaxScale does.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAST_PREPARED = 0xFFFFFFFF  # MariaDB: "the statement prepared last" (pipelined prepare+execute)
_ID = slice(1, 5)
_FLAGS_END = 10  # command byte, id (4), flags (1), iteration count (4)


def statement_id(payload: bytes) -> int:
    """The statement id of a COM_STMT_* payload (the command byte included)."""
    return int.from_bytes(payload[_ID], "little") if len(payload) >= 5 else 0


def with_id(payload: bytes, stmt_id: int) -> bytes:
    """``payload`` carrying ``stmt_id`` instead of its own id (``payload`` itself when it
    already does: the proxy's ids and a backend's are usually the same numbers)."""
    if statement_id(payload) == stmt_id:
        return payload
    return payload[:1] + stmt_id.to_bytes(4, "little") + payload[5:]


def patch_prepare_ok(response: bytearray, stmt_id: int) -> None:
    """Put ``stmt_id`` in the PREPARE OK at the start of a framed response (in place)."""
    if len(response) >= 9 and response[4] == 0:
        response[5:9] = stmt_id.to_bytes(4, "little")


@dataclass(slots=True)
class Statement:
    """One client-visible prepared statement."""

    proxy_id: int
    num_params: int = 0
    backend_ids: dict[str, int] = field(default_factory=dict)  # server name -> its id
    types: bytes | None = None  # the parameter types the client last sent
    typed_on: set[str] = field(default_factory=set)  # servers that have seen ``types``


def execute_types(payload: bytes, num_params: int) -> tuple[bool, bytes] | None:
    """``(new_params_bound, types)`` of a COM_STMT_EXECUTE payload, None if it has no params
    or is too short to say."""
    if num_params <= 0:
        return None
    flag_at = _FLAGS_END + (num_params + 7) // 8
    if len(payload) <= flag_at:
        return None
    if payload[flag_at] != 1:
        return False, b""
    end = flag_at + 1 + 2 * num_params
    if len(payload) < end:
        return None
    return True, payload[flag_at + 1 : end]


def with_types(payload: bytes, num_params: int, types: bytes) -> bytes:
    """A COM_STMT_EXECUTE payload sent without types (``new_params_bound = 0``), with ``types``
    put in and the flag set."""
    flag_at = _FLAGS_END + (num_params + 7) // 8
    return payload[:flag_at] + b"\x01" + types + payload[flag_at + 1 :]


class StatementIds:
    """The session's prepared statements by client-visible id."""

    __slots__ = ("_next", "by_id", "last")

    def __init__(self) -> None:
        self._next = 1
        self.by_id: dict[int, Statement] = {}
        self.last: int | None = None  # the id of the last prepare sent, while it exists

    def allocate(self) -> int:
        proxy_id = self._next
        self._next = proxy_id + 1 if proxy_id < 0xFFFFFFFE else 1
        return proxy_id

    def add(self, proxy_id: int) -> Statement:
        """A COM_STMT_PREPARE is about to be sent under ``proxy_id``.

        It is the "last prepared" statement from now on, whatever the answer: after a
        prepare the server refuses, ``0xFFFFFFFF`` names no statement (error 1243 on the
        server), not the one prepared before (:meth:`close` forgets it when it fails)."""
        stmt = self.by_id[proxy_id] = Statement(proxy_id)
        self.last = proxy_id
        return stmt

    def prepared(self, proxy_id: int, server: str, backend_id: int, num_params: int,
                 primary: bool = False) -> bool:
        """``server`` prepared the statement as ``backend_id``; False when the client closed
        it meanwhile (the caller closes it on that server).  (``primary``: the primary's
        answer; the "last prepared" id was already set by :meth:`add`.)"""
        stmt = self.by_id.get(proxy_id)
        if stmt is None:
            return False
        stmt.num_params = num_params
        stmt.backend_ids[server] = backend_id
        return True

    def resolve(self, client_id: int) -> int:
        """The client's id, with MariaDB's "last prepared" id replaced by the real one."""
        if client_id == LAST_PREPARED and self.last is not None:
            return self.last
        return client_id

    def get(self, proxy_id: int) -> Statement | None:
        return self.by_id.get(proxy_id)

    def backend_id(self, proxy_id: int, server: str) -> int | None:
        stmt = self.by_id.get(proxy_id)
        return None if stmt is None else stmt.backend_ids.get(server)

    def forget_server(self, server: str) -> None:
        """``server``'s connection is gone: its statements went with it."""
        for stmt in self.by_id.values():
            stmt.backend_ids.pop(server, None)
            stmt.typed_on.discard(server)

    def close(self, proxy_id: int) -> Statement | None:
        if self.last == proxy_id:
            self.last = None
        return self.by_id.pop(proxy_id, None)

    def clear(self) -> None:
        self.by_id.clear()
        self.last = None

    def execute_payload(self, payload: bytes, stmt: Statement, server: str) -> bytes:
        """The COM_STMT_EXECUTE ``payload`` (client's id) as ``server`` must receive it."""
        backend_id = stmt.backend_ids[server]
        seen = execute_types(payload, stmt.num_params)
        if seen is not None:
            bound, types = seen
            if bound:
                if types != stmt.types:
                    stmt.types = types
                    stmt.typed_on = set()
                stmt.typed_on.add(server)
            elif stmt.types is not None and server not in stmt.typed_on:
                payload = with_types(payload, stmt.num_params, stmt.types)
                stmt.typed_on.add(server)
        if len(payload) < 5:
            return with_id(payload, backend_id)
        if int.from_bytes(payload[_ID], "little") == backend_id:  # (with_id, inlined)
            return payload
        return payload[:1] + backend_id.to_bytes(4, "little") + payload[5:]
