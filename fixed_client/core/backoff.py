"""Reconnect delays: start small, grow 25% per failed attempt, capped (etcd's Go client uses 1 ms..100 ms).

The cap keeps a client whose server is down at a handful of attempts per second, never a busy loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.001
    factor: float = 1.25
    cap: float = 0.1
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        return delay

    def reset(self) -> None:
        self._next = self.initial
