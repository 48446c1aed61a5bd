"""The real pre-commit runs this checkout's hooks (`.pre-commit-hooks.yaml`) through `try-repo`.

`try-repo <path>` takes the path's HEAD plus *tracked* changes only (it stages with `git add -u`), so
files not yet committed would be missing from the hook's install. The test therefore snapshots the
working tree (every tracked or untracked, non-ignored file, as `git ls-files` lists them) into a fresh
repository and points `try-repo` at that: the hook installs exactly the code under test (pre-commit
builds it with pip from the package registry, as it does for users).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[1]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
KEYLINT = Path(sys.executable).with_name("keylint")
GIT = ("git", "-c", "user.name=keylint-test", "-c", "user.email=test@keylint.invalid", "-c", "commit.gpgsign=false")
LEAKY = "def watch(streams, ctx):\n    streams[str(ctx)] = 1\n"
CLEAN = "def watch(streams, ctx):\n    streams[ctx.stream_id] = 1\n"
STALE = "def watch(streams, ctx):\n    streams[ctx.stream_id] = 1  # keylint: ignore[KL101]\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    target = tmp_path_factory.mktemp("keylint-snapshot")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # deleted-but-tracked files are not part of the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert (target / ".pre-commit-hooks.yaml").is_file()
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "snapshot of the working tree")
    return target


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "pyproject.toml").write_text('[tool.keylint]\nexclude = ["generated"]\n', encoding="utf-8")
    return tmp_path


def try_repo(snapshot: Path, home: Path, project: Path, hook: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo SNAPSHOT HOOK` on the project's staged files."""
    assert PRE_COMMIT.is_file(), f"pre-commit is a dev dependency; expected it at {PRE_COMMIT}"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    env.pop("KEYLINT_PROGRESS_DELAY", None)
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(snapshot), hook, "--color=never"],
        cwd=project, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def stage(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    git(project, "add", "--", *files)


def test_hook_fails_on_a_staged_leaky_key_and_prints_the_finding(snapshot: Path, pre_commit_home: Path, project: Path) -> None:
    stage(project, {"leaky.py": LEAKY})
    done = try_repo(snapshot, pre_commit_home, project, "keylint")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "keylint" in output and "Failed" in output
    # The installed hook is this working tree's keylint: its finding is the local one, word for word.
    local = subprocess.run([str(KEYLINT), "check", "leaky.py", "--no-cache", "-q"], cwd=project,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    first = local.stdout.splitlines()[0]
    assert first.startswith("leaky.py:2:5: KL101 ") and first in output


def test_hook_passes_on_clean_and_excluded_files(snapshot: Path, pre_commit_home: Path, project: Path) -> None:
    stage(project, {"clean.py": CLEAN, "stub.pyi": "def f() -> int: ...\n", "generated/leaky.py": LEAKY})
    done = try_repo(snapshot, pre_commit_home, project, "keylint")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output  # generated/ is excluded in the config: --force-exclude honours it
    assert "Passed" in output and "KL101" not in output


def test_fix_hook_rewrites_the_file_and_fails(snapshot: Path, pre_commit_home: Path, project: Path) -> None:
    stage(project, {"stale.py": STALE})
    done = try_repo(snapshot, pre_commit_home, project, "keylint-fix")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "files were modified by this hook" in output, output
    assert (project / "stale.py").read_text(encoding="utf-8") == CLEAN  # the unused directive's safe fix
