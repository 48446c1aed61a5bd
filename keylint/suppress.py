"""Suppression comments: `# keylint: ignore[KL101, KL201]`, `# keylint: ignore`, `# noqa: KL101`,
and a bare `# noqa`, on the finding's line or on the last line of its (multi-line) statement.

Each directive remembers which of its codes suppressed something, so unused ones can be reported
(KL002, `keylint.unused_suppressions`)."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

_KEYLINT = re.compile(r"#\s*keylint\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
ALL = "*"
# Non-ASCII letters re.IGNORECASE takes for ASCII ones while str.lower() does not make them ASCII
_CASE_FOLDED = {0x130: "i", 0x131: "i", 0x17F: "s"}  # İ, ı, ſ
_NOQA_KL = re.compile(r"noqa[^\r\n]*kl")  # a `# noqa:` naming a KL code (on lowered text)
_LONE_CR = re.compile(r"\r(?!\n)")


def _lowered(text: str, lowered: str | None) -> str:
    """`text` in lower case, where `in` finds whatever re.IGNORECASE would (`lowered`: `text.lower()`)."""
    if not text.isascii() and any(chr(c) in text for c in _CASE_FOLDED):
        return text.translate(_CASE_FOLDED).lower()
    return text.lower() if lowered is None else lowered


def may_hold_directives(text: str, lowered: str | None = None) -> bool:
    """False only when `text` surely holds no suppression directive (as case-blind as the directives:
    `# NOQA` counts). `lowered`: `text.lower()`, when the caller has it."""
    low = _lowered(text, lowered)
    return "noqa" in low or "keylint" in low


def may_hold_reportable_directives(text: str, lowered: str | None = None) -> bool:
    """False only when KL002 surely has nothing to report in `text`, whatever the other rules find:
    it reports `# keylint:` directives and KL codes in `# noqa:`, never a bare `# noqa` or other
    linters' codes."""
    low = _lowered(text, lowered)
    return "keylint" in low or ("noqa" in low and _NOQA_KL.search(low) is not None)


def _codes(text: str | None) -> set[str]:
    if not text or not text.strip():
        return {ALL}
    return {c.strip().upper() for c in re.split(r"[\s,]+", text) if c.strip()}


@dataclass(frozen=True)
class Comment:
    line: int  # 1-based
    column: int  # 0-based code-point offset of `#`
    text: str


def lone_cr_as_lf(text: str) -> str:
    """The tokenizer only breaks lines at LF; Python (and libcst) also at a lone CR. Same offsets."""
    return _LONE_CR.sub("\n", text) if "\r" in text else text


def comment_tokens(text: str) -> list[Comment]:
    """Comments from the tokenizer (so `#` inside strings is not a comment)."""
    text = lone_cr_as_lf(text)
    found: list[Comment] = []
    try:
        # newline=None: a lone "\r" ends a line for Python, so it must for the line numbers too
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type == tokenize.COMMENT:
                found.append(Comment(token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        found = []
        for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):  # not str.splitlines: no \f
            if "#" in line:
                found.append(Comment(number, line.index("#"), line[line.index("#"):]))
    return found


def comments_by_line(text: str) -> dict[int, str]:
    """Comment text per 1-based line."""
    return {c.line: c.text for c in comment_tokens(text)}


def suppressed_codes(comment: str) -> set[str]:
    codes: set[str] = set()
    for match in _KEYLINT.finditer(comment):
        codes |= _codes(match.group("codes"))
    for match in _NOQA.finditer(comment):
        codes |= _codes(match.group("codes"))
    return codes


@dataclass
class Directive:
    """One `# keylint: ignore[...]` or `# noqa[: ...]` inside a comment."""

    kind: str  # "keylint" | "noqa"
    comment: Comment
    start: int  # code-point offsets of the directive within the comment's text
    end: int
    codes: tuple[str, ...]  # upper-cased, in written order; () for a blanket directive
    used: set[str] = field(default_factory=set)  # codes (or ALL) that suppressed a finding

    def matching(self, code: str) -> str | None:
        """The entry of this directive that covers `code` (ALL for a blanket one), or None."""
        if not self.codes:
            return ALL
        for entry in self.codes:
            if code == entry or code.startswith(entry):
                return entry
        return None


def directives_in(comment: Comment) -> list[Directive]:
    found = []
    for kind, pattern in (("keylint", _KEYLINT), ("noqa", _NOQA)):
        for match in pattern.finditer(comment.text):
            codes = _codes(match.group("codes"))
            written = () if codes == {ALL} else tuple(
                dict.fromkeys(c.strip().upper() for c in re.split(r"[\s,]+", match.group("codes") or "") if c.strip())
            )
            found.append(Directive(kind, comment, match.start(), match.end(), written))
    return sorted(found, key=lambda d: d.start)


class Suppressions:
    def __init__(self, text: str) -> None:
        self._by_line: dict[int, list[Directive]] = {}
        for comment in comment_tokens(text):
            if may_hold_directives(comment.text):
                directives = directives_in(comment)
                if directives:
                    self._by_line.setdefault(comment.line, []).extend(directives)

    def is_suppressed(self, code: str, lines: tuple[int, ...]) -> bool:
        for line in lines:
            for directive in self._by_line.get(line, ()):
                entry = directive.matching(code)
                if entry is not None:
                    directive.used.add(entry)
                    return True
        return False

    def directives(self) -> list[Directive]:
        return [d for line in sorted(self._by_line) for d in self._by_line[line]]
