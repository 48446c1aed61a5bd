"""Watch semantics of fixed_client's sync Client against a real etcd (issue 3, items 3 and 7)."""

from __future__ import annotations

import threading
import time

import pytest

from etcd_harness import EtcdServer, wait_until
from fixed_client import Client, CompactedError, Event, WatchTimeout

pytestmark = pytest.mark.timeout(60)


def collect(w: object, count: int) -> list[Event]:
    """The first `count` events of a watch (its own timeout bounds the wait)."""
    events: list[Event] = []
    for event in w:  # type: ignore[attr-defined]
        events.append(event)
        if len(events) == count:
            break
    return events


def test_prefix_watch_sees_puts_and_deletes_in_order(client: Client, prefix: str) -> None:
    with client.watch(prefix, prefix=True, timeout=20) as w:
        first = client.put(prefix + "a", "1")
        client.put(prefix + "b", b"2")
        client.put(prefix.rstrip("/") + "-outside", "x")  # shares the text, not the prefix
        client.delete(prefix + "a")
        events = collect(w, 3)
    assert [(e.type, e.key, e.value) for e in events] == [
        ("PUT", (prefix + "a").encode(), b"1"),
        ("PUT", (prefix + "b").encode(), b"2"),
        ("DELETE", (prefix + "a").encode(), b""),
    ]
    assert events[0].mod_revision == first
    assert events[0].create_revision == first and events[0].version == 1
    assert [e.mod_revision for e in events] == sorted({e.mod_revision for e in events})


def test_single_key_watch_ignores_longer_keys(client: Client, prefix: str) -> None:
    key = prefix + "k"
    with client.watch(key, timeout=20) as w:
        client.put(key + "2", "no")
        client.put(key, "yes")
        [event] = collect(w, 1)
    assert event.key == key.encode() and event.value == b"yes"


def test_prev_kv_carries_the_previous_value(client: Client, prefix: str) -> None:
    key = prefix + "k"
    client.put(key, "old")
    with client.watch(key, prev_kv=True, timeout=20) as w:
        client.put(key, "new")
        client.delete(key)
        put, delete = collect(w, 2)
    assert put.value == b"new" and put.prev_kv is not None and put.prev_kv.value == b"old"
    assert delete.type == "DELETE" and delete.prev_kv is not None and delete.prev_kv.value == b"new"
    assert put.version == 2


def test_without_prev_kv_there_is_none(client: Client, prefix: str) -> None:
    key = prefix + "k"
    client.put(key, "old")
    with client.watch(key, timeout=20) as w:
        client.put(key, "new")
        [event] = collect(w, 1)
    assert event.prev_kv is None


@pytest.mark.parametrize(("filters", "expected"), [(("NOPUT",), "DELETE"), (("NODELETE",), "PUT")])
def test_filters_drop_one_event_type(client: Client, prefix: str, filters: tuple[str, ...], expected: str) -> None:
    with client.watch(prefix, prefix=True, filters=filters, timeout=20) as w:
        for i in range(3):
            client.put(f"{prefix}{i}", "v")
            client.delete(f"{prefix}{i}")
        events = collect(w, 3)
    assert {e.type for e in events} == {expected}
    assert [e.key for e in events] == [f"{prefix}{i}".encode() for i in range(3)]


def test_history_from_a_start_revision(client: Client, prefix: str) -> None:
    revisions = [client.put(f"{prefix}{i}", str(i)) for i in range(10)]
    with client.watch(prefix, prefix=True, start_revision=revisions[3], timeout=20) as w:
        client.put(prefix + "live", "after")
        events = collect(w, 8)
    assert [e.mod_revision for e in events[:7]] == revisions[3:]
    assert [e.value for e in events[:7]] == [str(i).encode() for i in range(3, 10)]
    assert events[7].key == (prefix + "live").encode()
    assert w.revision == events[7].mod_revision


def test_history_replay_of_many_events_is_complete(client: Client, prefix: str) -> None:
    # More than one server batch (etcd sends at most 1,000 revisions at a time).
    start = client.put(prefix + "first", "0")
    for i in range(1, 2500):
        client.put(prefix + str(i % 50), str(i))
    with client.watch(prefix, prefix=True, start_revision=start, timeout=40) as w:
        events = collect(w, 2500)
    assert [e.mod_revision for e in events] == list(range(start, start + 2500))


def test_revision_advances_with_events(client: Client, prefix: str) -> None:
    with client.watch(prefix, prefix=True, timeout=20) as w:
        rev = client.put(prefix + "a", "1")
        collect(w, 1)
        assert w.revision == rev


