"""Sync watch transport: one owner thread per gRPC Watch stream feeding the sans-IO core.

The owner thread opens the stream, reconnects with backoff and re-creates every watcher from its
next_rev. Responses are read by one thread at a time (``turn.ReadTurn``): the thread iterating a
watch reads them itself, so no thread hand-off per message, and the owner reads while nobody does.
The reader applies each response to the core and hands deliveries to the watchers' queues. User
threads add and remove watchers through the same lock (``Shared.lock``), which also guards the
registry, so a stream leaves the registry in the same step in which it becomes empty.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING

import grpc

from fixed_client._transport import is_auth_error, token_rejected, watch_stream_error
from fixed_client.core.backoff import Backoff
from fixed_client.core.convert import to_events
from fixed_client.core.keys import StreamKey
from fixed_client.core.watch import Delivery, Kind, WatcherState, WatchStreamCore
from fixed_client.errors import EtcdError, WatchTimeout
from fixed_client.proto import rpc_pb2
from fixed_client.sync.turn import WAKE, ReadTurn
from fixed_client.types import Event

if TYPE_CHECKING:
    from fixed_client.core.registry import StreamRegistry
    from fixed_client.sync.connection import Connection

_END = object()  # ends a request iterator / wakes a closed watch
_ENDED = object()  # a read's outcome: the server ended the call
_RESTART = object()  # a read's outcome: reopen the call with a fresh token
_BROKEN = object()  # a read raised (not a gRPC error): the owner reopens the call
DRAIN_TIMEOUT = 1.0  # longest wait for the server to acknowledge a retiring stream's cancels


class Sink:
    """Where the owner thread puts one watcher's events (lists) and its final error."""

    __slots__ = ("created", "queue")

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[list[Event] | EtcdError | object] = queue.SimpleQueue()
        self.created = threading.Event()

    def deliver(self, delivery: Delivery[Sink]) -> None:
        if delivery.kind is Kind.EVENTS:
            self.queue.put(to_events(delivery.events))
        elif delivery.kind is Kind.CREATED:
            self.created.set()
        else:
            self.queue.put(delivery.error)
            self.created.set()

    def wake(self) -> None:
        self.queue.put(WAKE)


class Shared:
    """State every stream of one client shares."""

    def __init__(self, connection: Connection, registry: StreamRegistry[WatchStream]) -> None:
        self.connection = connection
        self.registry = registry
        self.lock = threading.Lock()
        self.draining: set[WatchStream] = set()  # retired streams waiting for cancel acknowledgements


