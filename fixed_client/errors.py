"""Exceptions raised by fixed_client (sync and asyncio)."""

from __future__ import annotations

from collections.abc import Sequence


class EtcdError(Exception):
    """An error reported by etcd or by the client's handling of a response."""


class EtcdConnectionError(EtcdError, ConnectionError):
    """No endpoint answered within the client's timeout; names the endpoints tried."""

    def __init__(self, endpoints: Sequence[str], detail: str = "") -> None:
        self.endpoints = tuple(endpoints)
        tail = f": {detail}" if detail else ""
        super().__init__(f"cannot reach etcd at {', '.join(self.endpoints)}{tail}")


class CompactedError(EtcdError):
    """The requested revision has been compacted; ``compact_revision`` is the oldest one kept (0 if unknown)."""

    def __init__(self, compact_revision: int, detail: str = "") -> None:
        self.compact_revision = compact_revision
        super().__init__(detail or f"revision compacted; oldest available revision is {compact_revision}")


class WatchCanceledError(EtcdError):
    """The server cancelled a watch; ``reason`` is its cancel_reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"watch cancelled by the server: {reason}")


class WatchTimeout(EtcdError, TimeoutError):
    """A watch's total deadline passed (events received before it were delivered first)."""


class LockTimeout(EtcdError, TimeoutError):
    """A lock was not acquired in time (raised by the lock's context manager)."""


class MessageTooLargeError(EtcdError):
    """A response exceeded the client's receive limit, ``max_message_bytes``."""

    def __init__(self, limit: int, detail: str) -> None:
        self.limit = limit
        super().__init__(
            f"response larger than max_message_bytes={limit} ({detail}); "
            "raise Client(max_message_bytes=...) or narrow the request"
        )


class LeaseLostError(EtcdError):
    """A lease expired or was revoked while still in use."""
