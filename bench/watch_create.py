"""Watch creation: sequential vs concurrent (threads, asyncio tasks), then cancellation.

Benchmark, not a test. Starts its own etcd. Each phase opens --watches watches on distinct keys and
times until the server's watcher gauge (etcd_debugging_mvcc_watcher_total) shows all of them, then
closes them all and times until the gauge is back to its baseline. Phases alternate --rounds times;
medians are printed with the ratio concurrent / sequential.

    python bench/watch_create.py --watches 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _etcd import EtcdServer, print_table  # noqa: E402


def wait_gauge(server: EtcdServer, expected: int, limit: float = 120.0) -> float:
    """Seconds until the server's watcher gauge equals `expected` (polled every 10 ms)."""
    t0 = time.perf_counter()
    while server.watchers() != expected:
        if time.perf_counter() - t0 > limit:
            raise RuntimeError(f"server watchers stuck at {server.watchers()}, expected {expected}")
        time.sleep(0.01)
    return time.perf_counter() - t0


def sync_phase(server: EtcdServer, n: int, threads: int, tag: str) -> tuple[float, float]:
    from fixed_client import Client

    baseline = server.watchers()
    with Client([server.endpoint]) as c, contextlib.ExitStack() as stack:
        keys = [f"/bench/create/{tag}/{i}" for i in range(n)]
        t0 = time.perf_counter()
        if threads <= 1:
            for key in keys:
                stack.enter_context(c.watch(key))
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for w in pool.map(lambda k: c.watch(k).__enter__(), keys):
                    stack.push(w.__exit__)
        client_done = time.perf_counter() - t0
        created = client_done + wait_gauge(server, baseline + n)
        assert c.watcher_count() == n and c.watch_stream_count() == 1, (c.watcher_count(), c.watch_stream_count())
        t1 = time.perf_counter()
        stack.close()
        cancelled = time.perf_counter() - t1 + wait_gauge(server, baseline)
    return n / created, cancelled


def async_phase(server: EtcdServer, n: int, tag: str) -> tuple[float, float]:
    from fixed_client.aio import AsyncClient

    async def main() -> tuple[float, float]:
        baseline = server.watchers()
        async with AsyncClient([server.endpoint]) as c, contextlib.AsyncExitStack() as stack:
            keys = [f"/bench/create/{tag}/{i}" for i in range(n)]

            async def enter(key: str) -> Any:
                cm = c.watch(key)
                await cm.__aenter__()
                return cm

            t0 = time.perf_counter()
            for cm in await asyncio.gather(*(enter(k) for k in keys)):
                stack.push_async_exit(cm.__aexit__)
            created = time.perf_counter() - t0 + await asyncio.to_thread(wait_gauge, server, baseline + n)
            assert c.watcher_count() == n and c.watch_stream_count() == 1
            t1 = time.perf_counter()
            await stack.aclose()
            cancelled = time.perf_counter() - t1 + await asyncio.to_thread(wait_gauge, server, baseline)
        return n / created, cancelled

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=64, help="worker threads for the threaded phase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    phases: dict[str, Callable[[EtcdServer, str], tuple[float, float]]] = {
        "sync, sequential": lambda s, tag: sync_phase(s, args.watches, 1, tag),
        f"sync, {args.threads} threads": lambda s, tag: sync_phase(s, args.watches, args.threads, tag),
        "asyncio, sequential": lambda s, tag: async_sequential(s, args.watches, tag),
        f"asyncio, {args.watches} tasks": lambda s, tag: async_phase(s, args.watches, tag),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in phases}
    with EtcdServer() as server:
        for run in range(args.rounds):
            names = list(phases) if run % 2 == 0 else list(reversed(phases))
            for name in names:
                results[name].append(phases[name](server, f"{run}-{name.replace(' ', '_')}"))
    seq = {"sync": statistics.median(r for r, _ in results["sync, sequential"]),
           "asyncio": statistics.median(r for r, _ in results["asyncio, sequential"])}
    rows: list[list[object]] = []
    summary = {}
    for name, values in results.items():
        rate = statistics.median(r for r, _ in values)
        back = statistics.median(c for _, c in values)
        family = "sync" if name.startswith("sync") else "asyncio"
        base = seq[family]
        # Each round runs both phases back to back: their ratio cancels the machine's load drift.
        pairs = [r / s for (r, _), (s, _) in zip(values, results[f"{family}, sequential"])]
        rows.append([name, rate, back * 1000, f"{rate / base:.2f}", f"{statistics.median(pairs):.2f}"])
        summary[name] = {"creates_per_s": rate, "cancel_to_baseline_ms": back * 1000}
    print(f"{args.watches:,} watches per phase, {args.rounds} rounds (medians)")
    print_table(
        ["phase", "creates/s", "ms until server baseline after cancel", "vs sequential", "median per-round ratio"],
        rows,
    )
    print("target: concurrent creation at least as fast as sequential (ratio >= 1)")
    print(json.dumps(summary))


def async_sequential(server: EtcdServer, n: int, tag: str) -> tuple[float, float]:
    from fixed_client.aio import AsyncClient

    async def main() -> tuple[float, float]:
        baseline = server.watchers()
        async with AsyncClient([server.endpoint]) as c, contextlib.AsyncExitStack() as stack:
            t0 = time.perf_counter()
            for i in range(n):
                await stack.enter_async_context(c.watch(f"/bench/create/{tag}/{i}"))
            created = time.perf_counter() - t0 + await asyncio.to_thread(wait_gauge, server, baseline + n)
            t1 = time.perf_counter()
            await stack.aclose()
            cancelled = time.perf_counter() - t1 + await asyncio.to_thread(wait_gauge, server, baseline)
        return n / created, cancelled

    return asyncio.run(main())


if __name__ == "__main__":
    main()
