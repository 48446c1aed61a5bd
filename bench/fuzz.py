"""Fuzz keylint for SECONDS: the properties of tests/fuzz_properties.py over byte-level mutations of
real files and rule examples, and over programs hypothesmith generates (grammar and libcst nodes).
Every failing input is saved under tests/regressions/ (named by content hash), where
tests/regressions/test_replay.py replays it from then on.

    /tmp/venv/bin/python bench/fuzz.py 600 [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import hypothesmith
from fuzz_properties import (
    mutate,
    save_regression,
    seed_corpus,
    small_slices,
    violations,
)
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

GENERATED_SHARE = 0.25  # of the time, for hypothesmith's slower generated programs


class Tally:
    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.saved: dict[Path, str] = {}

    def run(self, kind: str, source: str | bytes) -> None:
        self.tried[kind] += 1
        problems = violations(source)
        if problems:
            self.failed[kind] += 1
            path = save_regression(source)
            if path not in self.saved:
                self.saved[path] = problems[0].splitlines()[0][:200]
                print(f"FAIL ({kind}) saved {path.name}: {self.saved[path]}", flush=True)


def generated_batch(tally: Tally, strategy: st.SearchStrategy[str], kind: str, batch_seed: int) -> None:
    @seed(batch_seed)
    @settings(
        max_examples=25, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(strategy)
    def one(source: str) -> None:
        tally.run(kind, source)

    one()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", type=float)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = random.Random(args.seed)
    seeds = seed_corpus()
    tally = Tally()
    start = time.monotonic()
    deadline = start + args.seconds
    generated_time = 0.0
    report_at = start + 30
    while time.monotonic() < deadline:
        elapsed = time.monotonic() - start
        if generated_time < GENERATED_SHARE * elapsed:
            began = time.monotonic()
            strategy, kind = rng.choice([(hypothesmith.from_grammar(), "grammar"), (hypothesmith.from_node(), "libcst-nodes")])
            generated_batch(tally, strategy, kind, rng.randrange(2**32))
            generated_time += time.monotonic() - began
        else:
            for _ in range(50):
                tally.run("mutation", mutate(small_slices(rng.choice(seeds), rng), rng))
        if time.monotonic() >= report_at:
            report_at += 30
            print(f"{time.monotonic() - start:6.0f}s tried {dict(tally.tried)} failed {dict(tally.failed)}", flush=True)
    total = sum(tally.tried.values())
    print(f"seed {args.seed}: {total} inputs in {time.monotonic() - start:.0f}s {dict(tally.tried)}")
    print(f"failing inputs: {sum(tally.failed.values())}, distinct saved: {len(tally.saved)}")
    for path, problem in tally.saved.items():
        print(f"  tests/regressions/{path.name}: {problem}")
    return 1 if tally.saved else 0


if __name__ == "__main__":
    sys.exit(main())
