"""Shared helpers for the client benchmarks.

The etcd harness lives in tests/etcd_harness.py (the test fixtures use it too, so there is one
implementation of starting, probing and stopping etcd); benchmarks import it from there by adding
tests/ to sys.path. It is standard library only.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))

from etcd_harness import EtcdServer, TcpProxy, etcdctl_binary, free_port, metric_sum  # noqa: E402

__all__ = [
    "EtcdServer", "TcpProxy", "etcdctl_binary", "free_port", "metric_sum",
    "cpu_seconds", "rss_mb", "thread_count", "print_table",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process (this one by default) from /proc/<pid>/stat."""
    path = f"/proc/{pid or os.getpid()}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def thread_count() -> int:
    return threading.active_count()


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    """A plain fixed-width table on stdout."""
    text = [[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in text:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
