"""`--fix` writes safely: temp file + atomic replace keeping mode, line endings and encoding; an
interrupted run (SIGINT, SIGTERM at random moments) leaves each file old or new and no temp file;
two processes fixing and caching one tree at once corrupt nothing."""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BEFORE = "import json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(json.dumps(kw))\n"
AFTER = "import json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(json.dumps(kw, sort_keys=True))\n"
STILL_REPORTED = "\nimport time\n_seen = {}\n_seen[str(time.time())] = 1\n"  # KL201, no fix: the cache has findings to hold
PADDING = STILL_REPORTED + "".join(f"\ndef helper_{i}(a, b):\n    total = a + b * {i}\n    return [total, str(total), (a, b)]\n" for i in range(120))
TEMP_PREFIX = ".keylint-fix-"


def keylint(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "keylint", "check", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_fix_keeps_mode_line_endings_and_encoding(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(BEFORE.replace("\n", "\r\n").encode())
    crlf.chmod(0o640)
    latin = tmp_path / "latin.py"
    latin.write_bytes(("# -*- coding: latin-1 -*-\n# caf\xe9\n" + BEFORE).encode("latin-1"))
    latin.chmod(0o755)
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + BEFORE.encode())
    keylint("--no-cache", "--fix", "--unsafe-fixes", "--select", "KL501", ".", cwd=tmp_path)
    assert crlf.read_bytes() == AFTER.replace("\n", "\r\n").encode()
    assert latin.read_bytes() == ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + AFTER).encode("latin-1")
    assert bom.read_bytes() == b"\xef\xbb\xbf" + AFTER.encode()
    assert crlf.stat().st_mode & 0o7777 == 0o640
    assert latin.stat().st_mode & 0o7777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bom.py", "crlf.py", "latin.py"]


@dataclass(frozen=True)
class Tree:
    original: Path
    old: dict[str, bytes]
    new: dict[str, bytes]
    fix_seconds: float


def _make_tree(root: Path, files: int) -> None:
    for index in range(files):
        folder = root / f"pkg{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{index}.py").write_text(BEFORE + PADDING)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tree_versions(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """A tree of 32 fixable files, every file's bytes before and after an uninterrupted --fix, and
    how long that --fix took (interrupts are timed within it, whatever the machine's load)."""
    base = tmp_path_factory.mktemp("tree")
    original = base / "original"
    _make_tree(original, 32)
    fixed = base / "fixed"
    shutil.copytree(original, fixed)
    began = time.monotonic()
    keylint("--no-cache", "-q", "--fix", "--unsafe-fixes", ".", cwd=fixed)
    took = time.monotonic() - began
    old, new = _snapshot(original), _snapshot(fixed)
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in old)
    return Tree(original, old, new, took)


def _assert_each_file_old_or_new(root: Path, old: dict[str, bytes], new: dict[str, bytes]) -> tuple[int, int]:
    now = {k: v for k, v in _snapshot(root).items() if not k.startswith(".keylint_cache")}
    leftovers = [k for k in now if os.path.basename(k).startswith(TEMP_PREFIX)]
    assert leftovers == [], f"temp files left behind: {leftovers}"
    assert now.keys() == old.keys()
    torn = [k for k, data in now.items() if data not in (old[k], new[k])]
    assert torn == [], f"files neither old nor new: {torn}"
    for data in now.values():
        ast.parse(data)
    return sum(now[k] == old[k] for k in now), sum(now[k] == new[k] for k in now)


# `python -m keylint` with Ctrl-C restored: a shell starts background jobs with SIGINT ignored, and
# Python (so keylint) keeps it ignored, as it should; the test stands for a user at a terminal.
_WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('keylint', run_name='__main__', alter_sys=True)"
)


