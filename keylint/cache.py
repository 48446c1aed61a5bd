"""The result cache: final per-file findings (after suppressions), keyed by what decides them.

Key = sha256 of (cache format, keylint's version, a signature of keylint's own code and rules, the
settings fingerprint (selection and config), the file's path relative to the project root (findings
and per-file-ignores depend on it), the sha256 of the file's bytes). One small JSON file per entry
under `<root>/.keylint_cache/v1/ab/<key>.json`, path-free (the caller re-attaches the path).

Safe with several keylint processes at once: an entry is written to a temp file and moved into place
with `os.replace` (readers see the old entry, the new one, or none); a corrupt or partial entry is
ignored and rewritten. Self-pruning: at most once a day, entries unused for `MAX_AGE_DAYS` are
deleted, and the oldest go when the cache is over `MAX_BYTES`. Hits refresh an entry's mtime once a day.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache

from keylint._version import __version__
from keylint.atomic import replace_file
from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position
from keylint.settings import Settings

FORMAT = "v1"
DEFAULT_DIR = ".keylint_cache"
MAX_AGE_DAYS = 30
MAX_BYTES = 256 * 1024 * 1024
DAY = 24 * 3600
_PRUNE_MARK = "last-prune"
_TEMP_PREFIX = ".tmp-"  # an entry or .gitignore being written (prune removes strays after an hour)


@lru_cache(maxsize=1)
def code_signature() -> str:
    """Sizes and mtimes of keylint's own modules and rules: a development checkout that edits a rule
    without bumping the version must not be served stale findings."""
    import importlib.util

    parts: list[str] = []
    for package in ("keylint", "keylint.rules"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for top, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if name.endswith(".py"):
                        info = os.stat(os.path.join(top, name))
                        parts.append(f"{os.path.relpath(os.path.join(top, name), folder)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ResultCache:
    """Findings per (settings, relative path, content). `get`/`put` never raise for cache trouble:
    an unusable cache only costs speed."""

    def __init__(self, folder: str, settings: Settings) -> None:
        self.folder = folder
        self.entries = os.path.join(folder, FORMAT)
        self.settings = settings
        self.hits = 0
        self.misses = 0
        self._usable = True
        self._prefix = json.dumps([FORMAT, __version__, code_signature(), settings.fingerprint()])

    @classmethod
    def for_settings(cls, settings: Settings, cache_dir: str | None = None) -> ResultCache:
        folder = cache_dir or os.path.join(settings.project_root or os.getcwd(), DEFAULT_DIR)
        return cls(os.path.abspath(folder), settings)

    def key(self, path: str, digest: str) -> str:
        relative = self.settings._relative_path(path)
        text = f"{self._prefix}\0{relative}\0{digest}"  # surrogateescape: undecodable file names
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def _entry(self, key: str) -> str:
        return os.path.join(self.entries, key[:2], key + ".json")

    def get(self, path: str, digest: str) -> tuple[Diagnostic, ...] | None:
        entry = self._entry(self.key(path, digest))
        try:
            with open(entry, "rb") as handle:
                raw = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
            found = tuple(_load(item, path) for item in _items(json.loads(raw)))
        except (OSError, ValueError, TypeError, KeyError):
            self.misses += 1
            return None  # absent, partial or corrupt: recompute (and overwrite)
        if time.time() - mtime > DAY:
            try:
                os.utime(entry)  # mark as used, for pruning
            except OSError:
                pass
        self.hits += 1
        return found

    def put(self, path: str, digest: str, diagnostics: tuple[Diagnostic, ...]) -> None:
        if not self._usable:
            return
        entry = self._entry(self.key(path, digest))
        payload = json.dumps({"findings": [_dump(d) for d in diagnostics]}, separators=(",", ":")).encode()
        try:
            folder = os.path.dirname(entry)
            if not os.path.isdir(folder):
                self._create_root()
                os.makedirs(folder, exist_ok=True)
            replace_file(entry, _TEMP_PREFIX, lambda fd, temp: _write_and_close(fd, payload))
        except OSError:
            self._usable = False  # read-only or full disk: run on without the cache

    def _create_root(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        ignore = os.path.join(self.folder, ".gitignore")
        if not os.path.exists(ignore):

            def fill(fd: int, temp: str) -> None:
                _write_and_close(fd, b"# Created by keylint: the result cache, safe to delete.\n*\n")
                os.chmod(temp, 0o644)

            replace_file(ignore, _TEMP_PREFIX, fill)

    # ---- pruning --------------------------------------------------------------------------------
    def prune_if_due(self, now: float | None = None) -> int:
        """Prune at most once a day (one process wins; others see the fresh mark)."""
        now = time.time() if now is None else now
        mark = os.path.join(self.folder, _PRUNE_MARK)
        try:
            if now - os.stat(mark).st_mtime < DAY:
                return 0
        except FileNotFoundError:
            if not os.path.isdir(self.entries):
                return 0
        except OSError:
            return 0
        try:
            with open(mark, "w"):
                pass
            os.utime(mark, (now, now))
        except OSError:
            return 0
        return self.prune(now)

    def prune(self, now: float | None = None, max_age_days: float = MAX_AGE_DAYS, max_bytes: int = MAX_BYTES) -> int:
        """Delete entries unused for `max_age_days`, then the oldest while over `max_bytes`;
        stray temp files older than an hour go too. Returns how many files were removed."""
        now = time.time() if now is None else now
        removed = 0
        kept: list[tuple[float, int, str]] = []
        for path, info in _walk(self.entries):
            name = os.path.basename(path)
            stale_temp = name.startswith(_TEMP_PREFIX) and now - info.st_mtime > 3600
            if stale_temp or now - info.st_mtime > max_age_days * DAY:
                removed += _remove(path)
            elif name.endswith(".json"):
                kept.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept):
            if total <= max_bytes:
                break
            removed += _remove(path)
            total -= size
        return removed


def _walk(folder: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        subfolders = list(os.scandir(folder))
    except OSError:
        return
    for sub in subfolders:
        if not sub.is_dir(follow_symlinks=False):
            continue
        try:
            for entry in os.scandir(sub.path):
                try:
                    yield entry.path, entry.stat(follow_symlinks=False)
                except OSError:
                    continue
        except OSError:
            continue


def _write_and_close(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _remove(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError:
        return 0


def _items(data: object) -> list[dict[str, object]]:
    findings = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(findings, list):
        raise ValueError("not a cache entry")
    return findings


def _dump(diagnostic: Diagnostic) -> dict[str, object]:
    data = asdict(diagnostic)
    del data["path"]  # re-attached on load: the entry is shared by every spelling of the path
    return data


def _load(item: dict[str, object], path: str) -> Diagnostic:
    if not isinstance(item, dict):
        raise ValueError("bad finding")
    source = item.get("source")
    fix = item.get("fix")
    chain = item.get("chain") or []
    if not isinstance(chain, list):
        raise ValueError("bad chain")
    return Diagnostic(
        code=str(item["code"]),
        message=str(item["message"]),
        path=path,
        line=int(item["line"]),  # type: ignore[call-overload]
        column=int(item["column"]),  # type: ignore[call-overload]
        end_line=int(item["end_line"]),  # type: ignore[call-overload]
        end_column=int(item["end_column"]),  # type: ignore[call-overload]
        source=Position(**source) if isinstance(source, dict) else None,
        chain=tuple(ChainStep(**step) for step in chain),
        fix=_load_fix(fix) if isinstance(fix, dict) else None,
    )


def _load_fix(data: dict[str, object]) -> Fix:
    edits = tuple(Edit(**edit) for edit in data["edits"])  # type: ignore[attr-defined, arg-type]
    return Fix(data["applicability"], str(data["message"]), edits)  # type: ignore[arg-type]
