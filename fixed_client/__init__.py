"""fixed_client: an etcd v3 client whose watch streams are keyed by stable metadata.

    from fixed_client import Client
    with Client(["127.0.0.1:2379"]) as client:
        client.put("/k", "v")
        with client.watch("/k", timeout=10) as w:
            for event in w: ...

``fixed_client.aio.AsyncClient`` offers the same verbs as coroutines; ``fixed_client.ops`` builds
txn compares and operations.
"""

from fixed_client.errors import (
    CompactedError,
    EtcdConnectionError,
    LockTimeout,
    WatchCanceledError,
    WatchTimeout,
)
from fixed_client.sync.client import Client
from fixed_client.sync.lease import Lease
from fixed_client.sync.lock import Lock
from fixed_client.types import Event, KeyValue

__all__ = [
    "Client",
    "CompactedError",
    "EtcdConnectionError",
    "Event",
    "KeyValue",
    "Lease",
    "Lock",
    "LockTimeout",
    "WatchCanceledError",
    "WatchTimeout",
]
