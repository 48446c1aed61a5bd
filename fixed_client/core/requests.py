"""Input validation and request builders shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Iterable

from fixed_client.proto import rpc_pb2

FILTERS = ("NOPUT", "NODELETE")  # WatchCreateRequest.FilterType names (protobuf accepts enum names)


def to_bytes(value: object, name: str) -> bytes:
    """``value`` as bytes (str is UTF-8 encoded); TypeError naming ``name`` otherwise."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{name} must be bytes or str, not {type(value).__name__}")


def check_int(value: object, name: str, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``: TypeError for a non-int, ValueError below the minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_revision(value: object, name: str = "revision") -> int:
    return check_int(value, name, 0)


def check_timeout(value: object, name: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def prefix_end(key: bytes) -> bytes:
    """The range_end that selects every key starting with ``key`` (b"\\0" = to the end of the keyspace)."""
    stripped = key.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def range_end_for(key: bytes, prefix: bool) -> bytes:
    return prefix_end(key) if prefix else b""


def lease_id(lease: object) -> int:
    """A lease argument (None, an int id, or an object with an int ``id``) as an id (0 = none)."""
    if lease is None:
        return 0
    value = getattr(lease, "id", lease)
    return check_int(value, "lease", 0)


def range_request(
    key: object, prefix: bool = False, revision: object = None, limit: object = None, keys_only: bool = False
) -> rpc_pb2.RangeRequest:
    raw = to_bytes(key, "key")
    rev = 0 if revision is None else check_revision(revision, "revision")
    lim = 0 if limit is None else check_int(limit, "limit", 0)
    return rpc_pb2.RangeRequest(
        key=raw, range_end=range_end_for(raw, prefix), revision=rev, limit=lim, keys_only=bool(keys_only)
    )


def put_request(key: object, value: object, lease: object = None) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(key=to_bytes(key, "key"), value=to_bytes(value, "value"), lease=lease_id(lease))


def delete_request(key: object, prefix: bool = False) -> rpc_pb2.DeleteRangeRequest:
    raw = to_bytes(key, "key")
    return rpc_pb2.DeleteRangeRequest(key=raw, range_end=range_end_for(raw, prefix))


def filter_names(filters: Iterable[object]) -> tuple[str, ...]:
    if isinstance(filters, (str, bytes)):
        filters = (filters,)
    names: list[str] = []
    for item in filters:
        if not isinstance(item, str) or item.upper() not in FILTERS:
            raise ValueError(f"filters must hold 'NOPUT' or 'NODELETE', got {item!r}")
        names.append(item.upper())
    return tuple(names)
