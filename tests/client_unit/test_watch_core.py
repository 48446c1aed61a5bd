"""The sans-IO watch state machine, driven with canned etcd responses (no server)."""

from __future__ import annotations

import pytest
from client_unit.canned import canceled, cancels, created, creates, events, progress

from fixed_client.core.watch import Delivery, Kind, WatchSpec, WatchStreamCore
from fixed_client.errors import CompactedError, WatchCanceledError
from fixed_client.proto import rpc_pb2


def revisions(deliveries: list[Delivery[str]], sink: str) -> list[int]:
    return [e.kv.mod_revision for d in deliveries if d.sink == sink and d.kind is Kind.EVENTS for e in d.events]


def started(core: WatchStreamCore[str], sink: str, watch_id: int, revision: int, **spec: object) -> None:
    core.add(WatchSpec(key=b"k", **spec), sink)  # type: ignore[arg-type]
    core.take_requests()
    assert [d.kind for d in core.receive(created(watch_id, revision))] == [Kind.CREATED]


def test_one_create_in_flight_later_creates_queue_in_order() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    for name in "abc":
        core.add(WatchSpec(key=name.encode()), name)
    first = creates(core.take_requests())
    assert [c.key for c in first] == [b"a"] and first[0].fragment is True
    out = core.receive(created(0, 10))
    assert [(d.kind, d.sink) for d in out] == [(Kind.CREATED, "a")]
    assert [c.key for c in creates(core.take_requests())] == [b"b"]
    core.receive(created(1, 10))
    assert [c.key for c in creates(core.take_requests())] == [b"c"]
    core.receive(created(2, 10))
    assert core.take_requests() == []
    assert core.watcher_count == 3


def test_events_route_by_server_id_and_advance_next_rev() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    out = core.receive(events(1, 11, 12)) + core.receive(events(0, 13))
    assert revisions(out, "b") == [11, 12] and revisions(out, "a") == [13]
    states = sorted(core._live.values(), key=lambda s: s.order)
    assert [s.next_rev for s in states] == [14, 13]
    assert [s.revision for s in states] == [13, 12]


def test_created_without_start_revision_resumes_after_the_header_revision() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 41)
    core.connection_lost()
    [create] = creates(core.take_requests())
    assert create.start_revision == 42


def test_start_revision_is_kept_until_events_arrive() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 100, start_revision=7)
    core.connection_lost()
    [create] = creates(core.take_requests())
    assert create.start_revision == 7


def test_reconnect_recreates_every_live_watcher_from_next_rev_and_drops_repeats() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10, start_revision=5)
    core.receive(events(0, 11, 12))
    core.receive(events(1, 5, 6))
    core.connection_lost()
    recreated = creates(core.take_requests())
    assert [(c.key, c.start_revision) for c in recreated] == [(b"k", 13)]  # one at a time, in order
    assert core.receive(created(0, 20)) == []  # re-creation is not a new CREATED for the user
    assert [c.start_revision for c in creates(core.take_requests())] == [7]
    core.receive(created(1, 20))
    # A server resending revisions the watcher already delivered (e.g. a replay overlap) is filtered.
    out = core.receive(events(0, 12, 13, 14))
    assert revisions(out, "a") == [13, 14]
    assert core.receive(events(1, 6)) == []
    assert revisions(core.receive(events(1, 7)), "b") == [7]


def test_fragments_are_reassembled_before_delivery() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    assert core.receive(events(0, 11, 11, fragment=True)) == []
    assert core.receive(events(0, 11, fragment=True)) == []
    [whole] = core.receive(events(0, 11))
    assert [e.kv.mod_revision for e in whole.events] == [11, 11, 11, 11]
    assert core._live[1].next_rev == 12


def test_reconnect_mid_fragment_discards_the_partial_batch() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    core.receive(events(0, 11, 11, fragment=True))
    core.connection_lost()
    [create] = creates(core.take_requests())
    assert create.start_revision == 11  # nothing of revision 11 was delivered
    core.receive(created(0, 11))
    [whole] = core.receive(events(0, 11, 11, 11))
    assert len(whole.events) == 3


def test_own_progress_notify_advances_but_broadcast_progress_does_not() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    core.request_progress()
    [req] = core.take_requests()
    assert req.WhichOneof("request_union") == "progress_request"
    assert core.receive(progress(-1, 50)) == []  # etcd 3.4: unordered with pending events
    assert [s.next_rev for s in core._live.values()] == [11, 11]
    assert core.receive(progress(1, 30)) == []
    assert [s.next_rev for s in core._live.values()] == [11, 31]
    core.receive(progress(1, 20))  # never backwards
    assert core._live[2].next_rev == 31


