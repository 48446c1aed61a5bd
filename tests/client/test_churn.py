"""The leak scenario as a test (issue 3, item 6), against one real etcd.

For 30 s, every second, 20 workers take 10 lock names (two per name, so they contend) with ttl=1,
acquire(timeout=0.7), hold 1 s and release. fixed_client must keep at most one watch stream (the
calls carry no metadata) and leave nothing behind on either side. Under the same load, the leaky
watcher fixture (a port of etcd v3.1's watcher, keyed by the text of a deadline-bearing context)
is driven over the same generated gRPC stubs against the same server: its registry gains an entry
with every call and never loses one.
"""

from __future__ import annotations

import importlib.util
import queue
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from etcd_harness import EtcdServer, wait_until
from fixed_client import Client
from fixed_client.proto import rpc_pb2, rpc_pb2_grpc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "leaky_watcher.py"
SECONDS = 30
WORKERS = 20
NAMES = 10
ACQUIRE_TIMEOUT = 0.7
HOLD = 1.0


def load_leaky_fixture() -> ModuleType:
    """tests/fixtures is not a package: load the module from its file."""
    spec = importlib.util.spec_from_file_location("leaky_watcher_fixture", FIXTURE)
    assert spec is not None and spec.loader is not None, f"cannot load {FIXTURE}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing resolve names through sys.modules
    spec.loader.exec_module(module)
    return module


class GrpcStreamHandle:
    """The fixture's StreamHandle over a real bidirectional Watch call made with fixed_client's
    generated stubs. The call carries the context's deadline, as a Go stream inherits its
    context's, so the server ends it when the deadline passes; the registry entry stays."""

    def __init__(self, stub: rpc_pb2_grpc.WatchStub, deadline_s: float, opened: list[GrpcStreamHandle]) -> None:
        self._requests: queue.SimpleQueue[rpc_pb2.WatchRequest | None] = queue.SimpleQueue()
        self._ends_at = time.monotonic() + max(deadline_s, 0.05)
        self.call: Any = stub.Watch(self._outgoing(), timeout=max(deadline_s, 0.05))
        self.created = 0
        opened.append(self)

    def _outgoing(self) -> Iterator[rpc_pb2.WatchRequest]:
        # Ends by the deadline so grpc's request-consuming thread never outlives the call.
        while (left := self._ends_at - time.monotonic()) > 0:
            try:
                request = self._requests.get(timeout=left)
            except queue.Empty:
                return
            if request is None:
                return
            yield request

    def create(self, key: bytes) -> None:
        self._requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key)))
        self.created += 1

    def cancel(self) -> None:
        self._requests.put(None)
        self.call.cancel()


def remaining_seconds(ctx: Any) -> float:
    """Time left before the fixture context's deadline (Go's ctx.Deadline(), a monotonic time)."""
    deadline = ctx.deadline()
    return ACQUIRE_TIMEOUT if deadline is None else float(deadline) - time.monotonic()


class LeakyDriver(threading.Thread):
    """Each second, 20 watch calls on the lock names with a 0.7 s deadline; each subscription is
    cancelled after the hold time. Records the registry size after every call."""

    def __init__(self, endpoint: str, stop: threading.Event) -> None:
        super().__init__(name="leaky-driver", daemon=True)
        self.module = load_leaky_fixture()
        self.channel = grpc.insecure_channel(endpoint)
        self.stub = rpc_pb2_grpc.WatchStub(self.channel)
        self.opened: list[GrpcStreamHandle] = []
        self.watcher = self.module.Watcher(lambda ctx: GrpcStreamHandle(self.stub, remaining_seconds(ctx), self.opened))
        self.sizes: list[int] = []
        self.stop = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        pending: list[tuple[float, Any]] = []
        try:
            second = 0
            started = time.monotonic()
            while not self.stop.is_set() and second < SECONDS:
                for i in range(WORKERS):
                    ctx = self.module.with_timeout(self.module.background(), ACQUIRE_TIMEOUT)
                    sub = self.watcher.watch(ctx, f"/demo/lock/{i % NAMES}".encode())
                    self.sizes.append(len(self.watcher.streams))
                    pending.append((time.monotonic() + HOLD, sub))
                now = time.monotonic()
                for due, sub in [p for p in pending if p[0] <= now]:
                    sub.cancel()
                pending = [p for p in pending if p[0] > now]
                second += 1
                self.stop.wait(max(0.0, started + second - time.monotonic()))
            for _, sub in pending:
                sub.cancel()
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        for handle in self.opened:
            handle.cancel()
        self.channel.close()


