"""fixed_client under faults against real etcd servers (issue 3 item 4, issue 7 fault bullet).

Each test writes numbered puts under its own prefix from a writer that retries through outages,
while a separate watching client consumes them; the watcher must see every revision of the prefix
exactly once and in order. Sizes are bounded for a 2-core CI machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

import pytest

from etcd_harness import EtcdCluster, EtcdServer, TcpProxy, run_async, wait_until
from fixed_client import Client, CompactedError, Event
from fixed_client.aio import AsyncClient

DONE = "done"


class Writer(threading.Thread):
    """Writes values 0..count-1 to prefix+str(i % 100), one put each, retrying any failure
    (a retried put may land twice; the watcher check accounts for that); then writes DONE.
    With `pause_at`, it stops after that many values until `resume` is set: a fault scenario can
    look at the watch while it still waits for events (on a fast machine the whole run could
    otherwise end, and the watch close, before the test looks)."""

    def __init__(self, endpoints: list[str], prefix: str, count: int, pause_at: int | None = None) -> None:
        super().__init__(name="writer", daemon=True)
        self.endpoints, self.prefix, self.count = endpoints, prefix, count
        self.pause_at = pause_at
        self.resume = threading.Event()
        self.written = 0
        self.failures = 0
        self.slowest = 0.0  # the longest put, retries included (the client retries within its timeout)
        self.error: BaseException | None = None
        self.stop_at = time.monotonic() + 200

    def put(self, c: Client, key: str, value: str) -> None:
        while time.monotonic() < self.stop_at:
            began = time.monotonic()
            try:
                c.put(key, value)
                self.slowest = max(self.slowest, time.monotonic() - began)
                return
            except Exception:
                self.failures += 1
                time.sleep(0.05)
        raise TimeoutError("writer gave up")

    def run(self) -> None:
        try:
            with Client(self.endpoints, timeout=2.0) as c:
                for i in range(self.count):
                    if i == self.pause_at:
                        self.resume.wait(120)
                    self.put(c, f"{self.prefix}{i % 100}", str(i))
                    self.written = i + 1
                self.put(c, self.prefix + DONE, DONE)
        except BaseException as exc:
            self.error = exc


def watch_until_done(
    c: Client, prefix: str, start_revision: int, sink: list[Event], timeout: float | None
) -> None:
    """Without a timeout the iterating thread reads the stream itself (sync/turn.py); with one, the
    stream's owner thread reads and hands events over: the scenarios below cover both paths."""
    with c.watch(prefix, prefix=True, start_revision=start_revision, timeout=timeout) as w:
        for event in w:
            sink.append(event)
            if event.key == (prefix + DONE).encode():
                return


def check_exactly_once(events: list[Event], start_revision: int, count: int) -> None:
    """Only this test writes under its prefix on its own server, so the revisions from the start
    are contiguous: every one must appear once, in order, and every value 0..count-1 must appear."""
    revisions = [e.mod_revision for e in events]
    assert revisions[0] == start_revision
    repeated = len(revisions) - len(set(revisions))
    assert repeated == 0, f"{repeated} events repeated"
    missing = sorted(set(range(start_revision, revisions[-1] + 1)) - set(revisions))
    assert missing == [], f"{len(missing)} revisions missing, first {missing[:5]}"
    assert revisions == sorted(revisions)
    values = {e.value for e in events}
    assert {str(i).encode() for i in range(count)} <= values


def run_fault_scenario(
    watch_endpoints: list[str],
    write_endpoints: list[str],
    marker_endpoint: str,
    prefix: str,
    count: int,
    faults: list[tuple[int, Callable[[], None]]],
    watch_timeout: float | None = 200,
) -> tuple[list[Event], int, Writer]:
    """Watch from a fresh revision, write `count` puts, and run each fault once the writer has
    written its threshold. Returns the events, the start revision and the writer."""
    with Client([marker_endpoint]) as setup:
        start = setup.put(prefix + "start", "") + 1
    events: list[Event] = []
    with Client(watch_endpoints, timeout=2.0) as watcher_client:
        watcher = threading.Thread(
            target=watch_until_done, args=(watcher_client, prefix, start, events, watch_timeout), daemon=True
        )
        watcher.start()
        writer = Writer(write_endpoints, prefix, count)
        writer.start()
        try:
            for threshold, fault in faults:
                assert wait_until(lambda: writer.written >= threshold or not writer.is_alive(), 120)
                fault()
            writer.join(timeout=150)
            watcher.join(timeout=60)
        finally:
            writer.stop_at = 0.0  # a failed test must not leave the writer retrying in the background
        assert writer.error is None, writer.error
        assert not watcher.is_alive(), f"watch stalled after {len(events)} events"
        assert watcher_client.watcher_count() == 0
    return events, start, writer


