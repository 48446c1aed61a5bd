"""The lock recipe (etcd's concurrency.Mutex) against a real etcd, sync and asyncio (issue 3, item 5)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from etcd_harness import EtcdServer, run_async, wait_until
from fixed_client import Client, LockTimeout
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(90)


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def test_key_is_name_slash_lease_hex_and_revision_fences(client: Client, prefix: str) -> None:
    name = prefix + "lock"
    lock = client.lock(name, ttl=60)
    assert not lock.is_held()
    assert lock.acquire() is True
    assert lock.is_held()
    key = as_bytes(lock.key)
    [kv] = client.get(key)
    assert key == f"{name}/{kv.lease:x}".encode()
    assert lock.revision == kv.create_revision
    first_revision = lock.revision
    lock.release()
    assert not lock.is_held()
    assert client.get(key) == []
    assert lock.acquire(timeout=5) is True
    assert lock.revision > first_revision
    lock.release()


def test_misuse_raises_runtime_error(client: Client, prefix: str) -> None:
    lock = client.lock(prefix + "lock", ttl=60)
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.acquire(timeout=5)
    with pytest.raises(RuntimeError):
        lock.acquire(timeout=0)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_contended_acquire_times_out_cleanly(etcd: EtcdServer, client: Client, prefix: str) -> None:
    name = prefix + "lock"
    holder = client.lock(name, ttl=60)
    assert holder.acquire()
    baseline_leases = etcd.live_leases()
    baseline_watchers = etcd.settled("watchers")
    started = time.monotonic()
    assert client.lock(name, ttl=60).acquire(timeout=0) is False
    assert client.lock(name, ttl=60).acquire(timeout=0.5) is False
    assert time.monotonic() - started < 4
    with pytest.raises(LockTimeout) as raised:
        with client.lock(name, ttl=1, timeout=0.7):
            pytest.fail("entered a lock that is held")
    assert isinstance(raised.value, TimeoutError)
    # Each giving-up waiter removed its key, its watch and its lease.
    assert [kv.key for kv in client.get(name + "/", prefix=True)] == [as_bytes(holder.key)]
    assert etcd.live_leases() == baseline_leases
    assert client.watcher_count() == 0
    assert etcd.wait_for("watchers", baseline_watchers, timeout=3) == baseline_watchers
    holder.release()


def test_waiter_gets_the_lock_when_the_holder_releases(client: Client, prefix: str) -> None:
    name = prefix + "lock"
    holder = client.lock(name, ttl=60)
    assert holder.acquire()
    waiter = client.lock(name, ttl=60)
    acquired: list[float] = []
    thread = threading.Thread(target=lambda: acquired.append(time.monotonic()) if waiter.acquire(timeout=15) else None)
    thread.start()
    time.sleep(0.5)
    assert not waiter.is_held() and acquired == []
    released_at = time.monotonic()
    holder.release()
    thread.join(timeout=15)
    assert acquired and acquired[0] - released_at < 5
    assert waiter.is_held() and waiter.revision > holder.revision
    waiter.release()


def test_mutual_exclusion_across_eight_threads(etcd: EtcdServer, prefix: str) -> None:
    name = prefix + "lock"
    inside = 0
    overlaps = 0
    fences: list[int] = []
    guard = threading.Lock()
    errors: list[BaseException] = []
    baseline = etcd.live_leases()

    def worker(c: Client) -> None:
        nonlocal inside, overlaps
        try:
            for _ in range(4):
                with c.lock(name, ttl=10, timeout=30) as lock:
                    with guard:
                        inside += 1
                        overlaps += inside > 1
                        fences.append(lock.revision)
                    time.sleep(0.01)
                    with guard:
                        inside -= 1
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    with Client([etcd.endpoint]) as c1, Client([etcd.endpoint]) as c2:
        threads = [threading.Thread(target=worker, args=(c1 if i % 2 else c2,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert overlaps == 0 and len(fences) == 32
        assert fences == sorted(fences) and len(set(fences)) == 32  # fencing tokens only grow
        assert c1.watcher_count() == c2.watcher_count() == 0
    assert etcd.live_leases() == baseline


def test_mutual_exclusion_across_eight_tasks(etcd: EtcdServer, prefix: str) -> None:
    name = prefix + "lock"
    baseline = etcd.live_leases()

    async def body() -> None:
        inside = 0
        overlaps = 0
        fences: list[int] = []
        async with AsyncClient([etcd.endpoint]) as c:

            async def worker() -> None:
                nonlocal inside, overlaps
                for _ in range(4):
                    async with c.lock(name, ttl=10, timeout=30) as lock:
                        inside += 1
                        overlaps += inside > 1
                        fences.append(lock.revision)
                        await asyncio.sleep(0.01)
                        inside -= 1

            await asyncio.gather(*(worker() for _ in range(8)))
            assert overlaps == 0 and len(fences) == 32
            assert fences == sorted(fences) and len(set(fences)) == 32
            assert c.watcher_count() == 0 and c.watch_stream_count() == 0

            holder = c.lock(name, ttl=60)
            assert await holder.acquire(timeout=5) is True and holder.is_held()
            with pytest.raises(LockTimeout):
                async with c.lock(name, ttl=1, timeout=0.5):
                    pytest.fail("entered a lock that is held")
            assert await c.lock(name, ttl=60).acquire(timeout=0) is False
            with pytest.raises(RuntimeError):
                await holder.acquire(timeout=0)
            await holder.release()
            assert not holder.is_held()
            with pytest.raises(RuntimeError):
                await holder.release()

    run_async(body(), timeout=80)
    assert etcd.live_leases() == baseline


def test_no_lease_outlives_its_lock(etcd: EtcdServer, client: Client, prefix: str) -> None:
    """10 acquire/release with ttl=60 and 10 acquires that time out: live leases back to baseline
    right after, long before any TTL could have expired them."""
    name = prefix + "lock"
    baseline = etcd.live_leases()
    for i in range(10):
        lock = client.lock(f"{name}{i}", ttl=60)
        assert lock.acquire(timeout=5)
        lock.release()
    holder = client.lock(name, ttl=60)
    assert holder.acquire(timeout=5)
    for _ in range(10):
        assert client.lock(name, ttl=60).acquire(timeout=0.2) is False
    holder.release()
    assert wait_until(lambda: etcd.live_leases() == baseline, timeout=1.0), (etcd.live_leases(), baseline)
    assert client.get(name, prefix=True) == []


def test_async_lock_no_lease_outlives_its_lock(etcd: EtcdServer, prefix: str) -> None:
    name = prefix + "lock"
    baseline = etcd.live_leases()

    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            for i in range(5):
                async with c.lock(f"{name}{i}", ttl=60):
                    pass
            holder = c.lock(name, ttl=60)
            assert await holder.acquire(timeout=5)
            for _ in range(5):
                assert await c.lock(name, ttl=60).acquire(timeout=0.2) is False
            await holder.release()

    run_async(body())
    assert wait_until(lambda: etcd.live_leases() == baseline, timeout=1.0), (etcd.live_leases(), baseline)
