"""Txn with the documented builders in fixed_client.ops, against a real etcd, sync and asyncio."""

from __future__ import annotations

import threading

import pytest

from etcd_harness import EtcdServer, run_async
from fixed_client import Client, ops
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(60)


def test_compare_and_swap_on_value(client: Client, prefix: str) -> None:
    key = prefix + "cfg"
    client.put(key, "old")
    swapped = client.txn(compare=[ops.value(key) == "old"], success=[ops.put(key, "new"), ops.get(key)],
                         failure=[ops.get(key)])
    assert swapped.succeeded
    put_rev, got = swapped.responses
    assert put_rev == swapped.revision
    assert [kv.value for kv in got] == [b"new"]
    again = client.txn(compare=[ops.value(key) == "old"], success=[ops.put(key, "newer")], failure=[ops.get(key)])
    assert not again.succeeded
    assert [kv.value for kv in again.responses[0]] == [b"new"]
    assert client.get(key)[0].value == b"new"


def test_every_compare_target_and_operator(client: Client, prefix: str) -> None:
    key = prefix + "k"
    first = client.put(key, "b")
    second = client.put(key, "c")
    lease = client.grant(60)
    try:
        leased = prefix + "leased"
        client.put(leased, "x", lease=lease)
        cases = [
            (ops.version(key) == 2, True), (ops.version(key) > 2, False), (ops.version(key) < 3, True),
            (ops.version(key) != 2, False), (ops.create_revision(key) == first, True),
            (ops.mod_revision(key) == second, True), (ops.mod_revision(key) < second, False),
            (ops.value(key) > "b", True), (ops.value(key) < "b", False),
            (ops.lease(leased) == lease, True), (ops.lease(key) == 0, True),
            (ops.version(prefix + "absent") == 0, True),
        ]
        for compare, expected in cases:
            assert client.txn(compare=[compare]).succeeded is expected, compare
        assert client.txn(compare=[c for c, e in cases if e]).succeeded  # all must hold
        assert not client.txn(compare=[c for c, _ in cases]).succeeded
    finally:
        lease.revoke()


def test_put_if_absent_has_exactly_one_winner(etcd: EtcdServer, prefix: str) -> None:
    key = prefix + "once"
    wins: list[str] = []

    def attempt(who: str) -> None:
        with Client([etcd.endpoint]) as c:
            if c.txn(compare=[ops.create_revision(key) == 0], success=[ops.put(key, who)]).succeeded:
                wins.append(who)

    threads = [threading.Thread(target=attempt, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(wins) == 1
    with Client([etcd.endpoint]) as c:
        assert c.get(key)[0].value == wins[0].encode()


def test_delete_and_nested_txn_responses(client: Client, prefix: str) -> None:
    for i in range(3):
        client.put(f"{prefix}d/{i}", "v")
    result = client.txn(
        success=[ops.delete(prefix + "d/", prefix=True), ops.txn(compare=[ops.version(prefix + "n") == 0],
                                                               success=[ops.put(prefix + "n", "nested")])],
    )
    deleted, nested = result.responses
    assert deleted == 3
    assert nested.succeeded and nested.responses[0] == result.revision
    assert [kv.key for kv in client.get(prefix, prefix=True)] == [(prefix + "n").encode()]


def test_txn_rejects_items_not_built_with_ops(client: Client) -> None:
    with pytest.raises(TypeError, match="success"):
        client.txn(success=["put k v"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="key"):
        ops.put(5, "v")


def test_async_txn(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            key = prefix + "k"
            assert (await c.txn(compare=[ops.version(key) == 0], success=[ops.put(key, "1")])).succeeded
            result = await c.txn(compare=[ops.version(key) == 0], success=[ops.put(key, "2")], failure=[ops.get(key)])
            assert not result.succeeded and [kv.value for kv in result.responses[0]] == [b"1"]

    run_async(body())
