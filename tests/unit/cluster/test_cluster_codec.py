"""The etcd JSON gateway codec (pure): shapes checked against what etcd 3.4 sends.

The sample messages are copied from a real etcd 3.4.23 gateway (captured with curl)."""

from __future__ import annotations

import json

from interlock.cluster.codec import (
    Compare,
    CompareResult,
    CompareTarget,
    Delete,
    EventType,
    Get,
    GrpcCode,
    Put,
    TxnResult,
    WatchMessage,
    b64e,
    parse_error,
    prefix_end,
    range_request,
    txn_request,
)


def test_prefix_end_follows_etcd_rule() -> None:
    assert prefix_end(b"/a/") == b"/a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"


def test_range_request_sends_int64_as_strings_and_omits_defaults() -> None:
    assert range_request(b"foo") == {"key": "Zm9v"}
    assert range_request(b"foo", b"fop", revision=7, limit=1, count_only=True) == {
        "key": "Zm9v",
        "range_end": "Zm9w",
        "revision": "7",
        "limit": "1",
        "count_only": True,
    }


def test_compare_and_ops_to_json() -> None:
    request = txn_request(
        [Compare.mod(b"k", 0), Compare.lease(b"k", 42), Compare.value(b"k", b"v")],
        [Put(b"k", b"v", lease=42)],
        [Get(b"k"), Delete(b"k", prev_kv=True)],
    )
    assert request["compare"] == [
        {
            "key": "aw==",
            "target": CompareTarget.MOD,
            "result": CompareResult.EQUAL,
            "mod_revision": "0",
        },
        {"key": "aw==", "target": CompareTarget.LEASE, "result": 0, "lease": "42"},
        {"key": "aw==", "target": CompareTarget.VALUE, "result": 0, "value": b64e(b"v")},
    ]
    assert request["success"] == [{"request_put": {"key": "aw==", "value": "dg==", "lease": "42"}}]
    assert request["failure"] == [
        {"request_range": {"key": "aw=="}},
        {"request_delete_range": {"key": "aw==", "prev_kv": True}},
    ]
    json.dumps(request)  # serialisable as is


def test_txn_result_failed_compare_carries_the_current_key() -> None:
    answer = json.loads(
        '{"header":{"revision":"5","raft_term":"2"},"responses":[{"response_range":{"header":'
        '{"revision":"5"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2",'
        '"version":"1","value":"YmFy"}],"count":"1"}}]}'
    )
    result = TxnResult.from_json(answer)
    assert not result.succeeded and result.revision == 5
    (current,) = result.responses
    assert current.kvs[0].key == b"foo" and current.kvs[0].value == b"bar"  # type: ignore[union-attr]


def test_watch_messages() -> None:
    put = WatchMessage.from_json(
        json.loads(
            '{"header":{"revision":"3"},"events":[{"kv":{"key":"Zm9vMQ==","create_revision":"3",'
            '"mod_revision":"3","version":"1","value":"MQ=="}}]}'
        )
    )
    assert [(e.type, e.kv.key, e.revision) for e in put.events] == [(EventType.PUT, b"foo1", 3)]
    delete = WatchMessage.from_json(
        json.loads(
            '{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"Zm9vMQ==",'
            '"mod_revision":"4"},"prev_kv":{"key":"Zm9vMQ==","create_revision":"3",'
            '"mod_revision":"3","version":"1","value":"MQ=="}}]}'
        )
    )
    (event,) = delete.events
    assert event.type == EventType.DELETE and event.prev_kv is not None
    assert event.prev_kv.value == b"1"
    compacted = WatchMessage.from_json(
        json.loads('{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"4"}')
    )
    assert compacted.canceled and compacted.compact_revision == 4


def test_errors_unary_and_stream() -> None:
    unary = parse_error(
        json.loads(
            '{"error":"etcdserver: mvcc: required revision has been compacted",'
            '"message":"etcdserver: mvcc: required revision has been compacted","code":11}'
        )
    )
    assert unary is not None and unary.code == GrpcCode.OUT_OF_RANGE
    stream = parse_error(
        json.loads(
            '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",'
            '"http_status":"Service Unavailable"}}'
        )
    )
    assert stream is not None and (stream.code, stream.message) == (14, "etcdserver: no leader")
    assert parse_error({"header": {}}) is None