@pytest.fixture
def leaky(etcd: EtcdServer) -> Iterator[LeakyDriver]:
    stop = threading.Event()
    driver = LeakyDriver(etcd.endpoint, stop)
    try:
        yield driver
    finally:
        stop.set()
        driver.join(timeout=10)
        driver.close()


@pytest.mark.timeout(150)
def test_lock_churn_keeps_one_stream_while_the_leaky_watcher_grows(etcd: EtcdServer, leaky: LeakyDriver) -> None:
    start_watchers = etcd.settled("watchers")
    start_streams = etcd.settled("watch_streams")
    start_leases = etcd.live_leases()
    outcomes: list[bool] = []
    samples: list[tuple[int, int]] = []

    with Client([etcd.endpoint], timeout=5.0) as client:

        def worker(i: int) -> None:
            lock = client.lock(f"/demo/lock/{i % NAMES}", ttl=1)
            acquired = lock.acquire(timeout=ACQUIRE_TIMEOUT)
            outcomes.append(acquired)
            if acquired:
                time.sleep(HOLD)
                lock.release()

        futures: list[Future[None]] = []
        leaky.start()
        with ThreadPoolExecutor(max_workers=3 * WORKERS) as pool:
            began = time.monotonic()
            for second in range(SECONDS):
                futures += [pool.submit(worker, i) for i in range(WORKERS)]
                time.sleep(max(0.0, began + second + 0.5 - time.monotonic()))
                samples.append((client.watch_stream_count(), client.watcher_count()))
                time.sleep(max(0.0, began + second + 1 - time.monotonic()))
            errors = [f.exception(timeout=30) for f in futures]
        leaky.join(timeout=30)

        assert [e for e in errors if e is not None] == []
        assert max(streams for streams, _ in samples) <= 1, samples
        assert any(streams >= 1 for streams, _ in samples), samples
        assert True in outcomes and False in outcomes, f"{outcomes.count(True)} acquired, {outcomes.count(False)} timed out"
        assert len(outcomes) == SECONDS * WORKERS
        assert client.watch_stream_count() == 0 and client.watcher_count() == 0

    print(f"churn: {outcomes.count(True)} acquired, {outcomes.count(False)} timed out; "
          f"client (streams, watchers) per second: {samples}; leaky registry: {leaky.sizes[0]} -> {leaky.sizes[-1]}")
    # The leaky registry: one more entry with every call, never one fewer.
    assert leaky.error is None, leaky.error
    sizes = leaky.sizes
    assert len(sizes) == SECONDS * WORKERS
    assert all(b == a + 1 for a, b in zip(sizes, sizes[1:])), sizes[:40]
    assert sizes[-1] - sizes[0] == len(sizes) - 1
    assert len(leaky.watcher.streams) >= sizes[-1]

    # Nothing left on the server either (the leaky calls end at their deadline or are cancelled here).
    leaky.close()
    assert etcd.wait_for("watchers", start_watchers, timeout=5) == start_watchers
    assert etcd.wait_for("watch_streams", start_streams, timeout=5) == start_streams
    assert wait_until(lambda: etcd.live_leases() == start_leases, 3), (etcd.live_leases(), start_leases)
