"""etcd's concurrency.Mutex recipe as request builders and decisions (sans-IO).

The lock key is ``<name>/<lease id hex>``. Acquiring puts it if absent (create_revision == 0) in a
txn that also reads the prefix's first creator; the owner is the key with the lowest create
revision. A waiter watches only its predecessor (the last key created before its own) from the
range's header revision until a DELETE, so a release that lands before the watch exists is still
seen; then it looks again.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixed_client.core.requests import prefix_end
from fixed_client.proto import rpc_pb2


def lock_prefix(name: bytes) -> bytes:
    return name + b"/"


def lock_key(name: bytes, lease_id: int) -> bytes:
    return lock_prefix(name) + format(lease_id, "x").encode()


def _first_creator(prefix: bytes) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(
        key=prefix,
        range_end=prefix_end(prefix),
        sort_target=rpc_pb2.RangeRequest.CREATE,
        sort_order=rpc_pb2.RangeRequest.ASCEND,
        limit=1,
    )


def acquire_txn(name: bytes, lease_id: int) -> rpc_pb2.TxnRequest:
    key = lock_key(name, lease_id)
    owner = rpc_pb2.RequestOp(request_range=_first_creator(lock_prefix(name)))
    return rpc_pb2.TxnRequest(
        compare=[rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.EQUAL, create_revision=0)],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=b"", lease=lease_id)), owner],
        failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key)), owner],
    )


@dataclass(frozen=True)
class AcquireOutcome:
    my_revision: int  # the create revision of our key: the fencing token
    owned: bool  # our key is the first creator


def acquire_outcome(resp: rpc_pb2.TxnResponse) -> AcquireOutcome:
    if resp.succeeded:
        my_rev = resp.header.revision
    else:
        mine = resp.responses[0].response_range.kvs
        if not mine:
            raise RuntimeError("lock key vanished between the compare and the read")
        my_rev = mine[0].create_revision
    owner = resp.responses[1].response_range.kvs
    return AcquireOutcome(my_rev, not owner or owner[0].create_revision == my_rev)


def predecessor_request(name: bytes, my_revision: int) -> rpc_pb2.RangeRequest:
    """The last key of the lock created before ours (none left: we own the lock)."""
    prefix = lock_prefix(name)
    return rpc_pb2.RangeRequest(
        key=prefix,
        range_end=prefix_end(prefix),
        sort_target=rpc_pb2.RangeRequest.CREATE,
        sort_order=rpc_pb2.RangeRequest.DESCEND,
        max_create_revision=my_revision - 1,
        limit=1,
    )


@dataclass(frozen=True)
class Predecessor:
    key: bytes
    watch_from: int  # the range's header revision: a delete after the read is still seen


def predecessor(resp: rpc_pb2.RangeResponse) -> Predecessor | None:
    if not resp.kvs:
        return None
    return Predecessor(resp.kvs[0].key, resp.header.revision)
