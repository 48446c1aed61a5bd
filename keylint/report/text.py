"""ruff-like text: `path:line:col: CODE message`, the source line with carets, the chain."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext, rule_name, statistics_rows

TAB_WIDTH = 4


def _width(text: str) -> int:
    """Display width: tabs expand, East Asian wide characters take two cells."""
    width = 0
    for ch in text:
        if ch == "\t":
            width += TAB_WIDTH - width % TAB_WIDTH
        elif unicodedata.combining(ch):
            continue
        else:
            width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _display(line: str) -> str:
    return line.expandtabs(TAB_WIDTH)


def _snippet(d: Diagnostic, context: ReportContext) -> list[str]:
    line = context.lines.line(d.path, d.line)
    if line is None or d.code == "KL001" and not line.strip():
        return []
    gutter = str(d.line)
    pad = " " * len(gutter)
    start = min(max(d.column - 1, 0), len(line))
    end = d.end_column - 1 if d.end_line == d.line else len(line)
    end = min(max(end, start + 1), max(len(line), start + 1))
    carets = " " * _width(line[:start]) + "^" * max(1, _width(line[start:end]))
    return [f"{pad} |", f"{gutter} | {_display(line)}", f"{pad} | {carets}"]


def _chain(d: Diagnostic) -> list[str]:
    lines = []
    if d.source is not None and not d.chain:
        lines.append(f"  = unstable value at {d.source.line}:{d.source.column}")
    for step in d.chain:
        lines.append(f"  = {step.line}:{step.column}: {step.note}")
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    n = len(diagnostics)
    if context.would_fix:
        return f"Would fix {_plural(context.would_fix, 'finding')} ({n} remaining)."
    if context.fixed:
        return f"Found {_plural(n + context.fixed, 'finding')} ({context.fixed} fixed, {n} remaining)."
    return f"Found {_plural(n, 'finding')}." if n else "All checks passed!"


def render_statistics(diagnostics: Sequence[Diagnostic]) -> str:
    rows = statistics_rows(diagnostics)
    width = max((len(str(count)) for count, _ in rows), default=1)
    return "".join(f"{count:>{width}}\t{code}\t{rule_name(code)}\n" for count, code in rows)


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    out: list[str] = []
    if context.statistics:
        out.append(render_statistics(diagnostics))
    else:
        for d in diagnostics:
            block = [f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}", *_snippet(d, context), *_chain(d)]
            out.append("\n".join(block) + "\n\n")
    if not context.quiet:
        out.append(summary(diagnostics, context) + "\n")
    elif not diagnostics and not context.statistics:
        return ""
    return "".join(out)