class WatchStream:
    def __init__(self, shared: Shared, key: StreamKey) -> None:
        self.stream_key = key
        self.core: WatchStreamCore[Sink] = WatchStreamCore()
        self._shared = shared
        self._requests: queue.SimpleQueue[rpc_pb2.WatchRequest | object] | None = None
        self._call: grpc.Call | None = None
        self._retired = False
        self._draining = False  # retired, call kept open until the server acknowledges the cancels
        self._settled = threading.Event()
        self._token_restarts = 0  # reopenings for an expired token since the last good create
        self._restart = False  # reopen on the same endpoint (no failover)
        self._wake = threading.Event()
        self._turn = ReadTurn()
        self._backoff = Backoff()
        self._thread = threading.Thread(target=self._run, name="fixed_client-watch", daemon=True)
        # Watches garbage-collected while open; reaped by the next holder of the lock.
        self.orphans: queue.SimpleQueue[WatcherState[Sink]] = queue.SimpleQueue()

    def start(self) -> None:
        self._thread.start()

    # -- called with shared.lock held ------------------------------------------------------
    def flush_locked(self) -> None:
        reaped = False
        while not self.orphans.empty():
            self.core.remove(self.orphans.get_nowait())
            reaped = True
        requests = self.core.take_requests()
        if self._requests is not None:
            for request in requests:
                self._requests.put(request)
        if reaped and self.core.is_empty():
            self.retire_locked()

    def remove_locked(self, state: WatcherState[Sink], drain: bool = True) -> bool:
        """Remove a watcher; True when the stream is now draining (see ``wait_settled``)."""
        self.core.remove(state)
        self.flush_locked()
        if self.core.is_empty():
            self.retire_locked(drain)
        return self._draining

    def abandon(self, state: WatcherState[Sink]) -> None:
        """Leave from a finalizer: never block on the lock (the collecting thread may hold it)."""
        lock = self._shared.lock
        if lock.acquire(blocking=False):
            try:
                self.remove_locked(state, drain=False)
            finally:
                lock.release()
        else:
            self.orphans.put(state)

    def retire_locked(self, drain: bool = False) -> None:
        """Leave the registry and cancel the gRPC call (a half-close would leave the server stream open).

        With ``drain``, the call stays open until the server has acknowledged the cancels already
        sent, so that once ``wait_settled`` returns the server holds none of this stream's watchers.
        """
        if self._retired:
            return
        self._retired = True
        self._shared.registry.remove(self)
        if drain and self._call is not None and not self.core.settled():
            self._draining = True
            self._settled.clear()
            self._shared.draining.add(self)
        else:
            self._end_call_locked()
        self._wake.set()

    def wait_settled(self, timeout: float) -> None:
        """Wait (bounded) for a draining stream's cancels to be acknowledged, then end its call."""
        if not self._settled.wait(timeout):
            with self._shared.lock:
                self._end_call_locked()

    def _end_call_locked(self) -> None:
        self._draining = False
        self._shared.draining.discard(self)
        self._settled.set()
        if self._requests is not None:
            self._requests.put(_END)
            self._requests = None
        if self._call is not None:
            self._call.cancel()  # type: ignore[no-untyped-call]
            self._call = None

    # -- owner thread ------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self._backoff
        shared = self._shared
        while True:
            stubs = None
            try:
                stubs = shared.connection.current()
                metadata = list(self.stream_key.pairs) + shared.connection.metadata()
            except Exception:  # closed client or failed authentication: retry below
                metadata = None
            with shared.lock:
                if self._retired:
                    self._end_call_locked()
                    return
                if stubs is not None and metadata is not None:
                    self.core.connection_lost()
                    requests: queue.SimpleQueue[rpc_pb2.WatchRequest | object] = queue.SimpleQueue()
                    self._requests = requests
                    self.flush_locked()
                    if self._retired:
                        self._end_call_locked()
                        return
                    call = stubs.watch.Watch(iter(requests.get, _END), metadata=metadata or None)
                    self._call = call  # type: ignore[assignment]
            if stubs is not None and metadata is not None:
                halt = self._pump(call)
                if halt is not None:
                    self._fail_all(halt)
                    return
            with shared.lock:
                if self._retired:
                    self._end_call_locked()
                    return
                self._end_call_locked()
            if stubs is not None and not self._restart:
                shared.connection.failover(stubs)
            self._restart = False
            self._wake.wait(backoff.next_delay())

    def _token_rejected(self, resp: rpc_pb2.WatchResponse) -> bool:
        """True when the stream must be reopened with a fresh token (at most twice in a row)."""
        if resp.created and not resp.canceled:
            self._token_restarts = 0
        connection = self._shared.connection
        if self._token_restarts >= 2 or not token_rejected(resp, connection.settings):
            return False
        self._token_restarts += 1
        self._restart = True
        try:
            connection.refresh_token(connection.current_token())
        except Exception:  # unreachable or refused: the reconnect loop retries
            pass
        return True

    def _pump(self, call: Iterator[rpc_pb2.WatchResponse]) -> EtcdError | None:
        """Read (or let watchers read) until the call ends; a halting error is returned."""
        turn = self._turn
        turn.attach(call)
        while True:
            outcome = turn.owner_take()
            if outcome is None:
                outcome = _BROKEN
                try:
                    outcome = self._read_one(call)
                finally:
                    turn.release(outcome)  # _BROKEN if the read raised (the owner thread then dies)
            if outcome is not None:
                return self._settle(outcome)

    def read_for(self, sink: Sink, buffer: deque[Event]) -> bool:
        """Read and apply one response in the calling (watcher) thread, ``sink``'s events going
        straight to ``buffer``; False when another thread holds the turn (``sink`` is woken when it
        is free) or no call is open."""
        call = self._turn.try_take(sink)
        if call is None:
            return False
        outcome: object | None = _BROKEN
        try:
            outcome = self._read_one(call, sink, buffer)  # type: ignore[arg-type]
        finally:
            # _BROKEN when the read raised (say KeyboardInterrupt while waiting): grpcio's receive may
            # still be pending on the call, so the owner reopens it and resumes from next_rev.
            self._turn.release(outcome)
        return True

    def _read_one(
        self, call: Iterator[rpc_pb2.WatchResponse], reader: Sink | None = None, buffer: deque[Event] | None = None
    ) -> object | None:
        """Read one response and apply it; the call's outcome when it ended, else None. Events for
        the reading watcher (``reader``) go to its ``buffer``: its queue is empty and only the
        reader delivers events, so the order is kept."""
        try:
            resp = next(call)
        except StopIteration:
            return _ENDED
        except grpc.RpcError as err:
            return err
        self._backoff.reset()
        if resp.created and self._token_rejected(resp):
            return _RESTART
        shared = self._shared
        with shared.lock:
            deliveries = self.core.receive(resp)
            self.flush_locked()
            if self._draining and self.core.settled():
                self._end_call_locked()
            elif self.core.is_empty() and not self._retired:
                # The server ended the last watcher: drain its cancel, bounded by a timer.
                self.retire_locked(drain=True)
                if self._draining:
                    timer = threading.Timer(DRAIN_TIMEOUT, self.wait_settled, args=(0.0,))
                    timer.daemon = True
                    timer.start()
        for delivery in deliveries:
            if delivery.sink is reader and buffer is not None and delivery.kind is Kind.EVENTS:
                buffer.extend(to_events(delivery.events))
            else:
                delivery.sink.deliver(delivery)
        return None

    def _settle(self, outcome: object) -> EtcdError | None:
        """Owner: act on how the call ended; a halting error is returned, None means reconnect."""
        if not isinstance(outcome, grpc.RpcError):
            return None  # ended by the server, or a token restart
        shared = self._shared
        rpc: grpc.Call = outcome  # type: ignore[assignment]
        code, details = rpc.code(), rpc.details() or ""
        if self._retired:
            return None
        if is_auth_error(code, details) and shared.connection.settings.username:
            try:
                shared.connection.refresh_token(shared.connection.current_token())
            except Exception:
                pass
            return None
        return watch_stream_error(code, details, shared.connection.settings)

    def _fail_all(self, error: EtcdError) -> None:
        with self._shared.lock:
            sinks = self.core.drop_all()
            self.retire_locked()
        for sink in sinks:
            sink.queue.put(error)
            sink.created.set()


