"""asyncio watch transport: one owner task per gRPC Watch stream feeding the sans-IO core.

Everything runs on one event loop, so user coroutines and the owner task touch the core without a
lock; a stream leaves the registry in the same step in which it becomes empty.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from fixed_client._transport import is_auth_error, token_rejected, watch_stream_error
from fixed_client.core.backoff import Backoff
from fixed_client.core.convert import to_events
from fixed_client.core.keys import StreamKey
from fixed_client.core.watch import (
    Delivery,
    Kind,
    WatcherState,
    WatchSpec,
    WatchStreamCore,
)
from fixed_client.errors import EtcdConnectionError, EtcdError, WatchTimeout
from fixed_client.proto import rpc_pb2
from fixed_client.types import Event

if TYPE_CHECKING:
    from fixed_client.aio.connection import AsyncConnection
    from fixed_client.core.registry import StreamRegistry

_END = object()
_TICK = object()  # the deadline timer's wake-up
DRAIN_TIMEOUT = 1.0  # longest wait for the server to acknowledge a retiring stream's cancels


class Created:
    """Set once the watch is created (or failed); waited on with a budget by one coroutine.

    A future and a timer handle: asyncio.wait_for on an Event costs an extra task and several loop
    passes per watch, which with many concurrent creates delays the stream's next create request."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[bool] | None = None

    def set(self) -> None:
        self._set = True
        _resolve(self._waiter, True)

    async def wait(self, budget: float) -> bool:
        """True once set; False when ``budget`` seconds pass first."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(budget, _resolve, waiter, False)
        try:
            created: bool = await waiter
            return created
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[bool] | None, value: bool) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(value)


class AsyncSink:
    """One watcher's inbox: event lists, its final error, wake-ups. A deque and at most one waiting
    future (lighter per message than asyncio.Queue); a cancelled ``take`` loses nothing."""

    __slots__ = ("_items", "_waiter", "created")

    def __init__(self) -> None:
        self._items: deque[list[Event] | EtcdError | object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.created = Created()

    def put(self, item: list[Event] | EtcdError | object) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def take_nowait(self) -> list[Event] | EtcdError | object:
        return self._items.popleft()  # IndexError when empty

    async def take(self) -> list[Event] | EtcdError | object:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def deliver(self, delivery: Delivery[AsyncSink]) -> None:
        if delivery.kind is Kind.EVENTS:
            self.put(to_events(delivery.events))
        elif delivery.kind is Kind.CREATED:
            self.created.set()
        else:
            self.put(delivery.error)
            self.created.set()


class AsyncShared:
    def __init__(self, connection: AsyncConnection, registry: StreamRegistry[AsyncWatchStream]) -> None:
        self.connection = connection
        self.registry = registry
        self.draining: set[AsyncWatchStream] = set()  # retired streams waiting for cancel acknowledgements


class AsyncWatchStream:
    def __init__(self, shared: AsyncShared, key: StreamKey) -> None:
        self.stream_key = key
        self.core: WatchStreamCore[AsyncSink] = WatchStreamCore()
        self._shared = shared
        self._requests: asyncio.Queue[rpc_pb2.WatchRequest | object] | None = None
        self._call: grpc.aio.StreamStreamCall | None = None  # type: ignore[type-arg]
        self._retired = False
        self._draining = False  # retired, call kept open until the server acknowledges the cancels
        self._settled = asyncio.Event()
        self._drain_timer: asyncio.TimerHandle | None = None
        self._token_restarts = 0  # reopenings for an expired token since the last good create
        self._restart = False  # reopen on the same endpoint (no failover)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fixed_client-watch")

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    @property
    def draining(self) -> bool:
        return self._draining

    def flush(self) -> None:
        requests = self.core.take_requests()
        if self._requests is not None:
            for request in requests:
                self._requests.put_nowait(request)

    def remove(self, state: WatcherState[AsyncSink]) -> bool:
        """Remove a watcher; True when the stream is now draining (see ``wait_settled``)."""
        self.core.remove(state)
        self.flush()
        if self.core.is_empty():
            self.retire(drain=True)
        return self._draining

    def retire(self, drain: bool = False) -> None:
        """Leave the registry and cancel the gRPC call (a half-close would leave the server stream open).

        With ``drain``, the call stays open (at most DRAIN_TIMEOUT) until the server has acknowledged
        the cancels already sent, so the server holds none of this stream's watchers afterwards.
        """
        if self._retired:
            return
        self._retired = True
        self._shared.registry.remove(self)
        if drain and self._call is not None and not self.core.settled():
            self._draining = True
            self._settled.clear()
            self._shared.draining.add(self)
            self._drain_timer = asyncio.get_running_loop().call_later(DRAIN_TIMEOUT, self._end_call)
        else:
            self._end_call()
        self._wake.set()

    async def wait_settled(self) -> None:
        try:
            await asyncio.wait_for(self._settled.wait(), DRAIN_TIMEOUT)
        except asyncio.TimeoutError:
            self._end_call()

    def _end_call(self) -> None:
        self._draining = False
        self._shared.draining.discard(self)
        self._settled.set()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._requests is not None:
            self._requests.put_nowait(_END)
            self._requests = None
        if self._call is not None:
            self._call.cancel()
            self._call = None

    async def _run(self) -> None:
        backoff = Backoff()
        connection = self._shared.connection
        while not self._retired:
            stubs = None
            try:
                stubs = connection.current()
                metadata = list(self.stream_key.pairs) + await connection.metadata()
            except Exception:  # closed client or failed authentication: retry below
                metadata = None
            if self._retired:
                self._end_call()
                return
            if stubs is not None and metadata is not None:
                self.core.connection_lost()
                requests: asyncio.Queue[rpc_pb2.WatchRequest | object] = asyncio.Queue()
                self._requests = requests
                self.flush()
                call = stubs.watch.Watch(_iterate(requests), metadata=metadata or None)
                self._call = call
                halt = await self._pump(call, backoff)
                if halt is not None:
                    self._fail_all(halt)
                    return
            self._end_call()
            if self._retired:
                return
            if stubs is not None and not self._restart:
                connection.failover(stubs)
            self._restart = False
            try:
                await asyncio.wait_for(self._wake.wait(), backoff.next_delay())
            except asyncio.TimeoutError:
                pass

    async def _pump(self, call: AsyncIterator[rpc_pb2.WatchResponse], backoff: Backoff) -> EtcdError | None:
        connection = self._shared.connection
        try:
            async for resp in call:
                backoff.reset()
                if resp.created and await self._token_rejected(resp):
                    return None
                deliveries = self.core.receive(resp)
                self.flush()
                if self._draining and self.core.settled():
                    self._end_call()
                elif self.core.is_empty():
                    self.retire(drain=True)
                for delivery in deliveries:
                    delivery.sink.deliver(delivery)
        except asyncio.CancelledError:
            if self._retired:
                return None
            raise
        except grpc.aio.AioRpcError as err:
            if self._retired:
                return None
            code, details = err.code(), err.details() or ""
            if is_auth_error(code, details) and connection.settings.username:
                try:
                    await connection.refresh_token(connection.current_token())
                except Exception:
                    pass
                return None
            return watch_stream_error(code, details, connection.settings)
        return None

    async def _token_rejected(self, resp: rpc_pb2.WatchResponse) -> bool:
        """True when the stream must be reopened with a fresh token (at most twice in a row)."""
        if resp.created and not resp.canceled:
            self._token_restarts = 0
        connection = self._shared.connection
        if self._token_restarts >= 2 or not token_rejected(resp, connection.settings):
            return False
        self._token_restarts += 1
        self._restart = True
        try:
            await connection.refresh_token(connection.current_token())
        except Exception:  # unreachable or refused: the reconnect loop retries
            pass
        return True

    def _fail_all(self, error: EtcdError) -> None:
        sinks = self.core.drop_all()
        self.retire()
        for sink in sinks:
            sink.put(error)
            sink.created.set()


async def _iterate(requests: asyncio.Queue[rpc_pb2.WatchRequest | object]) -> AsyncIterator[rpc_pb2.WatchRequest]:
    while True:
        item = await requests.get()
        if not isinstance(item, rpc_pb2.WatchRequest):
            return
        yield item


class AsyncWatch:
    """``async with client.watch(...) as w: async for event in w: ...``; the watch is created on entry
    (or on first iteration) and cancelled on exit."""

    def __init__(
        self,
        shared: AsyncShared,
        factory: Callable[[StreamKey], AsyncWatchStream],
        key: StreamKey,
        spec: WatchSpec,
        deadline: float | None,
        create_budget: float,
    ) -> None:
        self._shared = shared
        self._factory = factory
        self._key = key
        self._spec = spec
        self._deadline = deadline
        self._create_budget = create_budget
        self._stream: AsyncWatchStream | None = None
        self._state: WatcherState[AsyncSink] | None = None
        self._buffer: deque[Event] = deque()
        self._error: EtcdError | None = None
        self._closed = False
        self._expired = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def revision(self) -> int:
        """The latest revision this watch is known to have seen (events or its own progress)."""
        return 0 if self._state is None else self._state.revision

    async def start(self) -> AsyncWatch:
        """Register the watch and wait until the server has created it."""
        if self._state is not None or self._closed:
            return self
        stream, created = self._shared.registry.get_or_add(self._key, self._factory)
        sink = AsyncSink()
        self._stream = stream
        self._state = stream.core.add(self._spec, sink)
        stream.flush()
        if created:
            stream.start()
        self._arm_timer()
        budget = self._create_budget
        if self._deadline is not None:
            budget = min(budget, max(0.0, self._deadline - time.monotonic()))
        ready = await sink.created.wait(budget)
        if not ready and (self._deadline is None or time.monotonic() < self._deadline):
            self.close()
            endpoints = self._shared.connection.settings.endpoints
            raise EtcdConnectionError(endpoints, f"watch not created within {budget} s")
        return self

    def _arm_timer(self) -> None:
        """One timer per watch (not a wait_for task per read) wakes the reader at the deadline."""
        if self._deadline is None or self._state is None or self._closed:
            return
        delay = self._deadline - time.monotonic()
        if delay <= 0:
            self._state.sink.put(_TICK)
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay + 0.001, self._state.sink.put, _TICK)

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        if self._buffer:
            return self._buffer.popleft()
        if self._state is None and not self._closed:
            await self.start()
        while True:
            if self._error is not None:
                raise self._error
            if self._closed or self._state is None:
                return self._last()
            if self._deadline is not None and self._deadline <= time.monotonic():
                # Cancel at once; what already arrived is still handed out, then WatchTimeout.
                self._expired = True
                self.close()
                continue
            item = await self._state.sink.take()  # the deadline timer wakes it with _TICK
            if item is _TICK:
                self._arm_timer()  # no-op once the deadline has passed (checked above)
                continue
            if self._take(item):
                return self._buffer.popleft()

    def _take(self, item: object) -> bool:
        if isinstance(item, list):
            self._buffer.extend(item)
            return bool(item)
        if isinstance(item, EtcdError):
            self._error = item
            self.close()
        return False

    def _last(self) -> Event:
        if self._state is not None:
            sink = self._state.sink
            while self._error is None and not sink.empty():
                self._take(sink.take_nowait())
        if self._buffer:
            return self._buffer.popleft()
        if self._error is None and self._expired:
            self._error = WatchTimeout("watch deadline passed")
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    def close(self) -> None:
        """Leave the watch now; the cancel is sent at once (the stream cancelled if it was the last)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._stream is not None and self._state is not None:
            self._stream.remove(self._state)
            self._state.sink.put(_END)

    async def aclose(self) -> None:
        """Leave the watch and return once the server has dropped it (bounded)."""
        stream, draining = self._stream, not self._closed and self._stream is not None
        self.close()
        if draining and stream is not None and stream.draining:
            await stream.wait_settled()

    async def __aenter__(self) -> AsyncWatch:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A watch dropped without close() must still leave the server. The loop is single-threaded,
        # so closing here is safe when collected on the loop's thread; elsewhere it is left alone.
        if getattr(self, "_closed", True) or getattr(self, "_stream", None) is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        try:
            self.close()
        except Exception:
            pass
