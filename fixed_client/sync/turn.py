"""Who reads a Watch stream's gRPC call: one thread at a time, preferably the one that wants events.

Handing each response from a reading thread to the consuming thread costs a thread wake-up per
message (measured: about as much CPU again as grpcio's own receive). So a watcher's iterating thread
takes the *turn* and reads the call itself while it iterates; the stream's owner thread reads only
once no watcher has read for ``GRACE`` seconds (so watchers nobody iterates still get their events,
``created`` answers and cancel acknowledgements), and after each of its reads hands the turn to any
watcher waiting for it. Whoever holds the turn applies each response to the
core before releasing it, so responses are handled one at a time and in order. A reader that sees the
call end stores the outcome; only the owner thread acts on it (reconnect, fail, restart).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

GRACE = 0.02  # seconds the owner leaves the turn to watchers after one of them last read

OWNER = object()  # the owner thread as a reader
WAKE = object()  # put into a waiting watcher's queue: the turn is free, try to read again


class Waker(Protocol):
    def wake(self) -> None: ...


class ReadTurn:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # taken directly on the per-response paths (cheaper than the Condition)
        self._cv = threading.Condition(self._lock)
        self._reader: object | None = None
        self._call: Iterator[object] | None = None
        self._outcome: object | None = None  # how the current call ended, once a reader saw it
        self._waiting: list[Waker] = []  # watchers blocked on their queue, wanting the turn
        self._yield_until = 0.0  # the owner does not read before this time (monotonic)

    def attach(self, call: Iterator[object]) -> None:
        """Owner: a new call is open; waiting watchers may read it."""
        with self._cv:
            self._call = call
            self._outcome = None
            self._reader = None
            self._wake_waiting()

    def try_take(self, who: Waker) -> Iterator[object] | None:
        """Watcher: the call to read, with the turn taken; None (and ``who`` woken later) if busy."""
        with self._lock:
            if self._reader is None and self._call is not None and self._outcome is None:
                self._reader = who
                return self._call
            if who not in self._waiting:
                self._waiting.append(who)
            return None

    def owner_take(self) -> object | None:
        """Owner: block until it may read (None, turn taken) or a reader saw the call end (its outcome)."""
        with self._cv:
            while True:
                if self._outcome is not None:
                    return self._outcome
                wait = self._yield_until - time.monotonic()
                if self._reader is None and wait <= 0:
                    self._reader = OWNER
                    return None
                # Polled, not notified: waking the owner on every watcher read is the cost avoided.
                self._cv.wait(GRACE if wait <= 0 else wait)

    def release(self, outcome: object | None) -> None:
        """The reader is done with one response; ``outcome`` is set when the call ended."""
        with self._lock:
            by_owner = self._reader is OWNER
            self._reader = None
            if outcome is not None:
                self._outcome = outcome
                self._cv.notify_all()
                self._wake_waiting()
            elif by_owner and self._waiting:
                # Hand the turn to the watchers waiting for it. (A watcher that reads keeps them
                # waiting: their events reach them anyway, and waking them per response costs.)
                self._yield_until = time.monotonic() + GRACE
                self._wake_waiting()
            elif not by_owner:
                self._yield_until = time.monotonic() + GRACE

    def _wake_waiting(self) -> None:
        for waker in self._waiting:
            waker.wake()
        self._waiting.clear()
