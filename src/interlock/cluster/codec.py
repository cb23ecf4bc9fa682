"""etcd v3 messages as the JSON gRPC gateway carries them, and back (pure: no I/O).

The gateway maps etcd's protobuf messages to JSON: ``bytes`` fields (keys, values) are base64,
64-bit integers are decimal strings, and fields at their zero value are left out (a PUT event
has no ``type``, a failed txn has no ``succeeded``, a lease that is gone has no ``TTL``).
Enums are sent as their numbers, which the gateway accepts as well as names.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

Json = dict[str, Any]


class GrpcCode(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class EventType(IntEnum):
    PUT = 0
    DELETE = 1


_EVENT_TYPES = {
    "PUT": EventType.PUT,
    "DELETE": EventType.DELETE,
    0: EventType.PUT,
    1: EventType.DELETE,
}

#: Which JSON field of a Compare carries the operand, per target.
_COMPARE_FIELD = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a range cover every key starting with ``prefix`` (etcd's
    own rule: increment the last byte below 0xff and cut after it; ``b"\\0"`` = all keys)."""
    end = bytearray(prefix)
    for index in range(len(end) - 1, -1, -1):
        if end[index] < 0xFF:
            end[index] += 1
            return bytes(end[: index + 1])
    return b"\0"


def _int(obj: Mapping[str, Any], name: str) -> int:
    return int(obj.get(name, 0))


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> KeyValue:
        return cls(
            key=b64d(obj.get("key")),
            value=b64d(obj.get("value")),
            create_revision=_int(obj, "create_revision"),
            mod_revision=_int(obj, "mod_revision"),
            version=_int(obj, "version"),
            lease=_int(obj, "lease"),
        )


def header_revision(obj: Mapping[str, Any]) -> int:
    return _int(obj.get("header", {}), "revision")


# -- reads and writes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Keys read at store revision ``revision`` (a snapshot: watch from ``revision + 1``)."""

    revision: int
    kvs: tuple[KeyValue, ...]
    count: int
    more: bool

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], revision: int | None = None) -> RangeResult:
        return cls(
            revision=header_revision(obj) if revision is None else revision,
            kvs=tuple(KeyValue.from_json(kv) for kv in obj.get("kvs", ())),
            count=_int(obj, "count"),
            more=bool(obj.get("more", False)),
        )


@dataclass(frozen=True, slots=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], revision: int | None = None) -> PutResult:
        prev = obj.get("prev_kv")
        return cls(
            revision=header_revision(obj) if revision is None else revision,
            prev_kv=KeyValue.from_json(prev) if prev else None,
        )


@dataclass(frozen=True, slots=True)
class DeleteResult:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], revision: int | None = None) -> DeleteResult:
        return cls(
            revision=header_revision(obj) if revision is None else revision,
            deleted=_int(obj, "deleted"),
            prev_kvs=tuple(KeyValue.from_json(kv) for kv in obj.get("prev_kvs", ())),
        )


def range_request(
    key: bytes,
    range_end: bytes = b"",
    *,
    revision: int = 0,
    limit: int = 0,
    count_only: bool = False,
    serializable: bool = False,
) -> Json:
    request: Json = {"key": b64e(key)}
    if range_end:
        request["range_end"] = b64e(range_end)
    if revision:
        request["revision"] = str(revision)
    if limit:
        request["limit"] = str(limit)
    if count_only:
        request["count_only"] = True
    if serializable:
        request["serializable"] = True
    return request


def put_request(key: bytes, value: bytes, *, lease: int = 0, prev_kv: bool = False) -> Json:
    request: Json = {"key": b64e(key), "value": b64e(value)}
    if lease:
        request["lease"] = str(lease)
    if prev_kv:
        request["prev_kv"] = True
    return request


def delete_request(key: bytes, range_end: bytes = b"", *, prev_kv: bool = False) -> Json:
    request: Json = {"key": b64e(key)}
    if range_end:
        request["range_end"] = b64e(range_end)
    if prev_kv:
        request["prev_kv"] = True
    return request


