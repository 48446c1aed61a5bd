"""Resolved settings for one run: what `config.py` builds from `[tool.keylint]` and the CLI.

Kept free of I/O so the engine, the cache key and the workers can share it (it pickles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Families: KL0xx engine, KL1xx contexts/deadlines, KL2xx time, KL3xx identity,
# KL4xx salted hash, KL5xx ordering, KL6xx per-call values, KL7xx method caches, KL8xx mismatch.
DEFAULT_SELECT: tuple[str, ...] = ("KL",)
DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024  # bytes; larger files get KL001 (libcst needs ~180x the size in RAM)
DEFAULT_MAX_DEPTH = 200  # nesting depth of expressions/statements before KL001


@dataclass(frozen=True)
class SinkSpec:
    """A project's own cache API: calls to `function` (dotted name or method name) take the key at
    positional index `key_arg` or keyword `key_kwarg`. `persistent` marks keys that leave the process."""

    function: str
    key_arg: int | None = 0
    key_kwarg: str | None = None
    persistent: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """A project's own unstable value. `kind` picks the family that reports it:
    "context" (KL101), "deadline" (KL102), "time" (KL201), "identity" (KL301), "random" (KL601).
    Exactly one of `name` (a parameter/variable name or `*_suffix` glob), `type` (an annotation or
    class name, dotted or bare) or `function` (a call whose result is unstable) is set."""

    kind: str
    name: str | None = None
    type: str | None = None
    function: str | None = None


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, codes)
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    sources: tuple[SourceSpec, ...] = ()
    sinks: tuple[SinkSpec, ...] = ()
    sanitizers: tuple[str, ...] = ()  # dotted or bare function names whose result is a stable key
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    config_path: str | None = None  # where these came from, for messages; not part of the cache key
    project_root: str | None = None

    def is_enabled(self, code: str, path: str | None = None) -> bool:
        """Prefix matching as ruff does: the longest matching prefix among select/ignore wins."""
        if code == "KL001":
            return True  # a file that cannot be checked is always reported
        best_sel = max((len(p) for p in self.select + self.extend_select if code.startswith(p)), default=-1)
        ignores = list(self.ignore)
        if path is not None and self.per_file_ignores:
            rel = self._relative_path(path)
            for pattern, codes in self.per_file_ignores:
                if _glob_matches(pattern, rel):
                    ignores.extend(codes)
        best_ign = max((len(p) for p in ignores if code.startswith(p)), default=-1)
        return best_sel >= 0 and best_sel > best_ign

    def _relative_path(self, path: str) -> str:
        """`path` relative to the project root (where relative globs are anchored), with `/`."""
        import os

        if self.project_root and not path.startswith("<"):
            rel = os.path.relpath(os.path.abspath(path), self.project_root)
            if rel != ".." and not rel.startswith(".." + os.sep):
                path = rel
        return path.replace(os.sep, "/")

    def fingerprint(self) -> str:
        """Stable text of everything that changes findings (for the result cache key)."""
        import json

        data = {
            "select": sorted(self.select),
            "ignore": sorted(self.ignore),
            "extend_select": sorted(self.extend_select),
            "per_file_ignores": sorted([p, sorted(c)] for p, c in self.per_file_ignores),
            "sources": sorted(repr(s) for s in self.sources),
            "sinks": sorted(repr(s) for s in self.sinks),
            "sanitizers": sorted(self.sanitizers),
            "max_file_size": self.max_file_size,
            "max_depth": self.max_depth,
        }
        return json.dumps(data, sort_keys=True)


def _glob_matches(pattern: str, rel_path: str) -> bool:
    from keylint.globs import glob_matches

    return glob_matches(pattern, rel_path)
