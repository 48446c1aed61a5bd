"""Plain result types: KeyValue, Event, and the list a get returns."""

from __future__ import annotations

from typing import Literal, NamedTuple


class KeyValue(NamedTuple):
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


class Event(NamedTuple):
    type: Literal["PUT", "DELETE"]
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    prev_kv: KeyValue | None


class RangeResult(list[KeyValue]):
    """The KeyValues a get returned, plus ``revision`` (the store revision read), ``total`` (keys in the
    range, ignoring ``limit``) and ``more`` (a limit cut the result short)."""

    def __init__(self, kvs: list[KeyValue], revision: int, total: int, more: bool) -> None:
        super().__init__(kvs)
        self.revision = revision
        self.total = total
        self.more = more


class TxnResult(NamedTuple):
    """``succeeded`` tells which branch ran; ``responses`` holds one item per op: a RangeResult for a get,
    the new revision (int) for a put, the deleted count (int) for a delete, a TxnResult for a nested txn."""

    succeeded: bool
    responses: list[RangeResult | int | TxnResult]
    revision: int
