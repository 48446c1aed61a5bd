"""The result cache: hits, misses and invalidation (content, config, version, path), concurrent
writers, corrupt entries, pruning, and the CLI flags (--no-cache, --cache-dir)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from keylint import cache as cache_module
from keylint import runner
from keylint.cache import ResultCache, content_hash
from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position
from keylint.runner import RunOptions, iter_file_results
from keylint.settings import Settings

LEAKY = "import time\n_seen = {}\n\ndef mark(x):\n    _seen[str(time.time())] = x\n"
CLEAN = "def add(a, b):\n    return a + b\n"


def _project(tmp_path: Path) -> tuple[Path, Settings]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "leaky.py").write_text(LEAKY)
    (tmp_path / "pkg" / "clean.py").write_text(CLEAN)
    return tmp_path, Settings(project_root=str(tmp_path))


def _run(root: Path, settings: Settings, **options: object) -> list[Diagnostic]:
    opts = RunOptions(jobs=1, use_cache=True, cache_dir=str(root / ".keylint_cache"))
    opts = replace(opts, **options)  # type: ignore[arg-type]
    return [d for r in iter_file_results([str(root / "pkg")], settings, options=opts) for d in r.diagnostics]


class CountingChecks:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = runner.check_bytes

        def counting(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
            self.paths.append(os.path.basename(path))
            return real(source, path, settings)

        monkeypatch.setattr(runner, "check_bytes", counting)


def test_second_run_is_served_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    checks = CountingChecks(monkeypatch)
    first = _run(root, settings)
    assert [d.code for d in first] == ["KL201"]
    assert sorted(checks.paths) == ["clean.py", "leaky.py"]
    checks.paths.clear()
    assert _run(root, settings) == first  # same findings, path re-attached
    assert checks.paths == []
    assert (root / ".keylint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_content_change_invalidates_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    _run(root, settings)
    checks = CountingChecks(monkeypatch)
    (root / "pkg" / "leaky.py").write_text(LEAKY.replace("str(time.time())", "x"))
    assert _run(root, settings) == []
    assert checks.paths == ["leaky.py"]


def test_config_change_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    _run(root, settings)
    checks = CountingChecks(monkeypatch)
    assert _run(root, replace(settings, ignore=("KL201",))) == []
    assert sorted(checks.paths) == ["clean.py", "leaky.py"]
    checks.paths.clear()
    assert [d.code for d in _run(root, settings)] == ["KL201"]  # the old entries are still there
    assert checks.paths == []


def test_version_change_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    _run(root, settings)
    checks = CountingChecks(monkeypatch)
    monkeypatch.setattr(cache_module, "__version__", "999.0")
    _run(root, settings)
    assert sorted(checks.paths) == ["clean.py", "leaky.py"]


def test_code_change_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    _run(root, settings)
    checks = CountingChecks(monkeypatch)
    monkeypatch.setattr(cache_module, "code_signature", lambda: "a rule was edited")
    _run(root, settings)
    assert sorted(checks.paths) == ["clean.py", "leaky.py"]


def test_same_content_at_another_path_is_its_own_entry(tmp_path: Path) -> None:
    root, settings = _project(tmp_path)
    store = ResultCache.for_settings(settings)
    digest = content_hash(LEAKY.encode())
    finding = Diagnostic("KL201", "m", str(root / "pkg" / "leaky.py"), 5, 5, 5, 28)
    store.put(str(root / "pkg" / "leaky.py"), digest, (finding,))
    assert store.get(str(root / "pkg" / "leaky.py"), digest) == (finding,)
    assert store.get(str(root / "pkg" / "copy.py"), digest) is None
    assert (root / ".keylint_cache").is_dir()  # default: in the project root


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = ResultCache(str(tmp_path / "c"), Settings())
    full = Diagnostic(
        "KL401", "msg ü", "a.py", 3, 4, 3, 9, source=Position(2, 1), chain=(ChainStep(2, 1, "note"),),
        fix=Fix("unsafe", "use sha256", (Edit(3, 4, 3, 9, "hashlib.sha256(x).hexdigest()"),)),
    )
    store.put("a.py", "d" * 64, (full,))
    assert store.get("a.py", "d" * 64) == (full,)


def test_corrupt_or_partial_entries_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, settings = _project(tmp_path)
    first = _run(root, settings)
    entries = sorted((root / ".keylint_cache").rglob("*.json"))
    assert len(entries) == 2
    entries[0].write_bytes(b'{"findings": [{"code": "KL2')  # torn write
    entries[1].write_bytes(b"\x00\xff garbage")
    checks = CountingChecks(monkeypatch)
    assert _run(root, settings) == first
    assert sorted(checks.paths) == ["clean.py", "leaky.py"]
    checks.paths.clear()
    assert _run(root, settings) == first  # rewritten good entries
    assert checks.paths == []


def test_unwritable_cache_dir_does_not_fail_the_run(tmp_path: Path) -> None:
    root, settings = _project(tmp_path)
    blocker = root / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    assert [d.code for d in _run(root, settings, cache_dir=str(blocker / "cache"))] == ["KL201"]


_WRITER = """
import sys
from keylint.cache import ResultCache
from keylint.diagnostics import Diagnostic
from keylint.settings import Settings

