"""The distributed lock (asyncio), etcd's concurrency.Mutex; the recipe itself lives in core.lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from fixed_client.core import lock as recipe
from fixed_client.core.requests import check_timeout
from fixed_client.errors import EtcdError, LockTimeout, WatchTimeout
from fixed_client.proto import rpc_pb2

if TYPE_CHECKING:
    from fixed_client.aio.client import AsyncClient
    from fixed_client.aio.lease import AsyncLease
    from fixed_client.aio.watch import AsyncWatch

_DEFAULT = object()


class AsyncLock:
    """``await acquire(timeout)`` -> bool (None waits forever, 0 tries once); ``await release()``;
    ``async with`` raises LockTimeout when not acquired within the lock's default timeout."""

    def __init__(
        self,
        client: AsyncClient,
        name: bytes,
        ttl: int,
        timeout: float | None,
        on_lost: Callable[[AsyncLock], None] | None,
    ) -> None:
        self.name = name
        self.ttl = ttl
        self.timeout = timeout
        self._client = client
        self._on_lost = on_lost
        self._lease: AsyncLease | None = None
        self._key: bytes | None = None
        self._revision: int | None = None
        self._held = False
        self._busy = False
        self._waiting: AsyncWatch | None = None

    @property
    def key(self) -> bytes | None:
        return self._key

    @property
    def revision(self) -> int | None:
        return self._revision

    def is_held(self) -> bool:
        return self._held

    async def acquire(self, timeout: float | None | object = _DEFAULT) -> bool:
        wait = check_timeout(self.timeout if timeout is _DEFAULT else timeout, "timeout")
        if self._busy:
            raise RuntimeError(f"lock {self.name!r} is already held or being acquired by this Lock")
        self._busy = True
        self._client._live_locks.add(self)
        deadline = None if wait is None else time.monotonic() + wait
        try:
            if await self._try(deadline, wait == 0):
                return True
        except BaseException:
            await self._give_up()
            raise
        await self._give_up()
        return False

    async def _try(self, deadline: float | None, once: bool) -> bool:
        client = self._client
        lease = await client.grant(self.ttl)
        self._lease = lease
        lease.on_lost(self._lease_lost)
        self._key = recipe.lock_key(self.name, lease.id)
        resp: rpc_pb2.TxnResponse = await client._unary(
            lambda s: s.kv.Txn, recipe.acquire_txn(self.name, lease.id)
        )
        outcome = recipe.acquire_outcome(resp)
        self._revision = outcome.my_revision
        if not outcome.owned:
            if once or not await self._wait_for_predecessors(outcome.my_revision, deadline):
                return False
            if not await client.get(self._key):
                return False
        if not lease.is_alive():
            return False
        self._held = True
        return True

    async def _wait_for_predecessors(self, my_revision: int, deadline: float | None) -> bool:
        while True:
            resp: rpc_pb2.RangeResponse = await self._client._unary(
                lambda s: s.kv.Range, recipe.predecessor_request(self.name, my_revision)
            )
            found = recipe.predecessor(resp)
            if found is None:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if not await self._wait_delete(found, remaining):
                return False

    async def _wait_delete(self, found: recipe.Predecessor, remaining: float | None) -> bool:
        watch = self._client.watch(found.key, start_revision=found.watch_from, filters=("NOPUT",), timeout=remaining)
        self._waiting = watch
        try:
            await watch.start()
            if self._lease is None or not self._lease.is_alive():
                return False
            async for event in watch:
                if event.type == "DELETE":
                    return True
            return False
        except WatchTimeout:
            return False
        finally:
            self._waiting = None
            watch.close()

    def _lease_lost(self, lease: AsyncLease) -> None:
        was_held = self._held
        self._held = False
        if self._waiting is not None:
            self._waiting.close()
        if was_held and self._on_lost is not None:
            self._on_lost(self)

    async def _give_up(self) -> None:
        lease, key = self._lease, self._key
        self._lease = None
        self._held = False
        try:
            if key is not None and lease is not None:
                cmp = rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.LEASE, result=rpc_pb2.Compare.EQUAL, lease=lease.id)
                op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))
                await self._client._unary(lambda s: s.kv.Txn, rpc_pb2.TxnRequest(compare=[cmp], success=[op]))
            if lease is not None:
                await lease.revoke()
        except EtcdError:
            pass
        finally:
            self._key = None
            self._busy = False
            self._client._live_locks.discard(self)

    async def release(self) -> None:
        if not self._busy or self._lease is None:
            raise RuntimeError(f"lock {self.name!r} is not held by this Lock")
        await self._give_up()

    async def __aenter__(self) -> AsyncLock:
        if not await self.acquire():
            raise LockTimeout(f"lock {self.name!r} not acquired within {self.timeout} s")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()

    def __repr__(self) -> str:
        return f"AsyncLock(name={self.name!r}, held={self._held}, revision={self._revision})"
