"""Builders for ``Client.txn``: compares and operations (shared by the sync and asyncio clients).

    from fixed_client import ops
    client.txn(
        compare=[ops.value("/cfg") == "old", ops.version("/new") == 0],
        success=[ops.put("/cfg", "new"), ops.get("/cfg")],
        failure=[ops.get("/cfg")],
    )

``value``, ``version``, ``create_revision``, ``mod_revision`` and ``lease`` name a key's field; compare
it with ``==``, ``!=``, ``<`` or ``>``. ``put``, ``get``, ``delete`` and ``txn`` build the operations.
"""

from __future__ import annotations

from collections.abc import Iterable

from fixed_client.core.requests import (
    check_int,
    delete_request,
    lease_id,
    put_request,
    range_request,
    to_bytes,
)
from fixed_client.proto import rpc_pb2

_Compare = rpc_pb2.Compare


class Target:
    """One field of one key, to be compared with ``==``, ``!=``, ``<`` or ``>``."""

    def __init__(self, key: object, target: str, field: str) -> None:
        self.key = to_bytes(key, "key")
        self._target = target
        self._field = field

    def _make(self, result: str, other: object) -> rpc_pb2.Compare:
        if self._field == "value":
            operand: object = to_bytes(other, "value")
        elif self._field == "lease":
            operand = lease_id(other)
        else:
            operand = check_int(other, self._field, 0)
        return _Compare(key=self.key, target=self._target, result=result, **{self._field: operand})  # type: ignore[arg-type]

    def __eq__(self, other: object) -> rpc_pb2.Compare:  # type: ignore[override]
        return self._make("EQUAL", other)

    def __ne__(self, other: object) -> rpc_pb2.Compare:  # type: ignore[override]
        return self._make("NOT_EQUAL", other)

    def __lt__(self, other: object) -> rpc_pb2.Compare:
        return self._make("LESS", other)

    def __gt__(self, other: object) -> rpc_pb2.Compare:
        return self._make("GREATER", other)

    __hash__ = None  # type: ignore[assignment]


def value(key: object) -> Target:
    return Target(key, "VALUE", "value")


def version(key: object) -> Target:
    return Target(key, "VERSION", "version")


def create_revision(key: object) -> Target:
    return Target(key, "CREATE", "create_revision")


def mod_revision(key: object) -> Target:
    return Target(key, "MOD", "mod_revision")


def lease(key: object) -> Target:
    return Target(key, "LEASE", "lease")


def put(key: object, value: object, lease: object = None) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=put_request(key, value, lease))


def get(
    key: object, prefix: bool = False, revision: object = None, limit: object = None, keys_only: bool = False
) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_range=range_request(key, prefix, revision, limit, keys_only))


def delete(key: object, prefix: bool = False) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_delete_range=delete_request(key, prefix))


def txn(
    compare: Iterable[rpc_pb2.Compare] = (),
    success: Iterable[rpc_pb2.RequestOp] = (),
    failure: Iterable[rpc_pb2.RequestOp] = (),
) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_txn=txn_request(compare, success, failure))


def txn_request(
    compare: Iterable[object], success: Iterable[object], failure: Iterable[object]
) -> rpc_pb2.TxnRequest:
    """Validate and assemble a TxnRequest (TypeError naming the argument for a wrong item)."""
    compares = _typed(compare, rpc_pb2.Compare, "compare")
    return rpc_pb2.TxnRequest(
        compare=compares,
        success=_typed(success, rpc_pb2.RequestOp, "success"),
        failure=_typed(failure, rpc_pb2.RequestOp, "failure"),
    )


def _typed(items: Iterable[object], kind: type, name: str) -> list:  # type: ignore[type-arg]
    out = []
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(f"{name} items must be built with fixed_client.ops, got {type(item).__name__}")
        out.append(item)
    return out
