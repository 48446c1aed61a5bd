"""fixed_client.aio.AsyncClient: the same verbs as fixed_client.Client, as coroutines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from google.protobuf.message import Message

from fixed_client import ops
from fixed_client._transport import DEFAULT_MAX_MESSAGE_BYTES, make_settings
from fixed_client.aio.connection import AsyncConnection, AsyncStubs
from fixed_client.aio.lease import AsyncKeepAlive, AsyncLease
from fixed_client.aio.lock import AsyncLock
from fixed_client.aio.watch import AsyncShared, AsyncWatch, AsyncWatchStream
from fixed_client.core.convert import range_result, txn_result
from fixed_client.core.keys import MetadataInput, StreamKey, stream_key
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
from fixed_client.errors import EtcdError
from fixed_client.proto import rpc_pb2
from fixed_client.types import RangeResult, TxnResult


class AsyncClient:
    """asyncio etcd v3 client; create and use it inside one running event loop."""

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
        self._connection = AsyncConnection(settings)
        self._shared = AsyncShared(self._connection, StreamRegistry())
        self._keepalive = AsyncKeepAlive(self._connection)
        self._closed = False
        self._live_locks: set[AsyncLock] = set()  # acquiring or held: released by close()

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._connection.settings.endpoints

    async def _unary(self, method: Callable[[AsyncStubs], Any], request: Message, timeout: float | None = None) -> Any:
        return await self._connection.unary(method, request, timeout)

    # -- KV -----------------------------------------------------------------------------------
    async def put(self, key: bytes | str, value: bytes | str, lease: AsyncLease | int | None = None) -> int:
        resp: rpc_pb2.PutResponse = await self._unary(lambda s: s.kv.Put, put_request(key, value, lease))
        return resp.header.revision

    async def get(
        self,
        key: bytes | str,
        prefix: bool = False,
        revision: int | None = None,
        limit: int | None = None,
        keys_only: bool = False,
    ) -> RangeResult:
        resp: rpc_pb2.RangeResponse = await self._unary(
            lambda s: s.kv.Range, range_request(key, prefix, revision, limit, keys_only)
        )
        return range_result(resp)

    async def delete(self, key: bytes | str, prefix: bool = False) -> int:
        resp: rpc_pb2.DeleteRangeResponse = await self._unary(lambda s: s.kv.DeleteRange, delete_request(key, prefix))
        return resp.deleted

    async def compact(self, revision: int) -> None:
        await self._unary(lambda s: s.kv.Compact, rpc_pb2.CompactionRequest(revision=check_revision(revision)))

    async def txn(
        self,
        compare: Iterable[rpc_pb2.Compare] = (),
        success: Iterable[rpc_pb2.RequestOp] = (),
        failure: Iterable[rpc_pb2.RequestOp] = (),
    ) -> TxnResult:
        resp: rpc_pb2.TxnResponse = await self._unary(lambda s: s.kv.Txn, ops.txn_request(compare, success, failure))
        return txn_result(resp)

    # -- leases -------------------------------------------------------------------------------
    async def grant(self, ttl: int, keepalive: bool = True) -> AsyncLease:
        check_int(ttl, "ttl", 1)
        resp: rpc_pb2.LeaseGrantResponse = await self._unary(
            lambda s: s.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=ttl)
        )
        if resp.error:
            raise EtcdError(f"etcd: lease grant failed: {resp.error}")
        return AsyncLease(self._connection, self._keepalive if keepalive else None, resp.ID, resp.TTL)

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
    ) -> AsyncWatch:
        """An AsyncWatch: ``async with`` (or ``await w.start()``) creates it; ``async for`` reads events.

        ``timeout`` is a total deadline from this call; ``metadata`` alone picks the gRPC stream.
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
        return AsyncWatch(self._shared, self._new_stream, skey, spec, deadline, self._connection.settings.timeout)

    def _new_stream(self, key: StreamKey) -> AsyncWatchStream:
        return AsyncWatchStream(self._shared, key)

    async def request_progress(self) -> None:
        for stream in self._shared.registry:
            stream.core.request_progress()
            stream.flush()

    def watch_stream_count(self) -> int:
        return len(self._shared.registry)

    def watcher_count(self) -> int:
        return sum(stream.core.watcher_count for stream in self._shared.registry)

    # -- locks --------------------------------------------------------------------------------
    def lock(
        self,
        name: bytes | str,
        ttl: int = 60,
        timeout: float | None = None,
        on_lost: Callable[[AsyncLock], None] | None = None,
    ) -> AsyncLock:
        raw = to_bytes(name, "name")
        check_int(ttl, "ttl", 1)
        if on_lost is not None and not callable(on_lost):
            raise TypeError("on_lost must be callable")
        return AsyncLock(self, raw, ttl, check_timeout(timeout), on_lost)

    # -- lifecycle ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("client is closed")

    async def close(self) -> None:
        if self._closed:
            return
        for lock in list(self._live_locks):
            await lock._give_up()  # no lease outlives its lock, even when the client closes first
        self._closed = True
        tasks = []
        for stream in self._shared.registry:
            for state in stream.core.live_watchers():
                stream.core.remove(state)  # sends the cancels
                state.sink.put(EtcdError("client closed"))
                state.sink.created.set()
            stream.flush()
            stream.retire(drain=True)
        for stream in list(self._shared.draining):  # the server has dropped every watcher afterwards
            tasks.append(stream.task)
            await stream.wait_settled()
        running = [task for task in tasks if task is not None]
        if running:
            await asyncio.wait(running, timeout=2.0)
        await self._keepalive.close()
        await self._connection.close()

    async def __aenter__(self) -> AsyncClient:
        if self._connection.settings.username is not None:
            await self._connection.refresh_token(None)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
