"""The sync watch stream's read turn (fixed_client.sync.turn): one reader at a time, watchers first."""

from __future__ import annotations

import threading
import time

from fixed_client.sync.turn import GRACE, ReadTurn


class Waiter:
    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def owner_take_in_thread(turn: ReadTurn) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(turn.owner_take()), daemon=True)
    thread.start()
    return thread, result


def test_no_call_no_turn() -> None:
    turn, w = ReadTurn(), Waiter()
    assert turn.try_take(w) is None
    call = iter([1])
    turn.attach(call)
    assert w.woken == 1  # waiting watchers are told a call is open
    assert turn.try_take(w) is call


def test_one_reader_at_a_time_and_the_owner_hands_over() -> None:
    turn, a, b = ReadTurn(), Waiter(), Waiter()
    turn.attach(iter([]))
    assert turn.owner_take() is None  # nobody read yet: the owner reads
    assert turn.try_take(a) is None and turn.try_take(b) is None
    turn.release(None)  # the owner's read is done: both waiting watchers are woken
    assert (a.woken, b.woken) == (1, 1)
    assert turn.try_take(a) is not None
    assert turn.try_take(b) is None
    turn.release(None)  # a watcher's release does not wake the others (their events reach them)
    assert b.woken == 1


def test_owner_yields_while_watchers_read_then_takes_over() -> None:
    turn, a = ReadTurn(), Waiter()
    turn.attach(iter([]))
    assert turn.try_take(a) is not None
    thread, result = owner_take_in_thread(turn)
    time.sleep(GRACE * 2)
    assert result == []  # a watcher holds the turn
    turn.release(None)
    started = time.monotonic()
    thread.join(2)
    assert result == [None]  # took the turn once nobody read for GRACE
    assert time.monotonic() - started >= GRACE * 0.5


def test_a_watcher_seeing_the_call_end_reports_it_to_the_owner() -> None:
    turn, a, b = ReadTurn(), Waiter(), Waiter()
    turn.attach(iter([]))
    assert turn.try_take(a) is not None
    assert turn.try_take(b) is None
    thread, result = owner_take_in_thread(turn)
    ended = object()
    turn.release(ended)
    thread.join(2)
    assert result == [ended] and b.woken == 1
    assert turn.try_take(a) is None  # nobody reads an ended call
    turn.attach(iter([]))  # the owner reopened
    assert turn.try_take(a) is not None
