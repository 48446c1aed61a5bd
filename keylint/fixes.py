"""Applying the fixes findings carry, and writing fixed files safely.

Edits use the findings' coordinates: 1-based lines, code-point columns, end exclusive. Overlapping
fixes are left for the next round; rounds repeat (re-checking the new text) until nothing changes.
A round whose result does not parse is dropped. Files keep their encoding, BOM, line endings
and mode, and are replaced atomically.
"""

from __future__ import annotations

import ast
import difflib
import io
import os
import re
import tokenize
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keylint.atomic import replace_file
from keylint.diagnostics import Diagnostic, Edit, Fix
from keylint.settings import Settings

MAX_ROUNDS = 4
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class FixOutcome:
    """What fixing one text did. `text` is the final text (the input when nothing applied)."""

    text: str
    fixed: int = 0
    remaining: list[Diagnostic] = field(default_factory=list)
    error: str | None = None  # why some fix was not applied (the text stays valid)


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def _offset(starts: list[int], text: str, line: int, column: int) -> int | None:
    """Code-point offset of (line, column), or None when outside the text."""
    if line < 1 or column < 1:
        return None
    if line > len(starts):
        return len(text) if (line == len(starts) + 1 and column == 1 and text.endswith(("\n", "\r"))) else None
    start = starts[line - 1]
    end_of_line = starts[line] if line < len(starts) else len(text)
    offset = start + column - 1
    return offset if offset <= end_of_line else None


def line_ending(text: str) -> str:
    match = _LINE_BREAK.search(text)
    return match.group() if match else "\n"


def _ranges(fix: Fix, text: str, starts: list[int], newline: str) -> list[tuple[int, int, str]] | None:
    ranges = []
    for edit in fix.edits:
        begin = _offset(starts, text, edit.line, edit.column)
        end = _offset(starts, text, edit.end_line, edit.end_column)
        if begin is None or end is None or end < begin:
            return None
        content = _LINE_BREAK.sub(newline, edit.content)
        ranges.append((begin, end, content))
    ranges.sort()
    for (a0, a1, _), (b0, _b1, _c) in zip(ranges, ranges[1:]):
        if b0 < a1 or b0 == a0:
            return None  # a fix whose own edits overlap is malformed
    return ranges


def _overlaps(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return a[0] == b[0] or max(a[0], b[0]) < min(a[1], b[1])


def eligible(diagnostic: Diagnostic, unsafe: bool) -> bool:
    fix = diagnostic.fix
    return fix is not None and bool(fix.edits) and (fix.applicability == "safe" or unsafe)


def apply_round(text: str, diagnostics: Sequence[Diagnostic], *, unsafe: bool) -> tuple[str, int]:
    """Apply every eligible fix that overlaps no fix applied before it (in position order)."""
    starts = _line_starts(text)
    newline = line_ending(text)
    chosen: list[tuple[int, int, str]] = []
    count = 0
    for diagnostic in sorted(diagnostics, key=Diagnostic.sort_key):
        if not eligible(diagnostic, unsafe):
            continue
        assert diagnostic.fix is not None
        ranges = _ranges(diagnostic.fix, text, starts, newline)
        if ranges is None or any(_overlaps(r, c) for r in ranges for c in chosen):
            continue
        chosen.extend(ranges)
        count += 1
    for begin, end, content in sorted(chosen, reverse=True):
        text = text[:begin] + content + text[end:]
    return text, count


def parse_error(text: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of the user's code are not ours
            ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        return f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}"
    return None


def fix_text(
    text: str, diagnostics: list[Diagnostic], check: Callable[[str], list[Diagnostic]], *, unsafe: bool,
    max_rounds: int = MAX_ROUNDS,
) -> FixOutcome:
    """Fix `text` in rounds; `check` re-lints a candidate text. Never returns unparsable text."""
    outcome = FixOutcome(text=text, remaining=diagnostics)
    for _ in range(max_rounds):
        candidate, count = apply_round(outcome.text, outcome.remaining, unsafe=unsafe)
        if count == 0 or candidate == outcome.text:
            break
        problem = parse_error(candidate)
        if problem is not None:
            outcome.error = f"fixes not applied: the result would not parse ({problem})"
            break
        outcome.text, outcome.fixed, outcome.remaining = candidate, outcome.fixed + count, check(candidate)
    return outcome


@dataclass(frozen=True)
class DecodedSource:
    text: str
    encoding: str  # as tokenize names it; "utf-8-sig" keeps a BOM


def decode_source(data: bytes) -> DecodedSource | None:
    """Decode as Python does (BOM, coding cookie); None when the bytes do not decode."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return DecodedSource(data.decode(encoding), encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=path, tofile=path
    )
    return "".join(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n" for line in lines)


class WriteError(Exception):
    pass


def write_atomic(path: str, data: bytes, expected_old: bytes) -> None:
    """Replace `path` with `data` through a temp file in the same folder, keeping the mode.
    Refuses when the file changed since it was read (another process, an editor)."""
    target = os.path.realpath(path)  # a symlink stays a symlink; its target gets the new text
    info = os.stat(target)
    with open(target, "rb") as handle:
        if handle.read() != expected_old:
            raise WriteError("the file changed while keylint was fixing it; not written")

    def fill(fd: int, temp: str) -> None:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, info.st_mode & 0o7777)
        if hasattr(os, "chown"):
            try:
                os.chown(temp, info.st_uid, info.st_gid)
            except OSError:
                pass  # not permitted as a normal user; the file is ours then anyway

    replace_file(target, ".keylint-fix-", fill)


@dataclass
class FileFix:
    """Fixing one file: findings left, fixes applied, the diff, and why something was not written."""

    path: str
    remaining: list[Diagnostic]
    fixed: int = 0
    diff: str = ""
    message: str | None = None


def fix_file(path: str, settings: Settings, *, unsafe: bool, write: bool) -> FileFix:
    """Check `path`, apply its fixes, and write the result unless `write` is False (--diff)."""
    from keylint.runner import check_bytes, read_source

    data = read_source(path, settings.max_file_size)
    if isinstance(data, Diagnostic):
        return FileFix(path, [data])
    diagnostics = check_bytes(data, path, settings)
    if not any(eligible(d, unsafe) for d in diagnostics):
        return FileFix(path, diagnostics)
    decoded = decode_source(data)
    if decoded is None:
        return FileFix(path, diagnostics, message="not fixed: the file does not decode")
    outcome = fix_text(decoded.text, diagnostics, lambda text: check_bytes(text, path, settings), unsafe=unsafe)
    result = FileFix(path, outcome.remaining, outcome.fixed, message=outcome.error)
    if outcome.fixed == 0:
        return result
    try:
        new_data = outcome.text.encode(decoded.encoding)
    except UnicodeEncodeError as exc:
        return FileFix(path, diagnostics, message=f"not fixed: the fixed text cannot be encoded as {decoded.encoding} ({exc.reason})")
    result.diff = unified_diff(path, decoded.text, outcome.text)
    if write:
        try:
            write_atomic(path, new_data, data)
        except (OSError, WriteError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return FileFix(path, diagnostics, message=f"not fixed: {reason}")
    return result


__all__ = [
    "Edit", "Fix", "FileFix", "FixOutcome", "fix_file", "MAX_ROUNDS", "DecodedSource", "WriteError", "apply_round", "decode_source",
    "eligible", "fix_text", "line_ending", "parse_error", "unified_diff", "write_atomic",
]  # fmt: skip
