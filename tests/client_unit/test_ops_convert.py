"""Txn builders, protobuf -> public types, and gRPC error mapping (no server)."""

from __future__ import annotations

import grpc
import pytest
from client_unit.canned import event

from fixed_client import ops
from fixed_client._transport import make_settings, map_error, parse_endpoint, token_rejected
from fixed_client.core.convert import range_result, to_events, txn_result
from fixed_client.errors import (
    CompactedError,
    EtcdConnectionError,
    MessageTooLargeError,
)
from fixed_client.proto import kv_pb2, rpc_pb2
from fixed_client.types import Event, KeyValue


def test_compares_from_operators() -> None:
    cmp = ops.value("k") == "v"
    assert (cmp.key, cmp.target, cmp.result, cmp.value) == (b"k", rpc_pb2.Compare.VALUE, rpc_pb2.Compare.EQUAL, b"v")
    cmp = ops.version(b"k") > 2
    assert (cmp.target, cmp.result, cmp.version) == (rpc_pb2.Compare.VERSION, rpc_pb2.Compare.GREATER, 2)
    assert (ops.create_revision("k") == 0).target == rpc_pb2.Compare.CREATE
    assert (ops.mod_revision("k") < 9).result == rpc_pb2.Compare.LESS
    assert (ops.lease("k") != 7).lease == 7


def test_ops_and_txn_request_validation() -> None:
    req = ops.txn_request([ops.value("k") == "v"], [ops.put("k", "w"), ops.get("p/", prefix=True)], [ops.delete("k")])
    assert req.success[0].request_put.value == b"w"
    assert req.success[1].request_range.range_end == b"p0"
    assert req.failure[0].request_delete_range.key == b"k"
    with pytest.raises(TypeError, match="compare"):
        ops.txn_request(["k == v"], [], [])
    with pytest.raises(TypeError, match="key"):
        ops.put(3, "v")


def test_events_convert_with_prev_kv() -> None:
    with_prev = event(5, b"a")
    with_prev.prev_kv.CopyFrom(kv_pb2.KeyValue(key=b"a", value=b"old", mod_revision=4))
    deleted = event(6, b"a", delete=True)
    put, gone = to_events([with_prev, deleted])
    assert isinstance(put, Event) and put.type == "PUT" and put.mod_revision == 5 and put.value == b"v5"
    assert put.prev_kv == KeyValue(b"a", b"old", 0, 4, 0, 0)
    assert gone.type == "DELETE" and gone.prev_kv is None


def test_range_and_txn_results() -> None:
    rng = rpc_pb2.RangeResponse(header=rpc_pb2.ResponseHeader(revision=9), kvs=[kv_pb2.KeyValue(key=b"a")], count=3, more=True)
    result = range_result(rng)
    assert result == [KeyValue(b"a", b"", 0, 0, 0, 0)] and result.revision == 9 and result.total == 3 and result.more
    txn = rpc_pb2.TxnResponse(
        header=rpc_pb2.ResponseHeader(revision=11),
        succeeded=True,
        responses=[
            rpc_pb2.ResponseOp(response_range=rng),
            rpc_pb2.ResponseOp(response_delete_range=rpc_pb2.DeleteRangeResponse(deleted=2)),
        ],
    )
    out = txn_result(txn)
    assert out.succeeded and out.revision == 11 and out.responses[1] == 2


def test_endpoints_and_settings() -> None:
    assert parse_endpoint("https://h:1") == ("h:1", True)
    assert parse_endpoint("h:1") == ("h:1", None)
    settings = make_settings(["http://a:1", "b:2"], 2, None, None, None, None, None, 1024)
    assert settings.endpoints == ("a:1", "b:2") and not settings.secure
    with pytest.raises(TypeError):
        make_settings([3], 2, None, None, None, None, None, 1024)
    with pytest.raises(ValueError, match="max_message_bytes"):
        make_settings(["a:1"], 2, None, None, None, None, None, 0)
    with pytest.raises(ValueError, match="username and password"):
        make_settings(["a:1"], 2, "root", None, None, None, None, 1024)


def test_error_mapping_names_what_to_change() -> None:
    settings = make_settings(["a:1", "b:2"], 2, None, None, None, None, None, 1024)
    too_big = map_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5000 vs. 1024)", settings, [])
    assert isinstance(too_big, MessageTooLargeError) and "max_message_bytes=1024" in str(too_big)
    down = map_error(grpc.StatusCode.UNAVAILABLE, "connection refused", settings, [])
    assert isinstance(down, EtcdConnectionError) and "a:1" in str(down) and "b:2" in str(down)
    compacted = map_error(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted", settings, [])
    assert isinstance(compacted, CompactedError)


def test_expired_token_create_rejection_reopens_only_with_auth() -> None:
    reason = "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"
    rejected = rpc_pb2.WatchResponse(watch_id=-1, created=True, canceled=True, cancel_reason=reason)
    with_auth = make_settings(["a:1"], 2, "alice", "pw", None, None, None, 1024)
    without = make_settings(["a:1"], 2, None, None, None, None, None, 1024)
    assert token_rejected(rejected, with_auth)
    assert not token_rejected(rejected, without)
    denied = rpc_pb2.WatchResponse(watch_id=-1, created=True, canceled=True, cancel_reason="etcdserver: permission denied")
    assert not token_rejected(denied, with_auth)  # a real denial fails the watch
