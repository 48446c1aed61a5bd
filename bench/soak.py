"""Soak (issue 7): the lock-churn scenario for a given number of minutes, sampled every 30 s.

Benchmark, not a test. Prints RSS, threads, client streams and watchers, server watchers and
streams and live leases every --interval seconds, then the first and last figures; the run is flat
when the after-drain figures equal the starting ones (streams, watchers, leases) and RSS/threads
stop growing.

    python bench/soak.py --minutes 10
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lock_churn import HEADERS, parser, run_and_report  # noqa: E402


def main() -> None:
    p = parser(600, 30)
    p.add_argument("--minutes", type=float, default=None, help="run length (overrides --seconds)")
    args = p.parse_args()
    if args.minutes is not None:
        args.seconds = args.minutes * 60
    rows = run_and_report(args, f"soak: lock churn for {args.seconds / 60:.1f} min, sampled every {args.interval:.0f} s")
    first, mid, last = rows[0], rows[1] if len(rows) > 2 else rows[0], rows[-1]
    leak_columns = HEADERS[1:6]
    flat = all(first[HEADERS.index(h)] == last[HEADERS.index(h)] for h in leak_columns)
    print(f"first sample: {dict(zip(HEADERS, first))}")
    print(f"last sample:  {dict(zip(HEADERS, last))}")
    rss_growth = float(str(rows[-2][6])) - float(str(mid[6])) if len(rows) > 3 else 0.0  # after warm-up
    print(f"streams/watchers/leases back to start: {flat}; RSS growth after the first interval: {rss_growth:+.1f} MB")
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