def _wait_for_first_write(root: Path, old: dict[str, bytes], proc: subprocess.Popen[str]) -> None:
    paths = [(root / name, data) for name, data in old.items()]
    stop = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < stop:
        if any(path.read_bytes() != data for path, data in paths):
            return
        time.sleep(0.002)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_fix_leaves_every_file_old_or_new(
    tmp_path: Path, tree_versions: Tree, signum: int
) -> None:
    original, old, new = tree_versions.original, tree_versions.old, tree_versions.new
    rng = random.Random(signum)
    interrupted_midway = 0
    # Two attempts at random moments of the run; if neither landed between the first and the last
    # write (the reference run was timed under another load), more attempts signal as soon as the
    # first file has been rewritten.
    for attempt in range(6):
        if attempt >= 2 and interrupted_midway:
            break
        root = tmp_path / f"run{attempt}"
        shutil.copytree(original, root)
        proc = subprocess.Popen(
            [sys.executable, "-c", _WITH_CTRL_C, "check", "--no-cache", "-q", "--fix", "--unsafe-fixes", "."],
            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if attempt < 2:
            time.sleep(rng.uniform(0.3, 0.8) * tree_versions.fix_seconds)  # a random moment of the run
        else:
            _wait_for_first_write(root, old, proc)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr
        kept, fixed = _assert_each_file_old_or_new(root, old, new)
        if kept and fixed:
            interrupted_midway += 1
            assert proc.returncode in (130, -signum), (proc.returncode, stderr)
    assert interrupted_midway >= 1, "no attempt stopped the run midway: the test tree is too small"


def test_processes_fixing_and_caching_one_tree_at_once(
    tmp_path: Path, tree_versions: Tree
) -> None:
    """Two fixers and two cached checks (one with workers) on one tree and one cache, all at once."""
    original, old, new = tree_versions.original, tree_versions.old, tree_versions.new
    root = tmp_path / "shared"
    shutil.copytree(original, root)
    runs = [["--fix", "--unsafe-fixes"], ["--fix", "--unsafe-fixes"], ["-j", "2"], ["-j", "1"]]
    procs = [
        subprocess.Popen([sys.executable, "-m", "keylint", "check", "-q", *extra, "."], cwd=root,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for extra in runs
    ]  # fmt: skip
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        assert proc.returncode in (0, 1), stderr
    kept, fixed = _assert_each_file_old_or_new(root, old, new)
    assert kept == 0 and fixed == len(new)
    # The cache they all wrote is readable and agrees with a run without it.
    cached = keylint("--output-format", "json", "-j", "2", ".", cwd=root)
    uncached = keylint("--output-format", "json", "--no-cache", "-j", "1", ".", cwd=root)
    assert cached.returncode == uncached.returncode == 1
    assert json.loads(cached.stdout) == json.loads(uncached.stdout)
    assert {d["code"] for d in json.loads(cached.stdout)} == {"KL201"}


def test_an_interrupt_right_after_the_temp_file_is_made_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The moment `tempfile.mkstemp` left open: the file exists, its name not yet bound by the caller."""
    from keylint import atomic
    from keylint.fixes import write_atomic

    target = tmp_path / "mod.py"
    target.write_text(BEFORE)
    real_open = os.open

    def open_then_interrupt(path: str, flags: int, mode: int = 0o777) -> int:
        real_open(path, flags, mode)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(target), AFTER.encode(), BEFORE.encode())
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["mod.py"] and target.read_text() == BEFORE


def test_an_interrupt_while_the_temp_file_is_written_removes_it(tmp_path: Path) -> None:
    from keylint.atomic import replace_file

    target = tmp_path / "baseline.json"
    target.write_text("old\n")

    def fill(fd: int, temp: str) -> None:
        os.write(fd, b"half")
        os.close(fd)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_file(str(target), ".keylint-baseline-", fill)
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"] and target.read_text() == "old\n"


def test_a_temp_name_taken_by_another_file_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keylint import atomic

    target = tmp_path / "mod.py"
    target.write_text(BEFORE)
    taken = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-aaaa.tmp"
    taken.write_text("a crashed run's temp file")
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(names))

    def fill(fd: int, temp: str) -> None:
        with os.fdopen(fd, "w") as out:
            out.write(AFTER)

    atomic.replace_file(str(target), TEMP_PREFIX, fill)
    assert target.read_text() == AFTER and taken.read_text() == "a crashed run's temp file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["mod.py", taken.name])
