"""Paths on the command line to the files to check.

Folders are walked for `*.py`/`*.pyi`, honouring `.gitignore` files (read here, no git needed),
skipping hidden, virtualenv, `__pycache__` and `.keylint_cache` folders and the `exclude` globs.
Paths given explicitly are checked as given unless `force_exclude` (what pre-commit needs).
Nothing here raises for a bad path: problems come back as `Problem`s for the report.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keylint.globs import Pattern, compile_pattern, last_match, matches_entry, matches_path
from keylint.settings import Settings

PYTHON_SUFFIXES = (".py", ".pyi")
SKIPPED_DIR_NAMES = frozenset({"__pycache__", ".keylint_cache", "node_modules", "site-packages"})


@dataclass(frozen=True)
class Problem:
    """A path that could not be looked at; reported as KL001."""

    path: str
    message: str


@dataclass
class Discovery:
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _IgnoreFile:
    base: str  # absolute folder the patterns are relative to
    patterns: tuple[Pattern, ...]


def _to_posix(path: str) -> str:
    return path.replace(os.sep, "/")


def _relative_to(path: str, base: str) -> str | None:
    rel = os.path.relpath(path, base)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return "" if rel == "." else _to_posix(rel)


def _read_ignore_file(folder: str) -> _IgnoreFile | None:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    patterns = tuple(p for p in (compile_pattern(line) for line in lines) if p is not None)
    return _IgnoreFile(folder, patterns) if patterns else None


def _is_ignored(rules: Sequence[_IgnoreFile], abs_path: str, is_dir: bool, *, with_folders: bool) -> bool:
    """Whether a .gitignore ignores `abs_path`. The walk asks about each entry alone (its folders
    were judged on the way down; a folder named on the command line is never ignored itself);
    a file named explicitly with --force-exclude is judged with its folders (`with_folders`)."""
    if with_folders:
        return any((rel := _relative_to(abs_path, r.base)) and matches_path(r.patterns, rel, is_dir) for r in rules)
    for rule in reversed(rules):  # the deepest .gitignore with a matching pattern decides
        rel = _relative_to(abs_path, rule.base)
        verdict = last_match(rule.patterns, rel, is_dir) if rel else None
        if verdict is not None:
            return verdict
    return False


def _outer_ignore_files(folder: str) -> list[_IgnoreFile]:
    """The .gitignore files above `folder`, up to the repository root (the folder with `.git`)."""
    chain: list[str] = []
    current = os.path.dirname(folder)
    if os.path.exists(os.path.join(folder, ".git")):
        return []
    while True:
        chain.append(current)
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return []  # not inside a git repository: only .gitignore files at or below `folder`
        current = parent
    return [f for f in (_read_ignore_file(c) for c in reversed(chain)) if f is not None]


class _Excluder:
    """`exclude`/`extend-exclude` globs, anchored at the project root."""

    def __init__(self, settings: Settings) -> None:
        self.root = os.path.abspath(settings.project_root or os.getcwd())
        globs = [self._rooted(g) for g in settings.exclude + settings.extend_exclude]
        self.patterns = [p for p in (compile_pattern(g, allow_negation=False) for g in globs) if p is not None]

    def _rooted(self, glob: str) -> str:
        """An absolute path inside the project becomes a pattern anchored at the root."""
        if os.path.isabs(glob) and _relative_to(glob, self.root):
            return "/" + (_relative_to(glob, self.root) or "")
        return glob

    def excluded(self, abs_path: str, is_dir: bool, *, with_folders: bool) -> bool:
        if not self.patterns:
            return False
        rel = _relative_to(abs_path, self.root)
        if rel is None:  # outside the project: only name patterns (no `/`) can match
            rel = _to_posix(abs_path).lstrip("/")
            patterns = [p for p in self.patterns if "/" not in p.text.rstrip("/")]
        else:
            patterns = self.patterns
        return bool(rel) and (matches_path if with_folders else matches_entry)(patterns, rel, is_dir)


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def _skipped_by_default(entry: os.DirEntry[str], is_dir: bool) -> bool:
    if entry.name.startswith("."):
        return True
    return is_dir and (entry.name in SKIPPED_DIR_NAMES or _is_virtualenv(entry.path))


class _Walker:
    def __init__(self, settings: Settings, result: Discovery) -> None:
        self.excluder = _Excluder(settings)
        self.result = result
        self.seen_dirs: set[tuple[int, int]] = set()

    def walk(self, display: str, ignore_files: list[_IgnoreFile]) -> None:
        """Walk the folder `display` (a path as the user will see it)."""
        abs_dir = os.path.abspath(display)
        try:
            info = os.stat(abs_dir)
        except OSError as exc:
            self.result.problems.append(Problem(display, f"cannot read folder: {exc.strerror or exc}"))
            return
        identity = (info.st_dev, info.st_ino)
        if identity in self.seen_dirs:
            return  # a symlink back into a folder already walked (or a loop)
        self.seen_dirs.add(identity)
        own = _read_ignore_file(abs_dir)
        rules = ignore_files + [own] if own else ignore_files
        try:
            with os.scandir(abs_dir) as iterator:
                entries = sorted(iterator, key=lambda e: e.name)
        except OSError as exc:
            self.result.problems.append(Problem(display, f"cannot read folder: {exc.strerror or exc}"))
            return
        for entry in entries:
            child = os.path.join(display, entry.name)
            try:
                is_dir = entry.is_dir()  # follows symlinks; a loop raises or reports False
            except OSError:
                is_dir = False
            if _skipped_by_default(entry, is_dir):
                continue
            abs_child = os.path.join(abs_dir, entry.name)
            if self.excluder.excluded(abs_child, is_dir, with_folders=False) or _is_ignored(
                rules, abs_child, is_dir, with_folders=False
            ):
                continue
            if is_dir:
                self.walk(child, rules)
            elif entry.name.endswith(PYTHON_SUFFIXES):
                # Regular files, FIFOs, dangling links: the runner reports what it cannot read.
                self.result.files.append(child)


def _explicitly_excluded(
    path: str, excluder: _Excluder, is_dir: bool, cache: dict[str, list[_IgnoreFile]] | None = None
) -> bool:
    """`cache` maps a folder to the .gitignore files that apply inside it (pre-commit passes
    hundreds of files from few folders)."""
    abs_path = os.path.abspath(path)
    if excluder.excluded(abs_path, is_dir, with_folders=True):
        return True
    folder = os.path.dirname(abs_path)
    if cache is None or folder not in cache:
        own = _read_ignore_file(folder)
        rules = _outer_ignore_files(folder) + ([own] if own else [])
        if cache is not None:
            cache[folder] = rules
    else:
        rules = cache[folder]
    return _is_ignored(rules, abs_path, is_dir, with_folders=True)


def is_force_excluded(path: str, settings: Settings) -> bool:
    """Whether an explicitly named path is excluded (`--force-exclude`, also for stdin names)."""
    return _explicitly_excluded(path, _Excluder(settings), os.path.isdir(path))


def discover(paths: Iterable[str], settings: Settings, *, force_exclude: bool = False) -> Discovery:
    """Files to check under `paths`, sorted and without duplicates."""
    result = Discovery()
    walker = _Walker(settings, result)
    ignore_cache: dict[str, list[_IgnoreFile]] = {}
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            # A dangling symlink or a vanished path: report it, keep going.
            result.problems.append(Problem(path, f"cannot read: {exc.strerror or exc}"))
            continue
        is_dir = stat.S_ISDIR(mode)
        if force_exclude and _explicitly_excluded(path, walker.excluder, is_dir, ignore_cache):
            continue
        if is_dir:
            walker.walk(path, _outer_ignore_files(os.path.abspath(path)))
        else:
            result.files.append(path)
    unique: dict[str, str] = {}
    for file in result.files:
        unique.setdefault(os.path.normcase(os.path.abspath(file)), os.path.normpath(file))
    result.files = sorted(unique.values())
    result.problems.sort(key=lambda p: p.path)
    return result