# -- transactions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a txn: ``target`` of ``key`` compared (``result``) with ``operand``.

    ``Compare.mod(key, 0)`` is "the key does not exist" (create-if-absent)."""

    key: bytes
    target: CompareTarget
    operand: int | bytes
    result: CompareResult = CompareResult.EQUAL

    @classmethod
    def mod(cls, key: bytes, revision: int) -> Compare:
        return cls(key, CompareTarget.MOD, revision)

    @classmethod
    def create(cls, key: bytes, revision: int) -> Compare:
        return cls(key, CompareTarget.CREATE, revision)

    @classmethod
    def lease(cls, key: bytes, lease_id: int) -> Compare:
        return cls(key, CompareTarget.LEASE, lease_id)

    @classmethod
    def value(cls, key: bytes, value: bytes) -> Compare:
        return cls(key, CompareTarget.VALUE, value)

    def to_json(self) -> Json:
        field = _COMPARE_FIELD[self.target]
        operand = b64e(self.operand) if isinstance(self.operand, bytes) else str(self.operand)
        return {
            "key": b64e(self.key),
            "target": int(self.target),
            "result": int(self.result),
            field: operand,
        }


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes
    range_end: bytes = b""

    def to_json(self) -> Json:
        return {"request_range": range_request(self.key, self.range_end)}


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0
    prev_kv: bool = False

    def to_json(self) -> Json:
        return {
            "request_put": put_request(self.key, self.value, lease=self.lease, prev_kv=self.prev_kv)
        }


@dataclass(frozen=True, slots=True)
class Delete:
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False

    def to_json(self) -> Json:
        return {
            "request_delete_range": delete_request(self.key, self.range_end, prev_kv=self.prev_kv)
        }


TxnOp = Get | Put | Delete
OpResult = RangeResult | PutResult | DeleteResult

_RESPONSE_PARSERS: dict[str, Callable[[Mapping[str, Any], int | None], OpResult]] = {
    "response_range": RangeResult.from_json,
    "response_put": PutResult.from_json,
    "response_delete_range": DeleteResult.from_json,
}


@dataclass(frozen=True, slots=True)
class TxnResult:
    """``succeeded``: the compares held and the success ops ran (else the failure ops);
    ``revision``: the store revision after the txn; one result per op that ran."""

    succeeded: bool
    revision: int
    responses: tuple[OpResult, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TxnResult:
        revision = header_revision(obj)
        results: list[OpResult] = []
        for response in obj.get("responses", ()):
            for name, parse in _RESPONSE_PARSERS.items():
                if name in response:
                    results.append(parse(response[name], revision))
        return cls(bool(obj.get("succeeded", False)), revision, tuple(results))


def txn_request(
    compares: tuple[Compare, ...] | list[Compare],
    success: tuple[TxnOp, ...] | list[TxnOp],
    failure: tuple[TxnOp, ...] | list[TxnOp],
) -> Json:
    return {
        "compare": [c.to_json() for c in compares],
        "success": [op.to_json() for op in success],
        "failure": [op.to_json() for op in failure],
    }


# -- watch --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> WatchEvent:
        prev = obj.get("prev_kv")
        return cls(
            type=_EVENT_TYPES[obj.get("type", 0)],
            kv=KeyValue.from_json(obj.get("kv", {})),
            prev_kv=KeyValue.from_json(prev) if prev else None,
        )


@dataclass(frozen=True, slots=True)
class WatchMessage:
    """One message of a watch stream (the gateway wraps each in ``{"result": ...}``)."""

    revision: int
    created: bool
    canceled: bool
    compact_revision: int
    cancel_reason: str
    events: tuple[WatchEvent, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> WatchMessage:
        return cls(
            revision=header_revision(obj),
            created=bool(obj.get("created", False)),
            canceled=bool(obj.get("canceled", False)),
            compact_revision=_int(obj, "compact_revision"),
            cancel_reason=str(obj.get("cancel_reason", "")),
            events=tuple(WatchEvent.from_json(e) for e in obj.get("events", ())),
        )


def watch_create_request(
    key: bytes, range_end: bytes, start_revision: int, *, prev_kv: bool = False
) -> Json:
    request: Json = {"key": b64e(key)}
    if range_end:
        request["range_end"] = b64e(range_end)
    if start_revision:
        request["start_revision"] = str(start_revision)
    if prev_kv:
        request["prev_kv"] = True
    return {"create_request": request}


# -- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayError:
    code: int
    message: str


def parse_error(obj: Mapping[str, Any]) -> GatewayError | None:
    """The error of a unary answer (``{"error", "message", "code"}``) or of a stream message
    (``{"error": {"grpc_code", "message"}}``); None when ``obj`` is not an error."""
    error = obj.get("error")
    if error is None:
        return None
    if isinstance(error, Mapping):
        code = error.get("grpc_code", error.get("code", GrpcCode.UNKNOWN))
        return GatewayError(int(code), str(error.get("message", "")))
    return GatewayError(int(obj.get("code", GrpcCode.UNKNOWN)), str(obj.get("message", error)))
