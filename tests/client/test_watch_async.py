"""The same watch semantics through fixed_client.aio.AsyncClient (coroutines, async iterators)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from etcd_harness import EtcdServer, run_async
from fixed_client import CompactedError, Event, WatchTimeout
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(60)


async def collect(w: Any, count: int) -> list[Event]:
    events: list[Event] = []
    async for event in w:
        events.append(event)
        if len(events) == count:
            break
    return events


async def wait_until_async(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        await asyncio.sleep(0.05)
    return True


def test_prefix_prev_kv_and_order(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint], timeout=5.0) as c:
            await c.put(prefix + "a", "0")
            async with c.watch(prefix, prefix=True, prev_kv=True, timeout=20) as w:
                r1 = await c.put(prefix + "a", "1")
                await c.put(prefix.rstrip("/") + "-outside", "x")
                r2 = await c.delete(prefix + "a")
                events = await collect(w, 2)
            assert [(e.type, e.key) for e in events] == [("PUT", (prefix + "a").encode())] + [
                ("DELETE", (prefix + "a").encode())
            ]
            assert events[0].mod_revision == r1 and events[0].prev_kv is not None
            assert events[0].prev_kv.value == b"0" and events[1].prev_kv is not None
            assert events[1].prev_kv.value == b"1" and r2 == 1
            assert w.revision == events[1].mod_revision

    run_async(body())


@pytest.mark.parametrize(("filters", "expected"), [(("NOPUT",), "DELETE"), (("NODELETE",), "PUT")])
def test_filters(etcd: EtcdServer, prefix: str, filters: tuple[str, ...], expected: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            async with c.watch(prefix, prefix=True, filters=filters, timeout=20) as w:
                for i in range(3):
                    await c.put(f"{prefix}{i}", "v")
                    await c.delete(f"{prefix}{i}")
                events = await collect(w, 3)
            assert {e.type for e in events} == {expected}

    run_async(body())


def test_history_from_start_revision(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            revs = [await c.put(f"{prefix}{i}", str(i)) for i in range(6)]
            async with c.watch(prefix, prefix=True, start_revision=revs[2], timeout=20) as w:
                events = await collect(w, 4)
            assert [e.mod_revision for e in events] == revs[2:]

    run_async(body())


def test_progress_notify_moves_revision(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            async with c.watch(prefix + "quiet", progress_notify=True, timeout=20) as w:
                rev = await c.put(prefix + "elsewhere", "x")
                assert await wait_until_async(lambda: w.revision >= rev, 8), (w.revision, rev)
                await c.request_progress()

    run_async(body())


def test_cancel_returns_server_watchers_to_baseline(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        baseline = etcd.settled("watchers")
        async with AsyncClient([etcd.endpoint]) as c:
            async with c.watch(prefix + "a"), c.watch(prefix + "b"):
                assert c.watcher_count() == 2 and c.watch_stream_count() == 1
            assert c.watcher_count() == 0 and c.watch_stream_count() == 0
            await asyncio.sleep(0)
        assert await asyncio.to_thread(etcd.wait_for, "watchers", baseline, 3) == baseline

    run_async(body())


def test_timeout_delivers_then_raises(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        baseline = etcd.settled("watchers")
        async with AsyncClient([etcd.endpoint]) as c:
            got: list[Event] = []
            with pytest.raises(WatchTimeout) as raised:
                async with c.watch(prefix, prefix=True, timeout=1.5) as w:
                    for i in range(3):
                        await c.put(f"{prefix}{i}", "v")
                    await asyncio.sleep(2.0)
                    async for event in w:
                        got.append(event)
            assert isinstance(raised.value, TimeoutError)
            assert len(got) == 3
            assert c.watcher_count() == 0
            assert await asyncio.to_thread(etcd.wait_for, "watchers", baseline, 2) == baseline

    run_async(body())


def test_compacted_start_revision(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            old = await c.put(prefix + "k", "1")
            latest = await c.put(prefix + "k", "2")
            await c.compact(latest)
            with pytest.raises(CompactedError) as raised:
                async with c.watch(prefix + "k", start_revision=old, timeout=10) as w:
                    async for _ in w:
                        pass
            assert raised.value.compact_revision == latest

    run_async(body())


def test_concurrent_tasks_share_one_stream(etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            started = asyncio.Event()
            ready = 0

            async def one(i: int) -> int:
                nonlocal ready
                async with c.watch(f"{prefix}{i}", timeout=20) as w:
                    ready += 1
                    if ready == 50:
                        started.set()
                    return (await collect(w, 1))[0].mod_revision

            tasks = [asyncio.create_task(one(i)) for i in range(50)]
            await asyncio.wait_for(started.wait(), 15)
            assert c.watch_stream_count() == 1 and c.watcher_count() == 50
            revs = [await c.put(f"{prefix}{i}", "v") for i in range(50)]
            assert await asyncio.gather(*tasks) == revs
            assert c.watcher_count() == 0 and c.watch_stream_count() == 0

    run_async(body())
