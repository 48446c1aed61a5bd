"""Lock churn: the leak scenario of issue 3 run for a given length, sampled every N seconds.

Benchmark, not a test. Starts its own etcd. Every second, --workers workers take --names lock names
(ttl --ttl, acquire(timeout=--acquire-timeout), hold --hold s, release). Every --interval seconds it
prints client streams and watchers, server watchers and watch streams, live leases (granted minus
revoked), this process's RSS and thread count, and acquires so far; then the figures after the
workers drain, and first/last deltas.

    python bench/lock_churn.py --seconds 120 --interval 10
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _etcd import EtcdServer, print_table, rss_mb, thread_count  # noqa: E402

HEADERS = ["t s", "client streams", "client watchers", "server watchers", "server streams",
           "live leases", "RSS MB", "threads", "acquired", "timed out"]


class Churn:
    def __init__(self, server: EtcdServer, args: argparse.Namespace) -> None:
        from fixed_client import Client

        self.server = server
        self.args = args
        self.client = Client([server.endpoint], timeout=5.0)
        self.acquired = 0
        self.timed_out = 0
        self.errors: list[BaseException] = []
        self._count = threading.Lock()

    def worker(self, i: int) -> None:
        lock = self.client.lock(f"/demo/lock/{i % self.args.names}", ttl=self.args.ttl)
        try:
            ok = lock.acquire(timeout=self.args.acquire_timeout)
        except BaseException as exc:
            self.errors.append(exc)
            return
        with self._count:
            if ok:
                self.acquired += 1
            else:
                self.timed_out += 1
        if ok:
            time.sleep(self.args.hold)
            lock.release()

    def sample(self, t: float) -> list[object]:
        return [
            round(t), self.client.watch_stream_count(), self.client.watcher_count(),
            self.server.watchers(), self.server.watch_streams(), self.server.live_leases(),
            rss_mb(), thread_count(), self.acquired, self.timed_out,
        ]

    def run(self, seconds: float, interval: float, on_row: object = None) -> list[list[object]]:
        rows = [self.sample(0)]
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=3 * self.args.workers) as pool:
            t0 = time.monotonic()
            next_sample = interval
            second = 0
            while second < seconds:
                futures = [f for f in futures if not f.done()]
                futures += [pool.submit(self.worker, i) for i in range(self.args.workers)]
                second += 1
                # Sample mid-second, while waiters are still watching their predecessors.
                time.sleep(max(0.0, t0 + second - 0.5 - time.monotonic()))
                if second >= next_sample:
                    rows.append(self.sample(time.monotonic() - t0))
                    if callable(on_row):
                        on_row(rows[-1])
                    next_sample += interval
                time.sleep(max(0.0, t0 + second - time.monotonic()))
            for f in futures:
                f.result(timeout=60)
        time.sleep(1.0)  # let the last cancels and revokes land
        rows.append(["after"] + self.sample(time.monotonic() - t0)[1:])
        self.client.close()
        return rows


def parser(default_seconds: float, default_interval: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=default_seconds)
    p.add_argument("--interval", type=float, default=default_interval)
    p.add_argument("--workers", type=int, default=20)
    p.add_argument("--names", type=int, default=10)
    p.add_argument("--ttl", type=int, default=1)
    p.add_argument("--acquire-timeout", type=float, default=0.7)
    p.add_argument("--hold", type=float, default=1.0)
    return p


def run_and_report(args: argparse.Namespace, title: str) -> list[list[object]]:
    with EtcdServer() as server:
        churn = Churn(server, args)
        print(title, flush=True)
        print("  ".join(HEADERS), flush=True)
        rows = churn.run(args.seconds, args.interval, on_row=lambda r: print("  ".join(map(str, r)), flush=True))
        print()
        print_table(HEADERS, rows)
        first, last = rows[0], rows[-1]
        deltas = {h: (first[i], last[i]) for i, h in enumerate(HEADERS) if i and i < 8}
        print("start -> after:", json.dumps(deltas))
        print(f"errors in workers: {len(churn.errors)}")
    return rows


def main() -> None:
    args = parser(60, 10).parse_args()
    run_and_report(args, f"lock churn: {args.seconds:.0f} s, {args.workers} workers/s on {args.names} names, "
                         f"ttl {args.ttl}, acquire timeout {args.acquire_timeout} s, hold {args.hold} s")


if __name__ == "__main__":
    main()
