"""KV verbs and leases against a real etcd, sync and asyncio (issue 3, items 3 and 7)."""

from __future__ import annotations

import asyncio
import time

import pytest

from etcd_harness import EtcdServer, run_async, wait_until
from fixed_client import Client, KeyValue
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(60)


def test_put_get_roundtrip_with_str_and_bytes(client: Client, prefix: str) -> None:
    rev = client.put(prefix + "k", "välue")
    rev2 = client.put((prefix + "raw").encode(), b"\x00\xff")
    assert rev2 == rev + 1
    [kv] = client.get(prefix + "k")
    assert isinstance(kv, KeyValue)
    assert (kv.key, kv.value) == ((prefix + "k").encode(), "välue".encode())
    assert kv.create_revision == kv.mod_revision == rev and kv.version == 1 and kv.lease == 0
    assert client.get((prefix + "raw").encode())[0].value == b"\x00\xff"
    assert client.get(prefix + "missing") == []


def test_get_reports_the_store_revision(client: Client, prefix: str) -> None:
    client.put(prefix + "k", "1")
    latest = client.put(prefix + "other", "2")
    kvs = client.get(prefix + "k")
    assert kvs.revision >= latest
    assert client.get(prefix + "missing").revision >= latest


def test_version_and_revision_history(client: Client, prefix: str) -> None:
    first = client.put(prefix + "k", "1")
    second = client.put(prefix + "k", "2")
    [now] = client.get(prefix + "k")
    assert (now.value, now.version, now.create_revision, now.mod_revision) == (b"2", 2, first, second)
    [then] = client.get(prefix + "k", revision=first)
    assert then.value == b"1" and then.version == 1


def test_prefix_limit_and_keys_only(client: Client, prefix: str) -> None:
    for i in range(5):
        client.put(f"{prefix}{i}", f"v{i}")
    client.put(prefix.rstrip("/") + "-outside", "x")
    kvs = client.get(prefix, prefix=True)
    assert [kv.key for kv in kvs] == [f"{prefix}{i}".encode() for i in range(5)]
    assert [kv.key for kv in client.get(prefix, prefix=True, limit=2)] == [f"{prefix}{i}".encode() for i in range(2)]
    keys_only = client.get(prefix, prefix=True, keys_only=True)
    assert len(keys_only) == 5 and all(kv.value == b"" for kv in keys_only)


def test_delete_single_and_prefix(client: Client, prefix: str) -> None:
    for i in range(4):
        client.put(f"{prefix}{i}", "v")
    assert client.delete(prefix + "0") == 1
    assert client.delete(prefix + "0") == 0
    assert client.delete(prefix, prefix=True) == 3
    assert client.get(prefix, prefix=True) == []


def test_compact_makes_old_revisions_unreadable(client: Client, prefix: str) -> None:
    old = client.put(prefix + "k", "1")
    latest = client.put(prefix + "k", "2")
    client.compact(latest)
    with pytest.raises(Exception, match="compact"):
        client.get(prefix + "k", revision=old)
    assert client.get(prefix + "k", revision=latest)[0].value == b"2"


def test_lease_keeps_key_alive_with_keepalive(etcd: EtcdServer, client: Client, prefix: str) -> None:
    lease = client.grant(2)  # keep-alive on by default
    client.put(prefix + "k", "v", lease=lease)
    [kv] = client.get(prefix + "k")
    assert kv.lease == lease.id
    time.sleep(4.5)  # well past the TTL: only keep-alives keep it
    assert client.get(prefix + "k") != []
    lease.revoke()
    assert client.get(prefix + "k") == []


def test_lease_without_keepalive_expires(client: Client, prefix: str) -> None:
    lease = client.grant(2, keepalive=False)
    client.put(prefix + "k", "v", lease=lease.id)  # an id works as well as a Lease
    assert client.get(prefix + "k") != []
    assert wait_until(lambda: client.get(prefix + "k") == [], timeout=8)


def test_revoke_frees_the_server_lease(etcd: EtcdServer, client: Client) -> None:
    baseline = etcd.live_leases()
    leases = [client.grant(60) for _ in range(5)]
    assert etcd.live_leases() == baseline + 5
    for lease in leases:
        lease.revoke()
    assert etcd.live_leases() == baseline


def test_async_kv_and_lease(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint], timeout=5.0) as c:
            rev = await c.put(prefix + "a", "1")
            await c.put(prefix + "b", b"2")
            kvs = await c.get(prefix, prefix=True)
            assert [(kv.key, kv.value) for kv in kvs] == [((prefix + "a").encode(), b"1"), ((prefix + "b").encode(), b"2")]
            assert kvs.revision >= rev + 1
            assert (await c.get(prefix + "a", revision=rev))[0].mod_revision == rev
            assert len(await c.get(prefix, prefix=True, limit=1, keys_only=True)) == 1
            assert await c.delete(prefix, prefix=True) == 2

            baseline = etcd.live_leases()
            lease = await c.grant(2)
            await c.put(prefix + "leased", "v", lease=lease)
            await asyncio.sleep(4.5)
            assert await c.get(prefix + "leased") != []
            await lease.revoke()
            assert await c.get(prefix + "leased") == []
            assert etcd.live_leases() == baseline

            short = await c.grant(2, keepalive=False)
            await c.put(prefix + "short", "v", lease=short)
            deadline = time.monotonic() + 8
            while await c.get(prefix + "short") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert await c.get(prefix + "short") == []

    run_async(body())
