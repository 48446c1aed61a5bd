"""Keep-alive timing for leases (sans-IO: the caller passes the clock).

A lease is refreshed every TTL/3. It is lost when the server answers with TTL <= 0 (expired or
revoked) or when its TTL runs out since the last answer (no keep-alive got through, e.g. while
disconnected): the server has expired it by then, so the holder must stop trusting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_INTERVAL = 0.1  # never refresh more often than this, whatever the TTL


@dataclass
class LeaseTiming:
    ttl: float
    expires_at: float
    next_send: float


@dataclass
class LeaseSchedule:
    _leases: dict[int, LeaseTiming] = field(default_factory=dict)

    def add(self, lease_id: int, ttl: int, now: float) -> None:
        self._leases[lease_id] = LeaseTiming(ttl, now + ttl, now + _interval(ttl))

    def discard(self, lease_id: int) -> bool:
        return self._leases.pop(lease_id, None) is not None

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self._leases

    def __len__(self) -> int:
        return len(self._leases)

    def due(self, now: float) -> list[int]:
        """Leases to refresh now; each is scheduled again TTL/3 later."""
        out: list[int] = []
        for lease_id, timing in self._leases.items():
            if timing.next_send <= now:
                out.append(lease_id)
                timing.next_send = now + _interval(timing.ttl)
        return out

    def answered(self, lease_id: int, ttl: int, now: float) -> bool:
        """Record a keep-alive answer; False (and the lease is dropped) when it reports the lease gone."""
        timing = self._leases.get(lease_id)
        if timing is None:
            return True  # revoked meanwhile, nothing to track
        if ttl <= 0:
            del self._leases[lease_id]
            return False
        timing.ttl = ttl
        timing.expires_at = now + ttl
        return True

    def expired(self, now: float) -> list[int]:
        """Leases whose TTL ran out without an answer; they are dropped."""
        gone = [lease_id for lease_id, timing in self._leases.items() if timing.expires_at <= now]
        for lease_id in gone:
            del self._leases[lease_id]
        return gone

    def reschedule_all(self, now: float) -> None:
        """After a reconnect: refresh every lease at once (beats may have been lost)."""
        for timing in self._leases.values():
            timing.next_send = now

    def next_wakeup(self) -> float | None:
        """The earliest time something is due or expires (None: no leases)."""
        times = [min(t.next_send, t.expires_at) for t in self._leases.values()]
        return min(times) if times else None


def _interval(ttl: float) -> float:
    return max(MIN_INTERVAL, ttl / 3.0)
