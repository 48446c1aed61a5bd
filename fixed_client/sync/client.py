"""fixed_client.Client: the synchronous etcd v3 client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from google.protobuf.message import Message

from fixed_client import ops
from fixed_client._transport import DEFAULT_MAX_MESSAGE_BYTES, make_settings
from fixed_client.core.convert import range_result, txn_result
from fixed_client.core.keys import MetadataInput, stream_key
from fixed_client.core.registry import StreamRegistry
from fixed_client.core.requests import (
    check_int,
    check_revision,
    check_timeout,
    delete_request,
    filter_names,
    put_request,
    range_end_for,
    range_request,
    to_bytes,
)
from fixed_client.core.watch import WatchSpec
from fixed_client.errors import EtcdConnectionError, EtcdError
from fixed_client.proto import rpc_pb2
from fixed_client.sync.connection import Connection, Stubs
from fixed_client.sync.lease import KeepAlive, Lease
from fixed_client.sync.lock import Lock
from fixed_client.sync.watch import DRAIN_TIMEOUT, Shared, Sink, Watch, WatchStream
from fixed_client.types import RangeResult, TxnResult


class Client:
    """A connection to an etcd v3 cluster (one or more endpoints, tried in turn).

    ``timeout`` bounds each unary call (retries on other endpoints included), never a watch or
    keep-alive stream.
    """

    def __init__(
        self,
        endpoints: Sequence[str] | str = ("127.0.0.1:2379",),
        timeout: float = 5.0,
        username: str | None = None,
        password: str | None = None,
        ca_cert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        settings = make_settings(endpoints, timeout, username, password, ca_cert, cert, key, max_message_bytes)
        self._connection = Connection(settings)
        self._shared = Shared(self._connection, StreamRegistry())
        self._keepalive = KeepAlive(self._connection)
        self._closed = False
        self._live_locks: set[Lock] = set()  # acquiring or held: released by close()
        if settings.username is not None:
            self._connection.refresh_token(None)  # fail early on bad credentials

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._connection.settings.endpoints

    def _unary(self, method: Callable[[Stubs], Any], request: Message, timeout: float | None = None) -> Any:
        return self._connection.unary(method, request, timeout)

    # -- KV -----------------------------------------------------------------------------------
    def put(self, key: bytes | str, value: bytes | str, lease: Lease | int | None = None) -> int:
        """Store ``value`` under ``key``; returns the new store revision."""
        resp: rpc_pb2.PutResponse = self._unary(lambda s: s.kv.Put, put_request(key, value, lease))
        return resp.header.revision

    def get(
        self,
        key: bytes | str,
        prefix: bool = False,
        revision: int | None = None,
        limit: int | None = None,
        keys_only: bool = False,
    ) -> RangeResult:
        """KeyValues for ``key`` (or every key under it with ``prefix``); ``.revision`` is the store revision."""
        resp: rpc_pb2.RangeResponse = self._unary(
            lambda s: s.kv.Range, range_request(key, prefix, revision, limit, keys_only)
        )
        return range_result(resp)

    def delete(self, key: bytes | str, prefix: bool = False) -> int:
        """Delete ``key`` (or every key under it); returns how many were deleted."""
        resp: rpc_pb2.DeleteRangeResponse = self._unary(lambda s: s.kv.DeleteRange, delete_request(key, prefix))
        return resp.deleted

    def compact(self, revision: int) -> None:
        """Discard history before ``revision``."""
        request = rpc_pb2.CompactionRequest(revision=check_revision(revision))
        self._unary(lambda s: s.kv.Compact, request)

    def txn(
        self,
        compare: Iterable[rpc_pb2.Compare] = (),
        success: Iterable[rpc_pb2.RequestOp] = (),
        failure: Iterable[rpc_pb2.RequestOp] = (),
    ) -> TxnResult:
        """If every compare holds run ``success`` else ``failure`` (build them with fixed_client.ops)."""
        resp: rpc_pb2.TxnResponse = self._unary(lambda s: s.kv.Txn, ops.txn_request(compare, success, failure))
        return txn_result(resp)

    # -- leases -------------------------------------------------------------------------------
    def grant(self, ttl: int, keepalive: bool = True) -> Lease:
        """A new lease of ``ttl`` seconds, kept alive until revoked unless ``keepalive=False``."""
        check_int(ttl, "ttl", 1)
        resp: rpc_pb2.LeaseGrantResponse = self._unary(lambda s: s.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=ttl))
        if resp.error:
            raise EtcdError(f"etcd: lease grant failed: {resp.error}")
        return Lease(self._connection, self._keepalive if keepalive else None, resp.ID, resp.TTL)

    # -- watch --------------------------------------------------------------------------------
    def watch(
        self,
        key: bytes | str,
        prefix: bool = False,
        start_revision: int | None = None,
        prev_kv: bool = False,
        filters: Iterable[str] = (),
        progress_notify: bool = False,
        timeout: float | None = None,
        metadata: MetadataInput = None,
    ) -> Watch:
        """Watch ``key`` (or a prefix). Returns once the server has created the watch.

        ``timeout`` is a total deadline from this call; ``metadata`` alone picks the gRPC stream
        (watches with equal metadata share one).
        """
        raw = to_bytes(key, "key")
        spec = WatchSpec(
            key=raw,
            range_end=range_end_for(raw, prefix),
            start_revision=0 if start_revision is None else check_revision(start_revision, "start_revision"),
            prev_kv=bool(prev_kv),
            filters=filter_names(filters),
            progress_notify=bool(progress_notify),
        )
        wait = check_timeout(timeout)
        deadline = None if wait is None else time.monotonic() + wait
        skey = stream_key(metadata)
        self._check_open()
        sink = Sink()
        shared = self._shared
        with shared.lock:
            stream, created = shared.registry.get_or_add(skey, self._new_stream)
            state = stream.core.add(spec, sink)
            stream.flush_locked()
        if created:
            stream.start()
        watch = Watch(stream, state, deadline)
        budget = self._connection.settings.timeout
        if wait is not None:
            budget = min(budget, wait)
        if not sink.created.wait(budget) and (deadline is None or time.monotonic() < deadline):
            watch.close()
            raise EtcdConnectionError(self.endpoints, f"watch not created within {budget} s")
        return watch

    def _new_stream(self, key: Any) -> WatchStream:
        return WatchStream(self._shared, key)

    def request_progress(self) -> None:
        """Ask every open watch stream for a progress notification."""
        with self._shared.lock:
            for stream in self._shared.registry:
                stream.core.request_progress()
                stream.flush_locked()

    def watch_stream_count(self) -> int:
        """Open gRPC Watch streams (one per distinct metadata with live watchers)."""
        with self._shared.lock:
            return len(self._shared.registry)

    def watcher_count(self) -> int:
        """Live watchers over all streams."""
        with self._shared.lock:
            return sum(stream.core.watcher_count for stream in self._shared.registry)

    # -- locks --------------------------------------------------------------------------------
    def lock(
        self,
        name: bytes | str,
        ttl: int = 60,
        timeout: float | None = None,
        on_lost: Callable[[Lock], None] | None = None,
    ) -> Lock:
        """A Lock on ``name`` (not yet acquired); ``timeout`` is acquire's default, ``on_lost(lock)`` is
        called if the lock's lease is lost while held."""
        raw = to_bytes(name, "name")
        check_int(ttl, "ttl", 1)
        if on_lost is not None and not callable(on_lost):
            raise TypeError("on_lost must be callable")
        return Lock(self, raw, ttl, check_timeout(timeout), on_lost)

    # -- lifecycle ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("client is closed")

    def close(self) -> None:
        """Cancel every watch stream and keep-alive, then close the channels."""
        if self._closed:
            return
        for lock in list(self._live_locks):
            lock._give_up()  # no lease outlives its lock, even when the client closes first
        self._closed = True
        sinks = []
        with self._shared.lock:
            for stream in self._shared.registry:
                for state in stream.core.live_watchers():
                    sinks.append(state.sink)
                    stream.core.remove(state)  # sends the cancels
                stream.flush_locked()
                stream.retire_locked(drain=True)
            streams = list(self._shared.draining)
        for sink in sinks:
            sink.queue.put(EtcdError("client closed"))
            sink.created.set()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for stream in streams:  # the server has dropped every watcher when close() returns
            stream.wait_settled(max(0.0, deadline - time.monotonic()))
        self._keepalive.close()
        self._connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
