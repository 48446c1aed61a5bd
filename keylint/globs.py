"""Gitignore-style glob patterns, shared by `.gitignore` files, `exclude` and `per-file-ignores`.

Semantics follow gitignore(5): `*` and `?` never cross `/`; `**/`, `/**/` and a trailing `/**` span
folders; a pattern with a `/` at its start or middle is anchored to its base folder, otherwise it
matches a name at any depth; a trailing `/` matches folders only; `!` negates (gitignore only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    text: str

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        """`rel_path` is relative to the pattern's base folder, with forward slashes."""
        if self.dir_only and not is_dir:
            return False
        return self.regex.match(rel_path) is not None


def _translate(body: str) -> str:
    """Translate the glob `body` (no leading/trailing slash handling) into a regex fragment."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "*":
            if body.startswith("**", i):
                before_ok = i == 0 or body[i - 1] == "/"
                after = body[i + 2 : i + 3]
                if before_ok and after == "/":  # `**/`: zero or more folders
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                if before_ok and i + 2 == n:  # trailing `/**` (or a bare `**`): everything inside
                    out.append(".*")
                    i += 2
                    continue
                while i < n and body[i] == "*":  # other runs of stars are plain stars
                    i += 1
                out.append("[^/]*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and body[j] in "!^":
                j += 1
            if j < n and body[j] == "]":
                j += 1
            while j < n and body[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal `[`
                out.append(re.escape(c))
            else:
                inner = body[i + 1 : j]
                negate = inner[:1] in ("!", "^")
                if negate:
                    inner = inner[1:]
                inner = inner.replace("\\", "\\\\")
                out.append(f"[{'^/' if negate else ''}{inner}]" if inner else "(?!)")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(body[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_pattern(line: str, *, allow_negation: bool = True) -> Pattern | None:
    """Compile one gitignore line; None for blanks and comments."""
    text = line.rstrip("\n").rstrip("\r")
    # Trailing spaces are ignored unless escaped with a backslash.
    stripped = text.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(text):
        stripped += " "
    text = stripped
    if not text or text.startswith("#"):
        return None
    negated = False
    if allow_negation and text.startswith("!"):
        negated, text = True, text[1:]
    elif text.startswith(("\\!", "\\#")):
        text = text[1:]
    dir_only = text.endswith("/") and not text.endswith("\\/")
    body = text.rstrip("/") if dir_only else text
    if not body:
        return None
    while body.startswith("./"):  # `./build` means `build` at the base
        body = "/" + body[2:]
    anchored = "/" in body
    body = body.lstrip("/")
    # A match on a folder covers everything inside it, so `build` also matches `build/x.py`.
    prefix = "" if anchored else "(?:.*/)?"
    regex = re.compile(f"{prefix}{_translate(body)}\\Z", re.DOTALL)
    return Pattern(regex=regex, negated=negated, dir_only=dir_only, text=line)


def last_match(patterns: Sequence[Pattern], rel_path: str, is_dir: bool) -> bool | None:
    """Verdict of the last pattern matching the path itself: True ignored, False re-included,
    None when no pattern matches (a shallower .gitignore decides then)."""
    verdict = None
    for pattern in patterns:
        if pattern.matches(rel_path, is_dir):
            verdict = not pattern.negated
    return verdict


def matches_entry(patterns: Sequence[Pattern], rel_path: str, is_dir: bool) -> bool:
    """gitignore verdict for the path itself (its folders already passed)."""
    return last_match(patterns, rel_path, is_dir) is True


def matches_path(patterns: Sequence[Pattern], rel_path: str, is_dir: bool) -> bool:
    """gitignore verdict for `rel_path` and its folders (relative to the patterns' base): a folder
    that matches covers everything inside it (and cannot be re-included)."""
    parts = rel_path.split("/")
    for depth in range(1, len(parts) + 1):
        sub_is_dir = is_dir if depth == len(parts) else True
        if matches_entry(patterns, "/".join(parts[:depth]), sub_is_dir):
            return True
    return False


def glob_matches(pattern: str, rel_path: str, is_dir: bool = False) -> bool:
    """One exclude-style pattern (no negation) against a path relative to the pattern's base,
    a match on any of its folders included."""
    compiled = compile_pattern(pattern, allow_negation=False)
    return compiled is not None and matches_path([compiled], rel_path, is_dir)
