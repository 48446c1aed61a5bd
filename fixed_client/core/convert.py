"""protobuf responses -> the public result types."""

from __future__ import annotations

from collections.abc import Iterable

from fixed_client.proto import kv_pb2, rpc_pb2
from fixed_client.types import Event, KeyValue, RangeResult, TxnResult


def to_kv(kv: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def to_events(events: Iterable[kv_pb2.Event]) -> list[Event]:
    out: list[Event] = []
    append = out.append
    for ev in events:
        kv = ev.kv
        prev = to_kv(ev.prev_kv) if ev.HasField("prev_kv") else None
        append(
            Event(
                "DELETE" if ev.type else "PUT",
                kv.key,
                kv.value,
                kv.create_revision,
                kv.mod_revision,
                kv.version,
                prev,
            )
        )
    return out


def range_result(resp: rpc_pb2.RangeResponse) -> RangeResult:
    return RangeResult([to_kv(kv) for kv in resp.kvs], resp.header.revision, resp.count, resp.more)


def txn_result(resp: rpc_pb2.TxnResponse) -> TxnResult:
    out: list[RangeResult | int | TxnResult] = []
    for op in resp.responses:
        kind = op.WhichOneof("response")
        if kind == "response_range":
            out.append(range_result(op.response_range))
        elif kind == "response_put":
            out.append(op.response_put.header.revision)
        elif kind == "response_delete_range":
            out.append(op.response_delete_range.deleted)
        elif kind == "response_txn":
            out.append(txn_result(op.response_txn))
    return TxnResult(resp.succeeded, out, resp.header.revision)
