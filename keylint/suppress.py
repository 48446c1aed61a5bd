"""Suppression comments: `# keylint: ignore[KL101, KL201]`, `# keylint: ignore`, `# noqa: KL101`,
and a bare `# noqa`, on the finding's line or on the last line of its (multi-line) statement."""

from __future__ import annotations

import io
import re
import tokenize

_KEYLINT = re.compile(r"#\s*keylint\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
ALL = "*"


def _codes(text: str | None) -> set[str]:
    if not text or not text.strip():
        return {ALL}
    return {c.strip().upper() for c in re.split(r"[\s,]+", text) if c.strip()}


def comments_by_line(text: str) -> dict[int, str]:
    """Comment text per 1-based line, from the tokenizer (so `#` inside strings is not a comment)."""
    found: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                found[token.start[0]] = token.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        for number, line in enumerate(text.splitlines(), start=1):
            if "#" in line:
                found[number] = line[line.index("#"):]
    return found


def suppressed_codes(comment: str) -> set[str]:
    codes: set[str] = set()
    for match in _KEYLINT.finditer(comment):
        codes |= _codes(match.group("codes"))
    for match in _NOQA.finditer(comment):
        codes |= _codes(match.group("codes"))
    return codes


class Suppressions:
    def __init__(self, text: str) -> None:
        self._by_line = {line: suppressed_codes(c) for line, c in comments_by_line(text).items() if "keylint" in c.lower() or "noqa" in c.lower()}

    def is_suppressed(self, code: str, lines: tuple[int, ...]) -> bool:
        for line in lines:
            codes = self._by_line.get(line)
            if codes and (ALL in codes or code in codes or any(code.startswith(c) for c in codes)):
                return True
        return False