def test_progress_notify_advances_revision_without_events(etcd: EtcdServer, client: Client, prefix: str) -> None:
    # tests/conftest.py starts etcd with a 1 s progress-notify interval.
    with client.watch(prefix + "quiet", progress_notify=True, timeout=20) as w:
        elsewhere = client.put(prefix + "elsewhere", "x")
        assert wait_until(lambda: w.revision >= elsewhere, timeout=8), (w.revision, elsewhere)


def test_request_progress_keeps_every_watch_intact(client: Client, prefix: str) -> None:
    # The answer is broadcast with watch_id -1 to every watch of the stream. On etcd 3.4.23 it is not
    # ordered with pending events (etcd#15220), so it must not move a watch past undelivered events;
    # what must hold is that no watch is dropped or confused by it and none repeats or loses events.
    with client.watch(prefix + "a", timeout=20) as wa, client.watch(prefix + "b", timeout=20) as wb:
        for i in range(5):
            client.request_progress()
            ra = client.put(prefix + "a", str(i))
            rb = client.put(prefix + "b", str(i))
            [ea] = collect(wa, 1)
            [eb] = collect(wb, 1)
            assert (ea.mod_revision, eb.mod_revision) == (ra, rb)
            assert wa.revision >= ra and wb.revision >= rb
        assert client.watcher_count() == 2
    client.request_progress()  # with no watch open: nothing to do, no error


def test_leaving_a_watch_cancels_it_on_the_server(etcd: EtcdServer, client: Client, prefix: str) -> None:
    baseline = etcd.settled("watchers")
    with client.watch(prefix, prefix=True) as w1, client.watch(prefix + "x") as w2:
        assert client.watcher_count() == 2 and client.watch_stream_count() == 1
        assert etcd.wait_for("watchers", baseline + 2) == baseline + 2
        del w1, w2
    assert client.watcher_count() == 0 and client.watch_stream_count() == 0
    assert etcd.wait_for("watchers", baseline, timeout=3) == baseline
    assert etcd.wait_for("watch_streams", 0, timeout=3) == 0


def test_one_watch_cancelled_the_other_keeps_going(client: Client, prefix: str) -> None:
    with client.watch(prefix + "b", timeout=20) as kept:
        with client.watch(prefix + "a", timeout=20):
            pass
        assert client.watcher_count() == 1
        rev = client.put(prefix + "b", "v")
        [event] = collect(kept, 1)
    assert event.mod_revision == rev


def test_timeout_delivers_received_events_then_raises(etcd: EtcdServer, client: Client, prefix: str) -> None:
    baseline = etcd.settled("watchers")
    got: list[Event] = []
    started = time.monotonic()
    with pytest.raises(WatchTimeout) as raised:
        with client.watch(prefix, prefix=True, timeout=2.0) as w:
            for i in range(3):
                client.put(f"{prefix}{i}", "v")
            time.sleep(2.5)  # the deadline passes with three events received but not yet consumed
            for event in w:
                got.append(event)
    elapsed = time.monotonic() - started
    assert isinstance(raised.value, TimeoutError)
    assert [e.key for e in got] == [f"{prefix}{i}".encode() for i in range(3)]
    assert elapsed < 6
    assert client.watcher_count() == 0
    assert etcd.wait_for("watchers", baseline, timeout=2) == baseline


def test_timeout_while_waiting_for_events(client: Client, prefix: str) -> None:
    started = time.monotonic()
    with pytest.raises(WatchTimeout):
        with client.watch(prefix, timeout=1.0) as w:
            for _ in w:
                pass
    assert 0.9 <= time.monotonic() - started < 4


def test_timeout_does_not_change_the_stream(client: Client, prefix: str) -> None:
    # The deadline is not part of the stream key: watches with different timeouts share a stream.
    with client.watch(prefix + "a", timeout=5), client.watch(prefix + "b", timeout=7.5), client.watch(prefix + "c"):
        assert client.watch_stream_count() == 1
        assert client.watcher_count() == 3


def test_metadata_picks_the_stream(client: Client, prefix: str) -> None:
    with client.watch(prefix + "a"), client.watch(prefix + "b", metadata=[("x-team", "blue")]):
        with client.watch(prefix + "c", metadata=[("x-team", "blue")]):
            assert client.watch_stream_count() == 2
    assert client.watch_stream_count() == 0


def test_compacted_start_revision_raises_with_the_compact_revision(client: Client, prefix: str) -> None:
    old = client.put(prefix + "k", "1")
    client.put(prefix + "k", "2")
    latest = client.put(prefix + "k", "3")
    client.compact(latest)
    with pytest.raises(CompactedError) as raised:
        with client.watch(prefix + "k", start_revision=old, timeout=10) as w:
            for _ in w:
                pass
    assert raised.value.compact_revision == latest
    assert client.watcher_count() == 0


