"""KL002: suppression directives that suppressed nothing, as ruff's RUF100 reports unused `noqa`.

Reported only when KL002 is enabled. A directive's code is *unused* when its rule ran and found
nothing there, *non-enabled* when its rule is not selected for the file, *unknown* when no rule has
that code. A bare `# noqa` and non-KL codes in `# noqa: ...` belong to other linters: never reported.
Each finding carries a safe fix that removes the unused codes, or the whole comment when nothing is
left. A `# keylint: ignore[KL002]` on a line keeps that line's directives from being reported.
"""

from __future__ import annotations

import re

from keylint.diagnostics import Diagnostic, Edit, Fix
from keylint.settings import Settings
from keylint.suppress import ALL, Directive, Suppressions

UNUSED_SUPPRESSION = "KL002"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _ours(directive: Directive, code: str) -> bool:
    return directive.kind == "keylint" or code.startswith("KL")


def _classify(directive: Directive, path: str, settings: Settings, known: set[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"unused": [], "non-enabled": [], "unknown": []}
    if not directive.codes:
        if ALL not in directive.used:
            groups["unused"].append(ALL)
        return groups
    for code in directive.codes:
        if code in directive.used or not _ours(directive, code):
            continue
        covered = [k for k in known if k == code or k.startswith(code)]
        if not covered:
            groups["unknown"].append(code)
        elif not any(settings.is_enabled(k, path) for k in covered):
            groups["non-enabled"].append(code)
        else:
            groups["unused"].append(code)
    return groups


def _message(directive: Directive, groups: dict[str, list[str]]) -> str:
    if not directive.codes:
        return "unused blanket `# keylint: ignore`: nothing on this line is reported"
    name = "`# keylint: ignore`" if directive.kind == "keylint" else "`# noqa`"
    parts = [f"{label}: {', '.join(codes)}" for label, codes in groups.items() if codes]
    return f"unused {name} directive ({'; '.join(parts)})"


def _new_comment(directive: Directive, unused: set[str]) -> str:
    """The comment's text after dropping the unused codes (or the whole directive)."""
    text = directive.comment.text
    kept = [c for c in directive.codes if c not in unused]
    if kept:
        replacement = f"# keylint: ignore[{', '.join(kept)}]" if directive.kind == "keylint" else f"# noqa: {', '.join(kept)}"
        return text[: directive.start] + replacement + text[directive.end:]
    before, after = text[: directive.start].rstrip(), text[directive.end:].lstrip()
    if before:
        return before + (" " + after if after else "")
    if after and not after.startswith("#"):
        after = "# " + after  # the rest was part of this comment: keep it one
    return after


def _fix(directive: Directive, unused: set[str], lines: list[str]) -> Fix:
    comment = directive.comment
    line_text = lines[comment.line - 1] if comment.line <= len(lines) else ""
    start, end = comment.column, comment.column + len(comment.text)
    new = _new_comment(directive, unused)
    if new.strip() not in ("", "#"):
        edit = Edit(comment.line, start + 1, comment.line, end + 1, new)
    elif not line_text[:start].strip() and comment.line < len(lines):
        edit = Edit(comment.line, 1, comment.line + 1, 1, "")  # a comment-only line: drop the line
    else:
        code_end = len(line_text[:start].rstrip())
        edit = Edit(comment.line, code_end + 1, comment.line, end + 1, "")
    return Fix("safe", "remove the unused suppression", (edit,))


def unused_suppressions(suppressions: Suppressions, text: str, path: str, settings: Settings) -> list[Diagnostic]:
    """KL002 findings for the directives of `suppressions` (after the engine used it)."""
    from keylint.registry import all_rules

    known = set(all_rules()) | {"KL001"}
    lines = _LINE_BREAK.split(text)
    exempt = {d.comment.line for d in suppressions.directives() if UNUSED_SUPPRESSION in d.codes}
    found = []
    for directive in suppressions.directives():
        if directive.comment.line in exempt or (directive.kind == "noqa" and not directive.codes):
            continue
        groups = _classify(directive, path, settings, known)
        unused = {c for codes in groups.values() for c in codes}
        if not unused:
            continue
        comment = directive.comment
        found.append(
            Diagnostic(
                code=UNUSED_SUPPRESSION,
                message=_message(directive, groups),
                path=path,
                line=comment.line,
                column=comment.column + directive.start + 1,
                end_line=comment.line,
                end_column=comment.column + directive.end + 1,
                fix=_fix(directive, unused | ({ALL} if not directive.codes else set()), lines),
            )
        )
    return found