folder, tag = sys.argv[1], sys.argv[2]
store = ResultCache(folder, Settings())
for round_ in range(40):
    for i in range(25):
        digest = f"{i:064x}"
        finding = Diagnostic("KL201", f"file {i} " + "x" * 2000, f"f{i}.py", i + 1, 1, i + 1, 2)
        store.put(f"f{i}.py", digest, (finding,))
        got = store.get(f"f{i}.py", digest)
        if got is not None and (len(got) != 1 or got[0].line != i + 1):
            print("CORRUPT", tag, i, got)
            sys.exit(1)
print("ok", tag)
"""


def test_two_processes_writing_at_once_corrupt_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    folder = str(tmp_path / "shared")
    procs = [subprocess.Popen([sys.executable, str(script), folder, tag], stdout=subprocess.PIPE, text=True) for tag in "ab"]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    store = ResultCache(folder, Settings())
    for i in range(25):
        got = store.get(f"f{i}.py", f"{i:064x}")
        assert got is not None and got[0].line == i + 1
    assert not list(Path(folder).rglob(".tmp-*"))  # every temp file was moved into place


def test_pruning_drops_old_entries_and_keeps_under_the_size_cap(tmp_path: Path) -> None:
    store = ResultCache(str(tmp_path / "c"), Settings())
    for i in range(10):
        store.put(f"f{i}.py", f"{i:064x}", (Diagnostic("KL201", "m" * 100, f"f{i}.py", 1, 1, 1, 2),))
    now = time.time()
    entries = sorted(Path(store.entries).rglob("*.json"))
    for index, entry in enumerate(entries[:3]):
        os.utime(entry, (now - 40 * 86400, now - 40 * 86400 + index))  # unused for 40 days
    assert store.prune(now) == 3
    assert len(list(Path(store.entries).rglob("*.json"))) == 7
    size = entries[-1].stat().st_size
    assert store.prune(now, max_bytes=size * 4) == 3
    assert len(list(Path(store.entries).rglob("*.json"))) == 4
    # prune_if_due runs at most once a day
    assert store.prune_if_due(now) >= 0
    assert store.prune_if_due(now + 60) == 0


def test_cli_cache_flags(tmp_path: Path) -> None:
    root, _ = _project(tmp_path)
    (root / "pyproject.toml").write_text("[tool.keylint]\n")
    command = [sys.executable, "-m", "keylint", "check", "pkg", "-q", "--jobs", "1"]
    custom = root / "elsewhere"
    run = subprocess.run([*command, "--cache-dir", str(custom)], cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "KL201" in run.stdout
    assert len(list(custom.rglob("*.json"))) == 2
    assert not (root / ".keylint_cache").exists()
    run = subprocess.run([*command, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "KL201" in run.stdout
    assert not (root / ".keylint_cache").exists()
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert (root / ".keylint_cache" / ".gitignore").exists()