def test_many_concurrent_watches_from_threads_share_one_stream(etcd: EtcdServer, client: Client, prefix: str) -> None:
    baseline = etcd.settled("watchers")
    results: dict[int, int] = {}
    ready = threading.Barrier(21)

    def one(i: int) -> None:
        with client.watch(f"{prefix}{i}", timeout=20) as w:
            ready.wait(timeout=15)
            results[i] = collect(w, 1)[0].mod_revision

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    ready.wait(timeout=15)
    assert client.watch_stream_count() == 1
    revs = {i: client.put(f"{prefix}{i}", "v") for i in range(20)}
    for t in threads:
        t.join(timeout=20)
    assert results == revs
    assert client.watcher_count() == 0
    assert etcd.wait_for("watchers", baseline, timeout=3) == baseline


def test_client_timeout_bounds_unary_calls_only(etcd: EtcdServer, prefix: str) -> None:
    with Client([etcd.endpoint], timeout=1.0) as c:
        lease = c.grant(2)
        with c.watch(prefix, prefix=True) as w:
            time.sleep(3.5)  # well past the unary timeout: neither the Watch nor KeepAlive stream ends
            rev = c.put(prefix + "k", "v", lease=lease)
            [event] = collect(w, 1)
            assert event.mod_revision == rev
        assert c.get(prefix + "k")[0].lease == lease.id
        lease.revoke()


def test_close_with_open_watches_frees_the_server(etcd: EtcdServer, prefix: str) -> None:
    baseline_watchers, baseline_streams = etcd.settled("watchers"), etcd.settled("watch_streams")
    c = Client([etcd.endpoint])
    w1 = c.watch(prefix + "a")
    w2 = c.watch(prefix + "b", metadata=[("x-team", "red")])
    assert etcd.wait_for("watchers", baseline_watchers + 2) == baseline_watchers + 2
    c.close()
    assert etcd.wait_for("watchers", baseline_watchers, timeout=3) == baseline_watchers
    assert etcd.wait_for("watch_streams", baseline_streams, timeout=3) == baseline_streams
    assert c.watch_stream_count() == 0
    del w1, w2


def test_threads_iterating_watches_of_one_stream_each_get_theirs(client: Client, prefix: str) -> None:
    """Without a timeout each iterating thread may read the shared stream itself (one at a time);
    events for the others are handed to them, and a watch nobody iterates still gets its events."""
    names = ["t0", "t1", "t2", "idle"]
    per_name = 150
    watches = {n: client.watch(f"{prefix}{n}/", prefix=True) for n in names}
    assert client.watch_stream_count() == 1
    seen: dict[str, list[Event]] = {n: [] for n in names}

    def iterate(name: str) -> None:
        for event in watches[name]:
            seen[name].append(event)
            if len(seen[name]) == per_name:
                return

    threads = [threading.Thread(target=iterate, args=(n,), daemon=True) for n in names[:3]]
    for t in threads:
        t.start()
    written: dict[str, list[int]] = {n: [] for n in names}
    for i in range(per_name * len(names)):
        name = names[i % len(names)]
        written[name].append(client.put(f"{prefix}{name}/{i}", str(i)))
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), {n: len(e) for n, e in seen.items()}
    iterate("idle")  # its events were read for it while the others iterated
    for name in names:
        assert [e.mod_revision for e in seen[name]] == written[name], name
        watches[name].close()
    assert client.watcher_count() == 0


class Interrupted(Exception):
    pass


def test_interrupted_iteration_loses_and_repeats_nothing(client: Client, prefix: str) -> None:
    """An exception raised into the thread blocked in ``next(w)`` (here a signal handler's), whether
    it was reading the stream itself (grpcio's receive is then left pending, so the stream is
    reopened) or waiting for the owner thread: iteration goes on with every later event once."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with client.watch(prefix, prefix=True) as w:
            written: list[int] = []
            seen: list[int] = []
            for round_ in range(4):
                revisions = [client.put(f"{prefix}{round_}/{i}", "v") for i in range(3)]
                written += revisions
                seen += [next(w).mod_revision for _ in revisions]
                timer = threading.Timer(0.3, signal.pthread_kill, args=(threading.get_ident(), signal.SIGUSR1))
                timer.start()
                with pytest.raises(Interrupted):
                    next(w)  # blocks: nothing more was written
                timer.join()
            last = client.put(prefix + "last", "x")
            written.append(last)
            while not seen or seen[-1] != last:
                seen.append(next(w).mod_revision)
            assert seen == written
    finally:
        signal.signal(signal.SIGUSR1, previous)
