"""Baselines: record today's findings (`--write-baseline FILE`) so that later runs (`--baseline FILE`)
fail only on new ones.

A finding is matched by its code, its path (from the project root) and a fingerprint of its line's
text and its key expression's text, never its line number, so moving code keeps it matched. Each
fingerprint has a count: a copy of a baselined line is a new finding. KL001 (a file keylint could
not check) is never baselined. The file is JSON, sorted, with no timestamps, so it diffs well.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from keylint.atomic import replace_file
from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext, SourceLines

FORMAT_VERSION = 1
NEVER_BASELINED = frozenset({"KL001"})
_SHOWN_KEY_CHARS = 120


class BaselineError(Exception):
    pass


@dataclass(frozen=True, order=True)
class Entry:
    path: str
    code: str
    fingerprint: str


def _key_text(lines: SourceLines, d: Diagnostic) -> str:
    """The finding's own source range (the key expression), whitespace-normalised."""
    parts = []
    for number in range(d.line, d.end_line + 1):
        text = lines.line(d.path, number) or ""
        begin = d.column - 1 if number == d.line else 0
        end = d.end_column - 1 if number == d.end_line else len(text)
        parts.append(text[begin:end])
    return " ".join(" ".join(parts).split())


def entry_for(d: Diagnostic, context: ReportContext) -> tuple[Entry, str]:
    """The finding's baseline entry, and its key expression (shown in the file for reviewers)."""
    line = " ".join((context.lines.line(d.path, d.line) or "").split())
    key = _key_text(context.lines, d)
    path = context.relative_uri(d.path)
    digest = hashlib.sha256(f"{d.code}\0{path}\0{line}\0{key}".encode("utf-8", "backslashreplace")).hexdigest()
    return Entry(path, d.code, digest[:24]), key


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    counts: Counter[Entry] = Counter()
    keys: dict[Entry, str] = {}
    for d in diagnostics:
        if d.code in NEVER_BASELINED:
            continue
        entry, key = entry_for(d, context)
        counts[entry] += 1
        keys.setdefault(entry, key[:_SHOWN_KEY_CHARS])
    findings = [
        {"path": e.path, "code": e.code, "fingerprint": e.fingerprint, "count": counts[e], "key": keys[e]}
        for e in sorted(counts)
    ]
    return json.dumps({"keylint_baseline": FORMAT_VERSION, "findings": findings}, indent=2, ensure_ascii=False) + "\n"


def write(path: str, diagnostics: Sequence[Diagnostic], context: ReportContext) -> int:
    """Write the baseline atomically (a reader never sees half a file); returns the entries' total count."""
    text = render(diagnostics, context)
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)

    def fill(fd: int, temp: str) -> None:
        # A file name that is not UTF-8 holds lone surrogates: written as JSON's own `\udcXX` escape.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as out:
            out.write(text)

    replace_file(target, ".keylint-baseline-", fill)
    return sum(1 for d in diagnostics if d.code not in NEVER_BASELINED)


def load(path: str) -> Counter[Entry]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise BaselineError(f"baseline file {path!r} not found (create it with --write-baseline)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"cannot read baseline file {path!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("keylint_baseline") != FORMAT_VERSION or not isinstance(data.get("findings"), list):
        raise BaselineError(f"{path!r} is not a keylint baseline (version {FORMAT_VERSION}); rewrite it with --write-baseline")
    entries: Counter[Entry] = Counter()
    for index, item in enumerate(data["findings"]):
        try:
            entry = Entry(str(item["path"]), str(item["code"]), str(item["fingerprint"]))
            count = int(item.get("count", 1))
        except (TypeError, KeyError, ValueError):
            raise BaselineError(f"{path!r}: entry {index} needs path, code, fingerprint and a count") from None
        entries[entry] += max(count, 0)
    return entries


@dataclass(frozen=True)
class Filtered:
    new: list[Diagnostic]
    matched: int  # findings the baseline covered
    stale: int  # baseline entries no finding matched any more (fixed or changed code)


def filter_new(diagnostics: Sequence[Diagnostic], context: ReportContext, baseline: Counter[Entry]) -> Filtered:
    """The findings not covered by `baseline`, in their given order."""
    remaining = Counter(baseline)
    new, matched = [], 0
    for d in diagnostics:
        entry = entry_for(d, context)[0] if d.code not in NEVER_BASELINED else None
        if entry is not None and remaining[entry] > 0:
            remaining[entry] -= 1
            matched += 1
        else:
            new.append(d)
    return Filtered(new, matched, sum(remaining.values()))
