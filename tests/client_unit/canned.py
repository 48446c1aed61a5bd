"""Canned etcd WatchResponses for the sans-IO core tests (shapes as etcd 3.4.23 sends them)."""

from __future__ import annotations

from fixed_client.proto import kv_pb2, rpc_pb2


def header(revision: int) -> rpc_pb2.ResponseHeader:
    return rpc_pb2.ResponseHeader(cluster_id=1, member_id=2, revision=revision, raft_term=3)


def created(watch_id: int, revision: int) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(header=header(revision), watch_id=watch_id, created=True)


def event(revision: int, key: bytes = b"k", delete: bool = False) -> kv_pb2.Event:
    kv = kv_pb2.KeyValue(key=key, mod_revision=revision, create_revision=revision, version=1, value=b"v%d" % revision)
    return kv_pb2.Event(type=kv_pb2.Event.DELETE if delete else kv_pb2.Event.PUT, kv=kv)


def events(watch_id: int, *revisions: int, fragment: bool = False, key: bytes = b"k") -> rpc_pb2.WatchResponse:
    last = max(revisions) if revisions else 0
    return rpc_pb2.WatchResponse(
        header=header(last), watch_id=watch_id, events=[event(r, key) for r in revisions], fragment=fragment
    )


def progress(watch_id: int, revision: int) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(header=header(revision), watch_id=watch_id)


def canceled(watch_id: int, reason: str = "", compact_revision: int = 0) -> rpc_pb2.WatchResponse:
    # A compaction cancel carries header.revision 0 on etcd 3.4.23.
    return rpc_pb2.WatchResponse(
        header=header(0 if compact_revision else 5),
        watch_id=watch_id,
        canceled=True,
        cancel_reason=reason,
        compact_revision=compact_revision,
    )


def creates(requests: list[rpc_pb2.WatchRequest]) -> list[rpc_pb2.WatchCreateRequest]:
    return [r.create_request for r in requests if r.WhichOneof("request_union") == "create_request"]


def cancels(requests: list[rpc_pb2.WatchRequest]) -> list[int]:
    return [r.cancel_request.watch_id for r in requests if r.WhichOneof("request_union") == "cancel_request"]