def test_compaction_cancel_reports_the_compact_revision() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 100, start_revision=3)
    [out] = core.receive(canceled(0, compact_revision=60))
    assert out.kind is Kind.ERROR and isinstance(out.error, CompactedError)
    assert out.error.compact_revision == 60
    # etcd 3.4 keeps a compacted watcher until it is cancelled by id: cancel it, await the ack.
    assert core.is_empty() and cancels(core.take_requests()) == [0]
    assert not core.settled()
    assert core.receive(canceled(0)) == [] and core.settled()


def test_cancel_acknowledgements_settle_the_stream() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    assert core.settled()
    for state in core.live_watchers():
        core.remove(state)
    assert cancels(core.take_requests()) == [0, 1] and not core.settled()
    core.receive(canceled(1))
    assert not core.settled()
    core.receive(canceled(0))
    assert core.settled()


def test_connection_loss_settles_pending_cancels() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    core.remove(core.live_watchers()[0])
    assert not core.settled()
    core.connection_lost()  # the server dropped the whole stream
    assert core.settled()


def test_server_cancel_with_reason_is_a_watch_canceled_error() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    [out] = core.receive(canceled(0, reason="permission denied"))
    assert isinstance(out.error, WatchCanceledError) and "permission denied" in str(out.error)


def test_failed_create_with_id_minus_one_fails_that_watcher_and_goes_on() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    core.add(WatchSpec(key=b"a"), "a")
    core.add(WatchSpec(key=b"b"), "b")
    core.take_requests()
    resp = rpc_pb2.WatchResponse(watch_id=-1, created=True, canceled=True, cancel_reason="duplicate watch id")
    [out] = core.receive(resp)
    assert out.sink == "a" and isinstance(out.error, WatchCanceledError)
    assert [c.key for c in creates(core.take_requests())] == [b"b"]
    assert core.watcher_count == 1


def test_remove_active_sends_cancel_and_drops_late_events() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    state = core._live[1]
    core.remove(state)
    assert cancels(core.take_requests()) == [0]
    assert core.receive(events(0, 11)) == []  # in flight before the cancel landed
    assert core.receive(canceled(0)) == []  # the server's acknowledgement
    assert not core.is_empty()
    core.remove(core._live[2])
    assert core.is_empty()


def test_remove_while_create_in_flight_cancels_once_created() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    a = core.add(WatchSpec(key=b"a"), "a")
    core.add(WatchSpec(key=b"b"), "b")
    core.take_requests()
    core.remove(a)
    assert core.take_requests() == []  # no id to cancel yet
    assert core.receive(created(0, 10)) == []
    out = core.take_requests()
    assert cancels(out) == [0] and [c.key for c in creates(out)] == [b"b"]


def test_remove_queued_watcher_never_creates_it() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    core.add(WatchSpec(key=b"a"), "a")
    b = core.add(WatchSpec(key=b"b"), "b")
    core.take_requests()
    core.remove(b)
    core.receive(created(0, 10))
    assert core.take_requests() == []
    assert core.watcher_count == 1


def test_cancel_race_with_compaction_reports_nothing_to_a_removed_watcher() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10, start_revision=2)
    core.remove(core._live[1])
    assert core.receive(canceled(0, compact_revision=9)) == []


def test_removed_watcher_is_not_recreated_after_reconnect() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    started(core, "b", 1, 10)
    core.remove(core._live[1])
    core.connection_lost()
    assert [c.key for c in creates(core.take_requests())] == [b"k"]
    assert core.watcher_count == 1


def test_created_for_unknown_create_is_cancelled() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    assert core.receive(created(7, 10)) == []
    assert cancels(core.take_requests()) == [7]


def test_events_for_unknown_ids_are_ignored() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    assert core.receive(events(9, 11)) == []


def test_drop_all_closes_every_watcher_in_order() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    started(core, "a", 0, 10)
    core.add(WatchSpec(key=b"b"), "b")
    assert core.drop_all() == ["a", "b"]
    assert core.is_empty()


def test_request_progress_without_watchers_sends_nothing() -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    core.request_progress()
    assert core.take_requests() == []


@pytest.mark.parametrize("filters", [("NOPUT",), ("NODELETE",), ("NOPUT", "NODELETE")])
def test_create_request_carries_the_spec(filters: tuple[str, ...]) -> None:
    core: WatchStreamCore[str] = WatchStreamCore()
    spec = WatchSpec(key=b"a", range_end=b"b", start_revision=4, prev_kv=True, filters=filters, progress_notify=True)
    core.add(spec, "a")
    [create] = creates(core.take_requests())
    assert (create.key, create.range_end, create.start_revision) == (b"a", b"b", 4)
    assert create.prev_kv and create.progress_notify and create.fragment and create.watch_id == 0
    assert [rpc_pb2.WatchCreateRequest.FilterType.Name(f) for f in create.filters] == list(filters)
