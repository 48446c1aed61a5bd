"""File discovery: .gitignore (own implementation), default skips, exclude, --force-exclude,
symlink loops, unreadable entries, stable order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keylint.discover import discover, is_force_excluded
from keylint.globs import compile_pattern, matches_path
from keylint.settings import Settings


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def rel(root: Path, files: list[str]) -> list[str]:
    return [Path(f).relative_to(root).as_posix() for f in files]


def found(root: Path, settings: Settings | None = None, force: bool = False, paths: list[str] | None = None) -> list[str]:
    settings = settings or Settings(project_root=str(root))
    result = discover(paths or [str(root)], settings, force_exclude=force)
    assert not result.problems, result.problems
    return rel(root, result.files)


def test_walks_python_files_sorted_and_skips_defaults(tmp_path: Path) -> None:
    touch(tmp_path, "b.py", "a.pyi", "notes.txt", "pkg/z.py", "pkg/a.py", ".hidden/x.py", ".dot.py",
          "pkg/__pycache__/c.py", ".keylint_cache/d.py", "env/lib/e.py", "node_modules/f.py")  # fmt: skip
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    assert found(tmp_path) == ["a.pyi", "b.py", "pkg/a.py", "pkg/z.py"]


def test_gitignore_semantics(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    touch(tmp_path, "keep.py", "gen_a.py", "build/out.py", "src/build.py", "src/build/deep.py",
          "src/generated/x.py", "src/keep_me.py", "logs/a.py", "logs/important.py", "docs/a/b/c.py",
          "top.py", "sub/top.py", "sub/local.py", "sub/x.py", "sub/gen_b.py")  # fmt: skip
    (tmp_path / ".gitignore").write_text(
        "# comment\n"
        "gen_*.py\n"
        "build/\n"  # dir-only: src/build.py (a file) stays
        "**/generated\n"
        "logs/*\n"
        "!logs/important.py\n"  # negation re-includes (its folder itself is not ignored)
        "docs/**/c.py\n"
        "/top.py\n"  # anchored: sub/top.py stays
        "src/keep_me.py\n"
        "!src/keep_me.py\n"  # the last match wins
    )
    (tmp_path / "sub" / ".gitignore").write_text("local.py\n!x.py\n!gen_b.py\n")  # deeper file re-includes
    assert found(tmp_path) == [
        "keep.py", "logs/important.py", "src/build.py", "src/keep_me.py", "sub/gen_b.py", "sub/top.py", "sub/x.py"
    ]


def test_gitignore_above_the_checked_folder_applies_up_to_the_repo_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("pkg/skip.py\n*_pb2.py\n/pkg/\n")
    touch(tmp_path, "pkg/skip.py", "pkg/keep.py", "pkg/api_pb2.py")
    # A folder named on the command line is walked even when ignored itself (pyenv's checkout
    # ignores `/versions`, yet `keylint check <stdlib>` must see the standard library).
    result = discover([str(tmp_path / "pkg")], Settings(project_root=str(tmp_path)))
    assert rel(tmp_path, result.files) == ["pkg/keep.py"]


def test_pattern_that_cannot_reinclude_inside_ignored_folder() -> None:
    patterns = [p for p in (compile_pattern("out/"), compile_pattern("!out/keep.py")) if p]
    assert matches_path(patterns, "out/keep.py", False)


def test_exclude_globs_relative_to_root_and_force_exclude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, "tests/fixtures/leaky.py", "tests/test_a.py", "src/gen/x.py", "src/a.py", "migrations/0001.py",
          "app/migrations/0002.py")  # fmt: skip
    settings = Settings(project_root=str(tmp_path), exclude=("tests/fixtures",), extend_exclude=("gen", "migrations/"))
    assert found(tmp_path, settings) == ["src/a.py", "tests/test_a.py"]
    # Explicit files are checked as given, unless --force-exclude (pre-commit passes every file).
    monkeypatch.chdir(tmp_path)
    explicit = ["tests/fixtures/leaky.py", "src/a.py", "app/migrations/0002.py"]
    assert discover(explicit, settings).files == sorted(os.path.normpath(p) for p in explicit)
    assert discover(explicit, settings, force_exclude=True).files == [os.path.normpath("src/a.py")]
    assert is_force_excluded("tests/fixtures/leaky.py", settings)
    assert not is_force_excluded("src/a.py", settings)


def test_force_exclude_applies_gitignore_to_explicit_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("vendor/\n")
    touch(tmp_path, "vendor/lib.py", "app.py")
    monkeypatch.chdir(tmp_path)
    settings = Settings(project_root=str(tmp_path))
    assert discover(["vendor/lib.py", "app.py"], settings).files == ["app.py", os.path.normpath("vendor/lib.py")]
    assert discover(["vendor/lib.py", "app.py"], settings, force_exclude=True).files == ["app.py"]
    assert discover(["vendor"], settings, force_exclude=True).files == []
    assert discover(["vendor"], settings).files == [os.path.normpath("vendor/lib.py")]


def test_symlink_loops_and_dangling_links_do_not_hang(tmp_path: Path) -> None:
    touch(tmp_path, "pkg/a.py")
    (tmp_path / "pkg" / "loop").symlink_to(tmp_path / "pkg", target_is_directory=True)
    (tmp_path / "pkg" / "self.py").symlink_to(tmp_path / "pkg" / "self.py")  # ELOOP on stat
    (tmp_path / "pkg" / "gone.py").symlink_to(tmp_path / "missing.py")
    result = discover([str(tmp_path)], Settings(project_root=str(tmp_path)))
    # The loop is walked once; broken links are handed to the runner, which reports them as KL001.
    assert rel(tmp_path, result.files) == ["pkg/a.py", "pkg/gone.py", "pkg/self.py"]


def test_missing_and_unreadable_paths_are_problems_not_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, "ok.py", "locked/a.py")
    real_scandir = os.scandir

    def failing_scandir(path: str) -> object:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", failing_scandir)
    result = discover([str(tmp_path), str(tmp_path / "nope.py")], Settings(project_root=str(tmp_path)))
    assert rel(tmp_path, result.files) == ["ok.py"]
    assert [(Path(p.path).name, p.message) for p in result.problems] == [
        ("locked", "cannot read folder: Permission denied"),
        ("nope.py", "cannot read: No such file or directory"),
    ]


def test_duplicates_collapse_and_explicit_non_python_files_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, "a.py", "script")
    monkeypatch.chdir(tmp_path)
    result = discover([".", "a.py", "./a.py", "script"], Settings(project_root=str(tmp_path)))
    assert result.files == ["a.py", "script"]


def test_dot_slash_and_absolute_exclude_patterns(tmp_path: Path) -> None:
    touch(tmp_path, "build/a.py", "gen/b.py", "src/c.py")
    settings = Settings(project_root=str(tmp_path), exclude=("./build", str(tmp_path / "gen")))
    assert found(tmp_path, settings) == ["src/c.py"]
