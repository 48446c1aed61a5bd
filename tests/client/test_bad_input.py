"""Bad input gets a clear error and loses nothing (issue 3, item 9), sync and asyncio."""

from __future__ import annotations

import time

import pytest

from etcd_harness import EtcdServer, free_port, run_async
from fixed_client import Client, EtcdConnectionError
from fixed_client.aio import AsyncClient

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.put(123, "v"), "key"),
        (lambda c: c.put("k", 4.5), "value"),
        (lambda c: c.get(["k"]), "key"),
        (lambda c: c.delete(None), "key"),
        (lambda c: c.watch(object()), "key"),
        (lambda c: c.lock(7), "name"),
    ],
)
def test_wrong_key_type_is_a_type_error_naming_the_argument(client: Client, call: object, argument: str) -> None:
    with pytest.raises(TypeError, match=argument):
        call(client)  # type: ignore[operator]


@pytest.mark.parametrize(
    "call",
    [
        lambda c, p: c.get(p, revision=-1),
        lambda c, p: c.compact(-5),
        lambda c, p: c.watch(p, start_revision=-1),
    ],
)
def test_negative_revision_is_a_value_error(client: Client, prefix: str, call: object) -> None:
    with pytest.raises(ValueError, match="revision"):
        call(client, prefix)  # type: ignore[operator]
    assert client.watcher_count() == 0


def test_bad_filter_is_a_value_error(client: Client, prefix: str) -> None:
    with pytest.raises(ValueError, match="NOPUT"):
        client.watch(prefix, filters=("NOTHING",))


def test_a_rejected_call_loses_nothing(client: Client, prefix: str) -> None:
    rev = client.put(prefix + "k", "kept")
    with pytest.raises(TypeError):
        client.put(prefix + "k", 3.5)
    [kv] = client.get(prefix + "k")
    assert (kv.value, kv.mod_revision) == (b"kept", rev)


def unreachable_endpoints() -> list[str]:
    return [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]


def test_unreachable_endpoints_raise_naming_them_within_the_timeout() -> None:
    endpoints = unreachable_endpoints()
    started = time.monotonic()
    with pytest.raises(EtcdConnectionError) as raised:
        with Client(endpoints, timeout=1.0) as c:
            c.put("k", "v")
    elapsed = time.monotonic() - started
    assert isinstance(raised.value, ConnectionError)
    assert all(e in str(raised.value) for e in endpoints), str(raised.value)
    assert elapsed < 1.0 + 1.5, elapsed


def test_unreachable_endpoints_async() -> None:
    endpoints = unreachable_endpoints()

    async def body() -> float:
        started = time.monotonic()
        with pytest.raises(EtcdConnectionError) as raised:
            async with AsyncClient(endpoints, timeout=1.0) as c:
                await c.get("k")
        assert all(e in str(raised.value) for e in endpoints), str(raised.value)
        return time.monotonic() - started

    assert run_async(body()) < 1.0 + 1.5


def test_oversized_response_names_max_message_bytes(etcd: EtcdServer, prefix: str) -> None:
    with Client([etcd.endpoint]) as writer:
        for i in range(8):
            writer.put(f"{prefix}{i}", b"x" * 100_000)
    with Client([etcd.endpoint], max_message_bytes=256 * 1024) as small:
        with pytest.raises(Exception, match="max_message_bytes") as raised:
            small.get(prefix, prefix=True)
        assert not isinstance(raised.value, (TypeError, ValueError))
        assert len(small.get(prefix, prefix=True, keys_only=True)) == 8  # the client still works
        assert len(small.get(prefix + "0")[0].value) == 100_000


def test_oversized_watch_batch_still_arrives_in_fragments(prefix: str) -> None:
    # A fragmenting watch gets responses split at etcd's --max-request-bytes plus 512 KiB of gRPC
    # overhead: about 700 kB here. Replaying 10 x 150 kB puts (one 1.5 MB batch) reaches a client
    # with a 1 MiB limit only because the client asks for fragments and reassembles them.
    with EtcdServer(extra_args=["--max-request-bytes=200000"]) as server:
        with Client([server.endpoint]) as writer:
            revs = [writer.put(f"{prefix}{i}", bytes([65 + i]) * 150_000) for i in range(10)]
        with Client([server.endpoint], max_message_bytes=1024 * 1024) as small:
            got = []
            with small.watch(prefix, prefix=True, start_revision=revs[0], timeout=20) as w:
                for event in w:
                    got.append((event.mod_revision, event.value[:1], len(event.value)))
                    if len(got) == 10:
                        break
            with pytest.raises(Exception, match="max_message_bytes"):  # the same data unfragmented
                small.get(prefix, prefix=True)
    assert got == [(rev, bytes([65 + i]), 150_000) for i, rev in enumerate(revs)]


def test_oversized_response_async(etcd: EtcdServer, prefix: str) -> None:
    with Client([etcd.endpoint]) as writer:
        for i in range(8):
            writer.put(f"{prefix}{i}", b"y" * 100_000)

    async def body() -> None:
        async with AsyncClient([etcd.endpoint], max_message_bytes=256 * 1024) as small:
            with pytest.raises(Exception, match="max_message_bytes"):
                await small.get(prefix, prefix=True)

    run_async(body())


def test_async_type_and_value_errors(etcd: EtcdServer) -> None:
    async def body() -> None:
        async with AsyncClient([etcd.endpoint]) as c:
            with pytest.raises(TypeError, match="key"):
                await c.put(1, "v")
            with pytest.raises(ValueError, match="revision"):
                await c.get("k", revision=-1)

    run_async(body())
