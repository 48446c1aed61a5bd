"""Keep-alive timing, lock recipe decisions, backoff, input validation (sans-IO)."""

from __future__ import annotations

import pytest

from fixed_client.core import lock as recipe
from fixed_client.core.backoff import Backoff
from fixed_client.core.lease import LeaseSchedule
from fixed_client.core.requests import (
    check_revision,
    filter_names,
    lease_id,
    prefix_end,
    range_request,
    to_bytes,
)
from fixed_client.proto import kv_pb2, rpc_pb2


def test_keepalive_every_third_of_the_ttl() -> None:
    s = LeaseSchedule()
    s.add(1, 9, now=0.0)
    assert s.due(2.9) == []
    assert s.due(3.0) == [1]
    assert s.due(3.5) == []
    assert s.answered(1, 9, now=3.1)
    assert s.due(6.0) == [1]
    assert s.expired(12.0) == [] and s.expired(12.2) == [1]
    assert len(s) == 0


def test_ttl_zero_answer_means_lost() -> None:
    s = LeaseSchedule()
    s.add(7, 5, now=0.0)
    assert s.answered(7, 0, now=1.0) is False
    assert 7 not in s
    assert s.answered(7, 5, now=1.0) is True  # an answer for a lease no longer tracked is ignored


def test_unanswered_lease_expires_after_its_ttl() -> None:
    s = LeaseSchedule()
    s.add(1, 2, now=0.0)
    s.add(2, 10, now=0.0)
    assert s.next_wakeup() == pytest.approx(2 / 3)
    assert s.expired(2.0) == [1]
    assert 2 in s


def test_reconnect_refreshes_every_lease_at_once() -> None:
    s = LeaseSchedule()
    s.add(1, 30, now=0.0)
    s.add(2, 60, now=0.0)
    s.reschedule_all(1.0)
    assert sorted(s.due(1.0)) == [1, 2]


def test_lock_key_is_name_slash_lease_hex() -> None:
    assert recipe.lock_key(b"/locks/a", 0x694D8F2A1B) == b"/locks/a/694d8f2a1b"


def _kv(key: bytes, create: int) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(key=key, create_revision=create, mod_revision=create)


def _txn(succeeded: bool, header_rev: int, mine: list[kv_pb2.KeyValue], owner: list[kv_pb2.KeyValue]) -> rpc_pb2.TxnResponse:
    first = (
        rpc_pb2.ResponseOp(response_put=rpc_pb2.PutResponse())
        if succeeded
        else rpc_pb2.ResponseOp(response_range=rpc_pb2.RangeResponse(kvs=mine))
    )
    return rpc_pb2.TxnResponse(
        header=rpc_pb2.ResponseHeader(revision=header_rev),
        succeeded=succeeded,
        responses=[first, rpc_pb2.ResponseOp(response_range=rpc_pb2.RangeResponse(kvs=owner))],
    )


def test_acquire_txn_puts_if_absent_and_reads_the_first_creator() -> None:
    txn = recipe.acquire_txn(b"n", 0xAB)
    [cmp] = txn.compare
    assert (cmp.key, cmp.target, cmp.result, cmp.create_revision) == (b"n/ab", rpc_pb2.Compare.CREATE, rpc_pb2.Compare.EQUAL, 0)
    put, owner = txn.success
    assert put.request_put.key == b"n/ab" and put.request_put.lease == 0xAB
    assert owner.request_range.key == b"n/" and owner.request_range.range_end == b"n0"
    assert owner.request_range.sort_target == rpc_pb2.RangeRequest.CREATE and owner.request_range.limit == 1
    assert txn.failure[0].request_range.key == b"n/ab"


def test_acquire_outcomes() -> None:
    won = recipe.acquire_outcome(_txn(True, 10, [], [_kv(b"n/ab", 10)]))
    assert won.owned and won.my_revision == 10
    waits = recipe.acquire_outcome(_txn(True, 12, [], [_kv(b"n/aa", 8)]))
    assert not waits.owned and waits.my_revision == 12
    again = recipe.acquire_outcome(_txn(False, 20, [_kv(b"n/ab", 8)], [_kv(b"n/ab", 8)]))
    assert again.owned and again.my_revision == 8


def test_waiter_watches_only_its_predecessor_from_the_header_revision() -> None:
    req = recipe.predecessor_request(b"n", 12)
    assert req.max_create_revision == 11 and req.sort_order == rpc_pb2.RangeRequest.DESCEND and req.limit == 1
    resp = rpc_pb2.RangeResponse(header=rpc_pb2.ResponseHeader(revision=15), kvs=[_kv(b"n/aa", 9)])
    assert recipe.predecessor(resp) == recipe.Predecessor(b"n/aa", 15)
    assert recipe.predecessor(rpc_pb2.RangeResponse()) is None


def test_backoff_grows_by_a_quarter_and_caps() -> None:
    b = Backoff(initial=0.001, factor=1.25, cap=0.1)
    delays = [b.next_delay() for _ in range(40)]
    assert delays[0] == 0.001 and delays[1] == pytest.approx(0.00125)
    assert max(delays) == 0.1 and delays == sorted(delays)
    b.reset()
    assert b.next_delay() == 0.001


def test_prefix_end() -> None:
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0" and prefix_end(b"") == b"\0"


@pytest.mark.parametrize("bad", [1, 2.0, None, ["k"], bytearray(b"k")])
def test_keys_must_be_bytes_or_str(bad: object) -> None:
    with pytest.raises(TypeError, match="key must be bytes or str"):
        to_bytes(bad, "key")
    assert to_bytes("ключ", "key") == "ключ".encode()


def test_revisions_are_non_negative_ints() -> None:
    with pytest.raises(ValueError, match="revision"):
        check_revision(-1)
    with pytest.raises(TypeError, match="revision"):
        check_revision("3")
    with pytest.raises(TypeError):
        check_revision(True)
    with pytest.raises(ValueError, match="revision"):
        range_request("k", revision=-5)


def test_filters_and_leases() -> None:
    assert filter_names(["noput", "NODELETE"]) == ("NOPUT", "NODELETE")
    assert filter_names("NOPUT") == ("NOPUT",)
    with pytest.raises(ValueError, match="NOPUT"):
        filter_names(["PUT"])
    assert lease_id(None) == 0 and lease_id(5) == 5

    class HasId:
        id = 9

    assert lease_id(HasId()) == 9
    with pytest.raises(TypeError):
        lease_id("5")
