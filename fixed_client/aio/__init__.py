"""asyncio flavour of fixed_client: the same verbs as coroutines and async iterators."""

from fixed_client.aio.client import AsyncClient
from fixed_client.aio.lease import AsyncLease
from fixed_client.aio.lock import AsyncLock
from fixed_client.aio.watch import AsyncWatch

__all__ = ["AsyncClient", "AsyncLease", "AsyncLock", "AsyncWatch"]
