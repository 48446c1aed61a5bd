"""Leases and their keep-alive (sync): one LeaseKeepAlive stream per client, owned by one thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

import grpc

from fixed_client.core.backoff import Backoff
from fixed_client.core.lease import LeaseSchedule
from fixed_client.errors import EtcdError
from fixed_client.proto import rpc_pb2

if TYPE_CHECKING:
    from fixed_client.sync.connection import Connection

LostCallback = Callable[[], None]


class KeepAlive:
    """Re-sends each lease every TTL/3 and reports a lease lost when the server says TTL <= 0 or its
    TTL runs out without an answer (also while disconnected). Survives reconnects."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cond = threading.Condition()
        self._schedule = LeaseSchedule()
        self._on_lost: dict[int, LostCallback] = {}
        self._generation = 0  # bumped when a stream ends, so its request iterator stops
        self._call: grpc.Call | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, lease_id: int, ttl: int, on_lost: LostCallback) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("client is closed")
            self._schedule.add(lease_id, ttl, time.monotonic())
            self._on_lost[lease_id] = on_lost
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fixed_client-keepalive", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def discard(self, lease_id: int) -> None:
        with self._cond:
            self._schedule.discard(lease_id)
            self._on_lost.pop(lease_id, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1
            call, self._call = self._call, None
            self._cond.notify_all()
        if call is not None:
            call.cancel()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        backoff = Backoff(initial=0.05, cap=0.5)
        while True:
            with self._cond:
                while not self._closed and not len(self._schedule):
                    self._cond.wait()
                if self._closed:
                    return
                generation = self._generation
                self._schedule.reschedule_all(time.monotonic())
            stubs = None
            try:
                stubs = self._connection.current()
                call = stubs.lease.LeaseKeepAlive(
                    self._requests(generation), metadata=self._connection.metadata() or None
                )
                with self._cond:
                    self._call = call  # type: ignore[assignment]
                for resp in call:
                    backoff.reset()
                    with self._cond:
                        alive = self._schedule.answered(resp.ID, resp.TTL, time.monotonic())
                        callback = None if alive else self._on_lost.pop(resp.ID, None)
                    if callback is not None:
                        callback()
            except grpc.RpcError:
                pass
            except (EtcdError, RuntimeError):  # authentication failed or client closed
                pass
            with self._cond:
                self._generation += 1
                self._call = None
                self._cond.notify_all()
                if self._closed:
                    return
            if stubs is not None:
                self._connection.failover(stubs)
            self._fire_expired()
            with self._cond:
                self._cond.wait(backoff.next_delay())
            self._fire_expired()

    def _requests(self, generation: int) -> Iterator[rpc_pb2.LeaseKeepAliveRequest]:
        """Runs in gRPC's request thread: yields due keep-alives, sleeps until the next one."""
        while True:
            with self._cond:
                if self._closed or generation != self._generation:
                    return
                now = time.monotonic()
                due = self._schedule.due(now)
                if not due:
                    wake = self._schedule.next_wakeup()
                    self._cond.wait(None if wake is None else max(0.0, wake - now) + 0.001)
            self._fire_expired()
            for lease_id in due:
                yield rpc_pb2.LeaseKeepAliveRequest(ID=lease_id)

    def _fire_expired(self) -> None:
        with self._cond:
            gone = self._schedule.expired(time.monotonic())
            callbacks = [cb for cb in (self._on_lost.pop(i, None) for i in gone) if cb is not None]
        for callback in callbacks:
            callback()


class Lease:
    """A granted lease; with keep-alive it lives until revoked (or lost)."""

    def __init__(self, connection: Connection, keepalive: KeepAlive | None, lease_id: int, ttl: int) -> None:
        self.id = lease_id
        self.ttl = ttl
        self._connection = connection
        self._keepalive = keepalive
        self._lost = False
        self._revoked = False
        self._callbacks: list[Callable[[Lease], None]] = []
        self._lock = threading.Lock()
        if keepalive is not None:
            keepalive.add(lease_id, ttl, self._mark_lost)

    def on_lost(self, callback: Callable[[Lease], None]) -> None:
        """Call ``callback(lease)`` once if keep-alive finds the lease gone (at once if already lost)."""
        with self._lock:
            lost = self._lost
            if not lost:
                self._callbacks.append(callback)
        if lost:
            callback(self)

    def is_alive(self) -> bool:
        """False once revoked or once keep-alive found it expired."""
        return not (self._lost or self._revoked)

    def _mark_lost(self) -> None:
        with self._lock:
            if self._lost or self._revoked:
                return
            self._lost = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def time_to_live(self) -> int:
        """Seconds the server still gives this lease (-1: gone)."""
        resp: rpc_pb2.LeaseTimeToLiveResponse = self._connection.unary(
            lambda s: s.lease.LeaseTimeToLive, rpc_pb2.LeaseTimeToLiveRequest(ID=self.id)
        )
        return resp.TTL

    def revoke(self) -> None:
        """Revoke now (keys attached to it are deleted); revoking a lease already gone is fine."""
        with self._lock:
            self._revoked = True
            self._callbacks = []
        if self._keepalive is not None:
            self._keepalive.discard(self.id)
        try:
            self._connection.unary(lambda s: s.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=self.id))
        except EtcdError as err:
            if "not found" not in str(err):
                raise

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.revoke()

    def __repr__(self) -> str:
        return f"Lease(id={self.id:#x}, ttl={self.ttl})"
