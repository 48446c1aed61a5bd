"""The distributed lock (sync), etcd's concurrency.Mutex; the recipe itself lives in core.lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from fixed_client.core import lock as recipe
from fixed_client.core.requests import check_timeout
from fixed_client.errors import EtcdError, LockTimeout, WatchTimeout
from fixed_client.proto import rpc_pb2

if TYPE_CHECKING:
    from fixed_client.sync.client import Client
    from fixed_client.sync.lease import Lease
    from fixed_client.sync.watch import Watch

_DEFAULT = object()


class Lock:
    """``acquire(timeout)`` -> bool (None waits forever, 0 tries once); ``release()``; a context manager
    raising LockTimeout when not acquired within the lock's default timeout."""

    def __init__(
        self,
        client: Client,
        name: bytes,
        ttl: int,
        timeout: float | None,
        on_lost: Callable[[Lock], None] | None,
    ) -> None:
        self.name = name
        self.ttl = ttl
        self.timeout = timeout
        self._client = client
        self._on_lost = on_lost
        self._mutex = threading.Lock()
        self._lease: Lease | None = None
        self._key: bytes | None = None
        self._revision: int | None = None
        self._held = False
        self._busy = False  # acquire in progress or held
        self._waiting: Watch | None = None

    @property
    def key(self) -> bytes | None:
        """This lock's key ``<name>/<lease id hex>`` while acquiring or held."""
        return self._key

    @property
    def revision(self) -> int | None:
        """The key's create revision: a fencing token that only grows between holders."""
        return self._revision

    def is_held(self) -> bool:
        return self._held

    def acquire(self, timeout: float | None | object = _DEFAULT) -> bool:
        wait = self.timeout if timeout is _DEFAULT else timeout
        wait = check_timeout(wait, "timeout")
        with self._mutex:
            if self._busy:
                raise RuntimeError(f"lock {self.name!r} is already held or being acquired by this Lock")
            self._busy = True
            self._client._live_locks.add(self)
        deadline = None if wait is None else time.monotonic() + wait
        try:
            if self._try(deadline, wait == 0):
                return True
        except BaseException:
            self._give_up()
            raise
        self._give_up()
        return False

    def _try(self, deadline: float | None, once: bool) -> bool:
        client = self._client
        lease = client.grant(self.ttl)
        self._lease = lease
        lease.on_lost(self._lease_lost)
        self._key = recipe.lock_key(self.name, lease.id)
        resp: rpc_pb2.TxnResponse = client._unary(lambda s: s.kv.Txn, recipe.acquire_txn(self.name, lease.id))
        outcome = recipe.acquire_outcome(resp)
        self._revision = outcome.my_revision
        if not outcome.owned:
            if once or not self._wait_for_predecessors(outcome.my_revision, deadline):
                return False
            if not client.get(self._key):  # our key is gone: the lease expired while we waited
                return False
        if not lease.is_alive():
            return False
        self._held = True
        return True

    def _wait_for_predecessors(self, my_revision: int, deadline: float | None) -> bool:
        while True:
            resp: rpc_pb2.RangeResponse = self._client._unary(
                lambda s: s.kv.Range, recipe.predecessor_request(self.name, my_revision)
            )
            found = recipe.predecessor(resp)
            if found is None:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if not self._wait_delete(found, remaining):
                return False

    def _wait_delete(self, found: recipe.Predecessor, remaining: float | None) -> bool:
        """Block until the predecessor's key is deleted (True) or time runs out / the lease is lost."""
        watch = self._client.watch(found.key, start_revision=found.watch_from, filters=("NOPUT",), timeout=remaining)
        with self._mutex:
            self._waiting = watch
            lost = self._lease is None or not self._lease.is_alive()
        try:
            if lost:
                return False
            for event in watch:
                if event.type == "DELETE":
                    return True
            return False  # closed because the lease was lost
        except WatchTimeout:
            return False
        finally:
            with self._mutex:
                self._waiting = None
            watch.close()

    def _lease_lost(self, lease: Lease) -> None:
        with self._mutex:
            was_held = self._held
            self._held = False
            waiting = self._waiting
        if waiting is not None:
            waiting.close()
        if was_held and self._on_lost is not None:
            self._on_lost(self)

    def _give_up(self) -> None:
        """Remove every trace: key, watch, lease. Best effort; the lease TTL is the last resort."""
        lease, key = self._lease, self._key
        self._lease = None
        self._held = False
        try:
            if key is not None and lease is not None:
                # Only our own key: it carries our lease (a lost lease's key is deleted by etcd).
                cmp = rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.LEASE, result=rpc_pb2.Compare.EQUAL, lease=lease.id)
                op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))
                self._client._unary(lambda s: s.kv.Txn, rpc_pb2.TxnRequest(compare=[cmp], success=[op]))
            if lease is not None:
                lease.revoke()
        except EtcdError:
            pass
        finally:
            self._key = None
            with self._mutex:
                self._busy = False
                self._client._live_locks.discard(self)

    def release(self) -> None:
        """Delete the key and revoke the lease; RuntimeError if this Lock was not acquired."""
        with self._mutex:
            if not self._busy or self._lease is None:
                raise RuntimeError(f"lock {self.name!r} is not held by this Lock")
        self._give_up()

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise LockTimeout(f"lock {self.name!r} not acquired within {self.timeout} s")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lock(name={self.name!r}, held={self._held}, revision={self._revision})"

