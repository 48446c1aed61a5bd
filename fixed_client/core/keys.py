"""The stream registry key: the canonical outgoing metadata, nothing else.

Two watch calls share a gRPC stream exactly when their metadata is equal. A deadline, timeout, context
or any object's text never enters the key: those change between the call that stores an entry and the
call that removes it (the etcd v3.1 leak).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MetadataValue = str | bytes
MetadataInput = Mapping[str, MetadataValue] | Iterable[tuple[str, MetadataValue]] | None


@dataclass(frozen=True)
class StreamKey:
    """Sorted (name, value) pairs; names lower-cased as gRPC sends them."""

    pairs: tuple[tuple[str, MetadataValue], ...] = ()


def stream_key(metadata: MetadataInput) -> StreamKey:
    """Canonical key for ``metadata`` (a mapping or pairs); raises TypeError for anything else."""
    if metadata is None:
        return StreamKey()
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    if isinstance(items, (str, bytes)):
        raise TypeError("metadata must be a mapping or (name, value) pairs, not str/bytes")
    pairs: list[tuple[str, MetadataValue]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"metadata items must be (name, value) pairs, not {type(item).__name__}")
        name, value = item
        if not isinstance(name, str):
            raise TypeError(f"metadata names must be str, not {type(name).__name__}")
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"metadata value for {name!r} must be str or bytes, not {type(value).__name__}")
        pairs.append((name.lower(), value))
    pairs.sort(key=_sort_key)
    return StreamKey(tuple(pairs))


def _sort_key(pair: tuple[str, MetadataValue]) -> tuple[str, bytes]:
    name, value = pair
    return name, value.encode() if isinstance(value, str) else value
