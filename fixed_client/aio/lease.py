"""Leases and their keep-alive (asyncio): one LeaseKeepAlive stream per client, owned by one task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from fixed_client.core.backoff import Backoff
from fixed_client.core.lease import LeaseSchedule
from fixed_client.errors import EtcdError
from fixed_client.proto import rpc_pb2

if TYPE_CHECKING:
    from fixed_client.aio.connection import AsyncConnection

LostCallback = Callable[[], None]


class AsyncKeepAlive:
    """Re-sends each lease every TTL/3; a lease is lost on TTL <= 0 or when its TTL runs out unanswered."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._schedule = LeaseSchedule()
        self._on_lost: dict[int, LostCallback] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def add(self, lease_id: int, ttl: int, on_lost: LostCallback) -> None:
        if self._closed:
            raise RuntimeError("client is closed")
        self._schedule.add(lease_id, ttl, time.monotonic())
        self._on_lost[lease_id] = on_lost
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fixed_client-keepalive")
        self._changed.set()

    def discard(self, lease_id: int) -> None:
        self._schedule.discard(lease_id)
        self._on_lost.pop(lease_id, None)

    async def close(self) -> None:
        self._closed = True
        self._changed.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _wait_changed(self, timeout: float | None) -> None:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        backoff = Backoff(initial=0.05, cap=0.5)
        while not self._closed:
            if not len(self._schedule):
                await self._wait_changed(None)
                continue
            self._schedule.reschedule_all(time.monotonic())
            stubs = None
            sender: asyncio.Task[None] | None = None
            try:
                stubs = self._connection.current()
                call: Any = stubs.lease.LeaseKeepAlive(metadata=await self._connection.metadata() or None)
                sender = asyncio.get_running_loop().create_task(self._send(call))
                async for resp in call:
                    backoff.reset()
                    if not self._schedule.answered(resp.ID, resp.TTL, time.monotonic()):
                        self._lost(resp.ID)
            except (grpc.aio.AioRpcError, EtcdError, RuntimeError):
                pass
            finally:
                if sender is not None:
                    sender.cancel()
            if self._closed:
                return
            if stubs is not None:
                self._connection.failover(stubs)
            self._fire_expired()
            await self._wait_changed(backoff.next_delay())
            self._fire_expired()

    async def _send(self, call: Any) -> None:
        try:
            while True:
                now = time.monotonic()
                self._fire_expired()
                for lease_id in self._schedule.due(now):
                    await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
                wake = self._schedule.next_wakeup()
                await self._wait_changed(None if wake is None else max(0.0, wake - time.monotonic()) + 0.001)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError):
            pass  # the stream broke; the reader side reconnects

    def _lost(self, lease_id: int) -> None:
        callback = self._on_lost.pop(lease_id, None)
        if callback is not None:
            callback()

    def _fire_expired(self) -> None:
        for lease_id in self._schedule.expired(time.monotonic()):
            self._lost(lease_id)


class AsyncLease:
    """A granted lease; with keep-alive it lives until revoked (or lost)."""

    def __init__(
        self, connection: AsyncConnection, keepalive: AsyncKeepAlive | None, lease_id: int, ttl: int
    ) -> None:
        self.id = lease_id
        self.ttl = ttl
        self._connection = connection
        self._keepalive = keepalive
        self._lost = False
        self._revoked = False
        self._callbacks: list[Callable[[AsyncLease], None]] = []
        if keepalive is not None:
            keepalive.add(lease_id, ttl, self._mark_lost)

    def on_lost(self, callback: Callable[[AsyncLease], None]) -> None:
        if self._lost:
            callback(self)
        else:
            self._callbacks.append(callback)

    def is_alive(self) -> bool:
        return not (self._lost or self._revoked)

    def _mark_lost(self) -> None:
        if self._lost or self._revoked:
            return
        self._lost = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    async def time_to_live(self) -> int:
        resp: rpc_pb2.LeaseTimeToLiveResponse = await self._connection.unary(
            lambda s: s.lease.LeaseTimeToLive, rpc_pb2.LeaseTimeToLiveRequest(ID=self.id)
        )
        return resp.TTL

    async def revoke(self) -> None:
        self._revoked = True
        self._callbacks = []
        if self._keepalive is not None:
            self._keepalive.discard(self.id)
        try:
            await self._connection.unary(lambda s: s.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=self.id))
        except EtcdError as err:
            if "not found" not in str(err):
                raise

    async def __aenter__(self) -> AsyncLease:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.revoke()

    def __repr__(self) -> str:
        return f"AsyncLease(id={self.id:#x}, ttl={self.ttl})"
