"""Stream keys are canonical metadata only; registry entries leave under the key they were stored with."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fixed_client.core.keys import StreamKey, stream_key
from fixed_client.core.registry import StreamRegistry


@dataclass(eq=False)
class FakeStream:
    stream_key: StreamKey


def test_no_metadata_is_one_shared_key() -> None:
    assert stream_key(None) == stream_key({}) == stream_key([]) == StreamKey()


def test_order_and_case_do_not_matter() -> None:
    a = stream_key([("X-Team", "blue"), ("region", "eu")])
    b = stream_key({"region": "eu", "x-team": "blue"})
    assert a == b and hash(a) == hash(b)
    assert a.pairs == (("region", "eu"), ("x-team", "blue"))


def test_different_values_are_different_streams() -> None:
    assert stream_key({"x": "1"}) != stream_key({"x": "2"})
    assert stream_key([("x", "1"), ("x", "2")]) == stream_key([("x", "2"), ("x", "1")])


@pytest.mark.parametrize(
    "bad", ["x=1", [("x",)], [(1, "v")], [("x", 3.5)], [object()]]
)
def test_bad_metadata_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="metadata"):
        stream_key(bad)  # type: ignore[arg-type]


def test_registry_removes_under_the_stored_key_object() -> None:
    registry: StreamRegistry[FakeStream] = StreamRegistry()
    key = stream_key({"x": "1"})
    stream, created = registry.get_or_add(key, FakeStream)
    again, created_again = registry.get_or_add(stream_key([("x", "1")]), FakeStream)
    assert created and not created_again and again is stream
    assert stream.stream_key is key
    assert len(registry) == 1
    assert registry.remove(stream) and len(registry) == 0
    assert not registry.remove(stream)


def test_a_retired_stream_never_removes_its_successor() -> None:
    registry: StreamRegistry[FakeStream] = StreamRegistry()
    old, _ = registry.get_or_add(stream_key(None), FakeStream)
    registry.remove(old)
    new, created = registry.get_or_add(stream_key(None), FakeStream)
    assert created and new is not old
    assert not registry.remove(old)
    assert registry.get(stream_key(None)) is new


def test_factory_must_keep_the_key_object() -> None:
    registry: StreamRegistry[FakeStream] = StreamRegistry()
    with pytest.raises(ValueError, match="key object"):
        registry.get_or_add(stream_key(None), lambda key: FakeStream(StreamKey(key.pairs)))
    assert len(registry) == 0
