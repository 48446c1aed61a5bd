"""Process workers: the same findings as one process, in stable path order, and a worker that dies
costs only the file it was checking (KL001 naming the crash)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keylint import runner, workers
from keylint.diagnostics import Diagnostic
from keylint.runner import RunOptions, iter_file_results
from keylint.settings import Settings

LEAKS = [
    "import time\n_m = {}\n\ndef f(x):\n    _m[str(time.time())] = x\n",
    "_m = {}\n\ndef f(ctx, v):\n    _m[f'{ctx}'] = v\n",
    "import redis\n_r = redis.Redis()\n\ndef f(name, v):\n    _r.set(str(hash(name)), v)\n",
    "def add(a, b):\n    return a + b\n",
]


def _tree(tmp_path: Path, count: int = 60) -> Path:
    for i in range(count):
        folder = tmp_path / "src" / f"pkg{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod_{i:03d}.py").write_text(LEAKS[i % len(LEAKS)])
    (tmp_path / "src" / "broken.py").write_text("def (:\n")
    return tmp_path / "src"


def _results(src: Path, jobs: int) -> list[tuple[str, tuple[Diagnostic, ...]]]:
    options = RunOptions(jobs=jobs, use_cache=False)
    return [(r.path, r.diagnostics) for r in iter_file_results([str(src)], Settings(), options=options)]


def test_parallel_results_equal_serial_in_stable_order(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    serial = _results(src, 1)
    parallel = _results(src, 3)
    assert parallel == serial
    paths = [path for path, _ in parallel]
    assert paths == sorted(paths) and len(paths) == 61
    codes = {d.code for _, found in parallel for d in found}
    assert {"KL201", "KL101", "KL401", "KL001"} <= codes


def test_chunks_are_several_files_but_balanced() -> None:
    assert workers.chunk_size(1, 2) == 1
    assert workers.chunk_size(160, 2) == 10
    assert workers.chunk_size(100_000, 2) == 32


def test_worker_crash_costs_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _tree(tmp_path, 40)
    expected = dict(_results(src, 1))
    real = runner.check_bytes

    def crashing(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
        if path.endswith("mod_013.py"):
            os._exit(139)  # what a libcst segfault looks like to the pool: the worker is gone
        return real(source, path, settings)

    monkeypatch.setattr(runner, "check_bytes", crashing)  # inherited by the forked workers
    got = dict(_results(src, 2))
    crashed = [p for p in got if p.endswith("mod_013.py")]
    assert len(crashed) == 1
    (only,) = got.pop(crashed[0])
    assert only.code == "KL001" and "crashed" in only.message and "139" in only.message
    expected.pop(crashed[0])
    assert got == expected


def test_crash_report_names_the_signal() -> None:
    assert "SIGSEGV" in workers.crash_diagnostic("a.py", -11).message
    assert "code 3" in workers.crash_diagnostic("a.py", 3).message


def test_parallel_run_with_cache_matches_serial_without(tmp_path: Path) -> None:
    src = _tree(tmp_path, 30)
    baseline = _results(src, 1)
    options = RunOptions(jobs=2, use_cache=True, cache_dir=str(tmp_path / "cache"))
    for _ in range(2):  # cold, then warm
        got = [(r.path, r.diagnostics) for r in iter_file_results([str(src)], Settings(), options=options)]
        assert got == baseline
