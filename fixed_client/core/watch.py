"""The per-stream watch state machine (sans-IO): feed it responses, take requests and deliveries out.

One create is in flight at a time; later creates wait in order (etcd answers creates in order and
assigns ids per stream, so the next ``created`` belongs to the create in flight). Each watcher keeps
``next_rev``, the first revision it has not delivered, so a reconnect re-creates it from there and
drops anything older: no event is lost or repeated.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from fixed_client.errors import CompactedError, EtcdError, WatchCanceledError
from fixed_client.proto import kv_pb2, rpc_pb2

T = TypeVar("T")

BROADCAST_ID = -1  # progress-request answers and failed creates carry watch_id -1


@dataclass(frozen=True)
class WatchSpec:
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    prev_kv: bool = False
    filters: tuple[str, ...] = ()  # FilterType names
    progress_notify: bool = False


class Status(Enum):
    PENDING = "pending"  # waiting to be (re-)created on the current connection
    CREATING = "creating"  # create sent, ``created`` not yet received
    ACTIVE = "active"  # has a server id on the current connection
    CLOSED = "closed"  # left by the user or ended by the server


@dataclass(eq=False)
class WatcherState(Generic[T]):
    """One watcher's bookkeeping; ``sink`` is the transport's delivery target for it."""

    spec: WatchSpec
    sink: T
    next_rev: int
    order: int
    status: Status = Status.PENDING
    server_id: int | None = None
    created: bool = False  # has been created at least once

    @property
    def revision(self) -> int:
        """The latest revision this watcher is known to have seen."""
        return self.next_rev - 1 if self.next_rev > 0 else 0


class Kind(Enum):
    CREATED = "created"
    EVENTS = "events"
    ERROR = "error"  # final: the watcher is closed


@dataclass(slots=True)
class Delivery(Generic[T]):
    kind: Kind
    sink: T
    events: Sequence[kv_pb2.Event] = ()
    error: EtcdError | None = None


@dataclass
class WatchStreamCore(Generic[T]):
    """All watchers multiplexed on one gRPC Watch stream."""

    _live: dict[int, WatcherState[T]] = field(default_factory=dict)  # by order of arrival
    _by_server_id: dict[int, WatcherState[T]] = field(default_factory=dict)
    _queue: deque[WatcherState[T]] = field(default_factory=deque)
    _in_flight: WatcherState[T] | None = None
    _fragments: dict[int, list[kv_pb2.Event]] = field(default_factory=dict)
    _outbox: list[rpc_pb2.WatchRequest] = field(default_factory=list)
    _cancelling: set[int] = field(default_factory=set)  # cancels sent, acknowledgement pending
    _counter: int = 0

    # -- user side -------------------------------------------------------------------------
    def add(self, spec: WatchSpec, sink: T) -> WatcherState[T]:
        self._counter += 1
        state = WatcherState(spec=spec, sink=sink, next_rev=spec.start_revision, order=self._counter)
        self._live[state.order] = state
        self._queue.append(state)
        self._send_next_create()
        return state

    def remove(self, state: WatcherState[T]) -> None:
        """The user left: the watcher stops at once; a cancel goes out if the server knows it."""
        if state.status is Status.CLOSED:
            return
        previous = state.status
        self._close(state)
        if previous is Status.ACTIVE and state.server_id is not None:
            self._send_cancel(state.server_id)
        # PENDING: dropped from the queue by _close; CREATING: cancelled when ``created`` arrives.

    def request_progress(self) -> None:
        if self._live:
            self._outbox.append(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    @property
    def watcher_count(self) -> int:
        return len(self._live)

    def settled(self) -> bool:
        """Every cancel sent has been acknowledged: the server holds no watcher the user left."""
        return not self._cancelling

    def is_empty(self) -> bool:
        """No live watcher: the transport must cancel the stream (a half-close leaves it open)."""
        return not self._live

    def live_watchers(self) -> list[WatcherState[T]]:
        return sorted(self._live.values(), key=_order)

    def drop_all(self) -> list[T]:
        """Close every watcher (the stream failed for good); their sinks, to report the error."""
        states = sorted(self._live.values(), key=_order)
        for state in states:
            self._close(state)
        return [state.sink for state in states]

    def take_requests(self) -> list[rpc_pb2.WatchRequest]:
        out, self._outbox = self._outbox, []
        return out

    # -- connection side -------------------------------------------------------------------
    def connection_lost(self) -> None:
        """The stream broke: server ids and partial fragments are void; every live watcher is
        queued for re-creation from its next_rev, in its original order."""
        self._by_server_id.clear()
        self._cancelling.clear()  # the server dropped the old stream's watchers with it
        self._fragments.clear()
        self._in_flight = None
        self._outbox.clear()
        self._queue = deque(sorted(self._live.values(), key=_order))
        for state in self._queue:
            state.status = Status.PENDING
            state.server_id = None
        self._send_next_create()

    def receive(self, resp: rpc_pb2.WatchResponse) -> list[Delivery[T]]:
        if resp.created:
            return self._on_created(resp)
        if resp.canceled:
            return self._on_canceled(resp)
        watch_id = resp.watch_id  # read once: each protobuf field access is a call
        if watch_id == BROADCAST_ID:
            # A progress-request answer: on etcd 3.4 it is not ordered with pending events
            # (etcd#15220), so it never moves next_rev.
            return []
        state = self._by_server_id.get(watch_id)
        if state is None:
            return []  # a watcher already cancelled; its late events are dropped
        events: Sequence[kv_pb2.Event] = resp.events
        if resp.fragment:
            self._fragments.setdefault(watch_id, []).extend(events)
            return []
        if self._fragments:
            parts = self._fragments.pop(watch_id, None)
            if parts is not None:
                parts.extend(events)
                events = parts
        if not events:
            # The watcher's own progress notification: ordered with its events.
            state.next_rev = max(state.next_rev, resp.header.revision + 1)
            return []
        fresh = _newer_than(events, state.next_rev)
        if not fresh:
            return []
        state.next_rev = fresh[-1].kv.mod_revision + 1
        return [Delivery(Kind.EVENTS, state.sink, events=fresh)]

    # -- internals -------------------------------------------------------------------------
    def _on_created(self, resp: rpc_pb2.WatchResponse) -> list[Delivery[T]]:
        state = self._in_flight
        self._in_flight = None
        out: list[Delivery[T]] = []
        if state is None:
            if resp.watch_id != BROADCAST_ID:
                self._send_cancel(resp.watch_id)  # not ours: do not leave it running
        elif resp.canceled or resp.watch_id == BROADCAST_ID:
            # e.g. duplicate watch id or permission denied: this create failed for good.
            if state.status is not Status.CLOSED:
                self._close(state)
                reason = resp.cancel_reason or "watch create rejected"
                out.append(Delivery(Kind.ERROR, state.sink, error=WatchCanceledError(reason)))
        elif state.status is Status.CLOSED:
            self._send_cancel(resp.watch_id)  # left while its create was in flight
        else:
            state.status = Status.ACTIVE
            state.server_id = resp.watch_id
            self._by_server_id[resp.watch_id] = state
            if state.next_rev == 0:
                state.next_rev = resp.header.revision + 1
            if not state.created:
                state.created = True
                out.append(Delivery(Kind.CREATED, state.sink))
        self._send_next_create()
        return out

    def _on_canceled(self, resp: rpc_pb2.WatchResponse) -> list[Delivery[T]]:
        self._cancelling.discard(resp.watch_id)
        state = self._by_server_id.pop(resp.watch_id, None)
        self._fragments.pop(resp.watch_id, None)
        if state is None or state.status is Status.CLOSED:
            return []  # the answer to our own cancel
        self._close(state)
        error: EtcdError
        if resp.compact_revision > 0:
            # header.revision is 0 here: never a resume point. etcd 3.4 keeps the compacted watcher
            # until it is cancelled by id, so cancel it (the acknowledgement settles the stream).
            self._send_cancel(resp.watch_id)
            error = CompactedError(resp.compact_revision)
        else:
            error = WatchCanceledError(resp.cancel_reason or "no reason given")
        return [Delivery(Kind.ERROR, state.sink, error=error)]

    def _close(self, state: WatcherState[T]) -> None:
        if state.status is Status.PENDING:
            try:
                self._queue.remove(state)
            except ValueError:
                pass
        if state.server_id is not None and self._by_server_id.get(state.server_id) is state:
            del self._by_server_id[state.server_id]
            self._fragments.pop(state.server_id, None)
        state.status = Status.CLOSED
        self._live.pop(state.order, None)

    def _send_cancel(self, watch_id: int) -> None:
        self._cancelling.add(watch_id)
        self._outbox.append(_cancel(watch_id))

    def _send_next_create(self) -> None:
        if self._in_flight is not None or not self._queue:
            return
        state = self._queue.popleft()
        state.status = Status.CREATING
        self._in_flight = state
        spec = state.spec
        create = rpc_pb2.WatchCreateRequest(
            key=spec.key,
            range_end=spec.range_end,
            start_revision=state.next_rev,
            prev_kv=spec.prev_kv,
            filters=spec.filters,
            progress_notify=spec.progress_notify,
            fragment=True,
        )
        self._outbox.append(rpc_pb2.WatchRequest(create_request=create))


def _order(state: WatcherState[T]) -> int:
    return state.order


def _cancel(watch_id: int) -> rpc_pb2.WatchRequest:
    return rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))


def _newer_than(events: Sequence[kv_pb2.Event], next_rev: int) -> Sequence[kv_pb2.Event]:
    """Events at or after ``next_rev`` (anything older was delivered before a reconnect)."""
    if not events or events[0].kv.mod_revision >= next_rev:
        return events
    return [ev for ev in events if ev.kv.mod_revision >= next_rev]