class Watch:
    """A live watch: iterate for events; a context manager that cancels it on exit."""

    def __init__(self, stream: WatchStream, state: WatcherState[Sink], deadline: float | None) -> None:
        self._stream = stream
        self._state = state
        self._deadline = deadline
        self._buffer: deque[Event] = deque()
        self._error: EtcdError | None = None
        self._closed = False
        self._expired = False

    @property
    def revision(self) -> int:
        """The latest revision this watch is known to have seen (events or its own progress)."""
        return self._state.revision

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        if self._buffer:
            return self._buffer.popleft()
        sink = self._state.sink
        while True:
            if self._error is not None:
                raise self._error
            if self._closed:
                return self._last()
            timeout = None
            if self._deadline is not None:
                timeout = self._deadline - time.monotonic()
                if timeout <= 0:
                    # Cancel at once; what already arrived is still handed out, then WatchTimeout.
                    self._expired = True
                    self.close()
                    continue
            # Without a deadline, read the stream in this thread (a read blocks until a response).
            if timeout is None and sink.queue.empty() and self._stream.read_for(sink, self._buffer):
                if self._buffer:
                    return self._buffer.popleft()
                continue
            try:
                item = sink.queue.get(timeout=timeout)
            except queue.Empty:
                continue
            if self._take(item):
                return self._buffer.popleft()

    def _take(self, item: object) -> bool:
        """Buffer a delivered item; True when events were added."""
        if isinstance(item, list):
            self._buffer.extend(item)
            return bool(item)
        if isinstance(item, EtcdError):
            self._error = item
            self.close()
        return False

    def _last(self) -> Event:
        """After close: events already received, then the error, WatchTimeout, or the end."""
        sink = self._state.sink
        while self._error is None:
            try:
                item = sink.queue.get_nowait()
            except queue.Empty:
                break
            self._take(item)
        if self._buffer:
            return self._buffer.popleft()
        if self._error is None and self._expired:
            self._error = WatchTimeout("watch deadline passed")
        if self._error is not None:
            raise self._error
        raise StopIteration

    def close(self) -> None:
        """Leave the watch; the cancel is sent at once (and the stream cancelled if it was the last)."""
        if self._closed:
            return
        self._closed = True
        with self._stream._shared.lock:
            draining = self._stream.remove_locked(self._state)
        self._state.sink.queue.put(_END)
        if draining:
            # The last watcher of its stream: return once the server has dropped it (bounded).
            self._stream.wait_settled(DRAIN_TIMEOUT)

    cancel = close

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A watch dropped without close() must still leave the server (the leak this client avoids).
        if not getattr(self, "_closed", True):
            self._closed = True
            try:
                self._stream.abandon(self._state)
            except Exception:  # interpreter shutdown
                pass