@pytest.mark.timeout(300)
def test_etcd_killed_and_restarted_five_times_mid_watch(fresh_etcd: EtcdServer, prefix: str) -> None:
    count = 10_000

    def crash() -> None:
        fresh_etcd.kill()
        time.sleep(0.3)
        fresh_etcd.start()

    events, start, writer = run_fault_scenario(
        [fresh_etcd.endpoint], [fresh_etcd.endpoint], fresh_etcd.endpoint, prefix, count,
        [(k * count // 6, crash) for k in range(1, 6)],
        watch_timeout=None,  # a stall is caught by the join below; close() ends the read
    )
    # The outages really hit the writer: a put failed, or waited out a 0.3 s outage inside the
    # client's own retries (a quick restart is absorbed by them, so failures alone can stay 0).
    assert fresh_etcd.starts == 6 and (writer.failures > 0 or writer.slowest >= 0.25), (writer.failures, writer.slowest)
    check_exactly_once(events, start, count)


@pytest.mark.timeout(200)
def test_connected_cluster_member_stopped_and_restarted(etcd_cluster: EtcdCluster, prefix: str) -> None:
    count = 1500
    stopped: list[EtcdServer] = []

    def stop_connected() -> None:
        connected = [m for m in etcd_cluster.members if m.watch_streams() > 0]
        assert len(connected) == 1, "the watch stream should live on exactly one member"
        connected[0].stop()
        stopped.append(connected[0])
        time.sleep(1.0)  # down for a while: a leader may need electing, the client must move

    def restart_it() -> None:
        others = [m for m in etcd_cluster.members if m is not stopped[0]]
        assert wait_until(lambda: any(m.watch_streams() > 0 for m in others), 20), "watch did not move"
        stopped[0].start()

    # The writer talks to the two members that stay up (found once the watch is connected).
    def scenario() -> tuple[list[Event], int]:
        first = etcd_cluster.members[0].endpoint
        with Client([first]) as setup:
            start = setup.put(prefix + "start", "") + 1
        events: list[Event] = []
        with Client(etcd_cluster.endpoints, timeout=2.0) as wc:
            watcher = threading.Thread(target=watch_until_done, args=(wc, prefix, start, events, 150), daemon=True)
            watcher.start()
            assert wait_until(lambda: any(m.watch_streams() > 0 for m in etcd_cluster.members), 10)
            connected = next(m for m in etcd_cluster.members if m.watch_streams() > 0)
            writer = Writer([m.endpoint for m in etcd_cluster.members if m is not connected], prefix, count,
                            pause_at=3 * count // 5)
            writer.start()
            try:
                assert wait_until(lambda: writer.written >= count // 5, 60)
                stop_connected()
                assert wait_until(lambda: writer.written >= 3 * count // 5, 60)
                restart_it()  # the writer waits there: the watch is still open, on another member
                writer.resume.set()
                writer.join(timeout=120)
                watcher.join(timeout=60)
            finally:
                writer.stop_at = 0.0
                writer.resume.set()
            assert writer.error is None, writer.error
            assert not watcher.is_alive(), f"watch stalled after {len(events)} events"
        return events, start

    events, start = scenario()
    check_exactly_once(events, start, count)


@pytest.mark.timeout(120)
def test_network_cut_by_proxy_resumes_without_loss(fresh_etcd: EtcdServer, prefix: str) -> None:
    count = 1500
    with TcpProxy(fresh_etcd.endpoint) as proxy:

        def cut() -> None:
            proxy.close()
            time.sleep(1.0)  # long enough for the client to notice and start backing off

        def heal() -> None:
            proxy.reopen()

        events, start, _ = run_fault_scenario(
            [proxy.endpoint], [fresh_etcd.endpoint], fresh_etcd.endpoint, prefix, count,
            [(count // 4, cut), (count // 2, heal)],
            watch_timeout=None,
        )
        assert proxy.accepted >= 2  # it really reconnected through the proxy
    check_exactly_once(events, start, count)


@pytest.mark.timeout(60)
def test_missed_keepalives_tell_the_lock_holder(fresh_etcd: EtcdServer, prefix: str) -> None:
    lost: list[object] = []
    baseline = fresh_etcd.live_leases()
    with TcpProxy(fresh_etcd.endpoint) as proxy, Client([proxy.endpoint], timeout=2.0) as c:
        lock = c.lock(prefix + "lock", ttl=2, on_lost=lambda *args: lost.append(args))
        assert lock.acquire(timeout=5) and lock.is_held()
        time.sleep(3)  # keep-alives work while connected
        assert lock.is_held() and lost == []
        proxy.close()
        cut_at = time.monotonic()
        # The server expires the lease once its TTL passes without a keep-alive ...
        assert wait_until(lambda: fresh_etcd.live_leases() == baseline, 10)
        # ... and the holder is told, without waiting for the network to come back.
        assert wait_until(lambda: not lock.is_held(), 10), "lock still claims to be held"
        assert time.monotonic() - cut_at < 12
        assert wait_until(lambda: len(lost) == 1, 2), "the lost-lease callback did not fire once"
        proxy.reopen()
        with Client([fresh_etcd.endpoint]) as other:
            other_lock = other.lock(prefix + "lock", ttl=60)
            assert other_lock.acquire(timeout=5)  # the dead holder's key is gone
            other_lock.release()
        assert not lock.is_held()


@pytest.mark.timeout(90)
def test_compaction_during_an_outage_raises_compacted(fresh_etcd: EtcdServer, prefix: str) -> None:
    with TcpProxy(fresh_etcd.endpoint) as proxy, Client([fresh_etcd.endpoint]) as direct:
        with Client([proxy.endpoint], timeout=2.0) as c:
            start = direct.put(prefix + "start", "") + 1
            got: list[Event] = []
            with pytest.raises(CompactedError) as raised:
                with c.watch(prefix, prefix=True, start_revision=start, timeout=60) as w:
                    for i in range(10):
                        direct.put(f"{prefix}{i}", str(i))
                    for event in w:
                        got.append(event)
                        if len(got) == 10:
                            proxy.close()
                            for i in range(10, 60):
                                direct.put(f"{prefix}{i % 10}", str(i))
                            latest = direct.put(prefix + "last", "x")
                            direct.compact(latest)
                            proxy.reopen()
            assert raised.value.compact_revision == latest
            assert [e.value for e in got] == [str(i).encode() for i in range(10)]  # nothing lost before
            assert c.watcher_count() == 0


@pytest.mark.timeout(150)
def test_async_watch_survives_restarts_and_a_cut(fresh_etcd: EtcdServer, prefix: str) -> None:
    count = 3000

    async def body() -> tuple[list[Event], int, TcpProxy]:
        proxy = TcpProxy(fresh_etcd.endpoint)
        with contextlib.ExitStack() as stack:
            stack.callback(proxy.close)
            async with AsyncClient([proxy.endpoint], timeout=2.0) as c:
                start = await c.put(prefix + "start", "") + 1
                events: list[Event] = []

                async def watch() -> None:
                    async with c.watch(prefix, prefix=True, start_revision=start, timeout=120) as w:
                        async for event in w:
                            events.append(event)
                            if event.key == (prefix + DONE).encode():
                                return

                task = asyncio.create_task(watch())
                writer = Writer([fresh_etcd.endpoint], prefix, count)
                writer.start()
                stack.callback(setattr, writer, "stop_at", 0.0)
                for threshold, fault in [
                    (count // 4, lambda: (fresh_etcd.kill(), fresh_etcd.start())),
                    (count // 2, proxy.close),
                    (2 * count // 3, proxy.reopen),
                    (3 * count // 4, fresh_etcd.restart),
                ]:
                    while writer.written < threshold and writer.is_alive():
                        await asyncio.sleep(0.02)
                    await asyncio.to_thread(fault)
                await asyncio.wait_for(task, 120)
                await asyncio.to_thread(writer.join, 30)
                assert writer.error is None
                assert c.watcher_count() == 0
                return events, start, proxy

    events, start, proxy = run_async(body(), timeout=140)
    check_exactly_once(events, start, count)


@pytest.mark.timeout(60)
def test_async_missed_keepalives_tell_the_lock_holder(fresh_etcd: EtcdServer, prefix: str) -> None:
    baseline = fresh_etcd.live_leases()

    async def body() -> None:
        lost: list[object] = []
        with TcpProxy(fresh_etcd.endpoint) as proxy:
            async with AsyncClient([proxy.endpoint], timeout=2.0) as c:
                lock = c.lock(prefix + "lock", ttl=2, on_lost=lambda *args: lost.append(args))
                assert await lock.acquire(timeout=5) and lock.is_held()
                await asyncio.sleep(3)
                assert lock.is_held() and lost == []
                await asyncio.to_thread(proxy.close)
                deadline = time.monotonic() + 12
                while lock.is_held() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert not lock.is_held(), "lock still claims to be held"
                await asyncio.sleep(0.2)
                assert len(lost) == 1
                assert await asyncio.to_thread(wait_until, lambda: fresh_etcd.live_leases() == baseline, 10)

    run_async(body())


@pytest.mark.timeout(200)
def test_async_connected_cluster_member_stopped_and_restarted(etcd_cluster: EtcdCluster, prefix: str) -> None:
    count = 1500

    async def body() -> tuple[list[Event], int]:
        members = etcd_cluster.members
        events: list[Event] = []
        async with AsyncClient(etcd_cluster.endpoints, timeout=2.0) as c:
            start = await c.put(prefix + "start", "") + 1

            async def watch() -> None:
                async with c.watch(prefix, prefix=True, start_revision=start, timeout=150) as w:
                    async for event in w:
                        events.append(event)
                        if event.key == (prefix + DONE).encode():
                            return

            task = asyncio.create_task(watch())

            def streams_on(servers: list[EtcdServer]) -> list[EtcdServer]:
                return [m for m in servers if m.watch_streams() > 0]

            async def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
                assert await asyncio.to_thread(wait_until, predicate, timeout)

            await wait_for(lambda: len(streams_on(members)) == 1, 10)
            [connected] = await asyncio.to_thread(streams_on, members)
            others = [m for m in members if m is not connected]
            writer = Writer([m.endpoint for m in others], prefix, count, pause_at=3 * count // 5)
            writer.start()
            try:
                await wait_for(lambda: writer.written >= count // 5, 60)
                await asyncio.to_thread(connected.stop)
                await asyncio.sleep(1.0)  # down for a while: the client must move to another member
                await wait_for(lambda: writer.written >= 3 * count // 5, 60)
                # the writer waits there: the watch is still open, so it must be on another member
                await wait_for(lambda: len(streams_on(others)) == 1, 20)
                await asyncio.to_thread(connected.start)
                writer.resume.set()
                await asyncio.wait_for(task, 120)
                await asyncio.to_thread(writer.join, 60)
            finally:
                writer.stop_at = 0.0
                writer.resume.set()
            assert writer.error is None, writer.error
            assert c.watcher_count() == 0
        return events, start

    events, start = run_async(body(), timeout=190)
    check_exactly_once(events, start, count)


@pytest.mark.timeout(90)
def test_async_compaction_during_an_outage_raises_compacted(fresh_etcd: EtcdServer, prefix: str) -> None:
    async def body() -> None:
        with TcpProxy(fresh_etcd.endpoint) as proxy, Client([fresh_etcd.endpoint]) as direct:
            async with AsyncClient([proxy.endpoint], timeout=2.0) as c:
                start = direct.put(prefix + "start", "") + 1
                got: list[Event] = []
                latest = 0
                with pytest.raises(CompactedError) as raised:
                    async with c.watch(prefix, prefix=True, start_revision=start, timeout=60) as w:
                        for i in range(10):
                            direct.put(f"{prefix}{i}", str(i))
                        async for event in w:
                            got.append(event)
                            if len(got) == 10:
                                await asyncio.to_thread(proxy.close)
                                for i in range(10, 60):
                                    direct.put(f"{prefix}{i % 10}", str(i))
                                latest = direct.put(prefix + "last", "x")
                                direct.compact(latest)
                                await asyncio.to_thread(proxy.reopen)
                assert raised.value.compact_revision == latest
                assert [e.value for e in got] == [str(i).encode() for i in range(10)]  # nothing lost before
                assert c.watcher_count() == 0

    run_async(body(), timeout=80)
