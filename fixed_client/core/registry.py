"""Stream registry: one entry per StreamKey, removed under the very key object it was stored with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from fixed_client.core.keys import StreamKey


class Keyed(Protocol):
    @property
    def stream_key(self) -> StreamKey: ...


S = TypeVar("S", bound=Keyed)


class StreamRegistry(Generic[S]):
    def __init__(self) -> None:
        self._streams: dict[StreamKey, S] = {}

    def get_or_add(self, key: StreamKey, factory: Callable[[StreamKey], S]) -> tuple[S, bool]:
        """The stream for ``key``, creating it with ``factory(key)`` if absent; True when created.

        The factory receives the key object itself and must keep it as ``stream_key``: removal
        uses that object, so it can never compute a different key from the one stored.
        """
        stream = self._streams.get(key)
        if stream is not None:
            return stream, False
        stream = factory(key)
        if stream.stream_key is not key:
            raise ValueError("stream factory must keep the key object it was given")
        self._streams[key] = stream
        return stream, True

    def remove(self, stream: S) -> bool:
        """Remove ``stream`` under the key it was stored with; False if another stream holds that key."""
        key = stream.stream_key
        if self._streams.get(key) is stream:
            del self._streams[key]
            return True
        return False

    def get(self, key: StreamKey) -> S | None:
        return self._streams.get(key)

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[S]:
        return iter(list(self._streams.values()))
