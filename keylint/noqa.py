"""`keylint check --add-noqa`: silence every current finding with `# keylint: ignore[CODE]` on its line,
as ruff's `--add-noqa` does, so a team can adopt keylint on an old codebase and fail only on new code.

An existing `# keylint: ignore[...]` on the line is extended instead. A comment is never put where it
would change the code: when the finding's line ends inside a multi-line string or with a backslash
continuation, the directive goes on the last line of the statement (the engine honours it there).
Files keep their encoding, BOM and line endings and are replaced atomically; the result is checked
again, and findings the new comments do not silence are reported.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field

from keylint.diagnostics import Diagnostic
from keylint.settings import Settings
from keylint.suppress import Comment, comment_tokens, directives_in, lone_cr_as_lf

NOT_SUPPRESSIBLE = frozenset({"KL001"})  # a file keylint could not check has no line to comment
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


@dataclass
class NoqaOutcome:
    added: int = 0  # findings given a directive
    files: int = 0  # files written
    problems: list[str] = field(default_factory=list)


def _lines(text: str) -> list[tuple[str, str]]:
    """(content, line ending) per physical line."""
    found = []
    for match in _LINE.finditer(text):
        whole = match.group()
        if not whole:
            break
        content = whole.rstrip("\r\n")
        found.append((content, whole[len(content):]))
    return found


def _statement_ends(text: str) -> tuple[set[int], list[int]]:
    """Lines where a comment would change the code (inside a string, after a backslash), and the
    last line of every logical line, from the tokenizer."""
    unsafe: set[int] = set()
    ends: list[int] = []
    commented: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(lone_cr_as_lf(text)).readline):
        if token.type == tokenize.NEWLINE:
            ends.append(token.start[0])
        elif token.type == tokenize.COMMENT:
            commented.add(token.start[0])
        elif token.start[0] < token.end[0] and token.type != tokenize.NL:
            unsafe.update(range(token.start[0], token.end[0]))
    for number, (content, _) in enumerate(_lines(text), start=1):
        if content.endswith("\\") and number not in commented:  # a backslash continuation
            unsafe.add(number)
    return unsafe, ends


def _target_line(line: int, unsafe: set[int], ends: list[int]) -> int | None:
    if line not in unsafe:
        return line
    later = [end for end in ends if end >= line and end not in unsafe]
    return later[0] if later else None


def _with_directive(content: str, comment: Comment | None, codes: set[str]) -> str:
    if comment is not None:
        for directive in directives_in(comment):
            if directive.kind == "keylint" and directive.codes:
                merged = list(directive.codes) + sorted(codes - set(directive.codes))
                text = comment.text[: directive.start] + f"# keylint: ignore[{', '.join(merged)}]" + comment.text[directive.end:]
                return content[: comment.column] + text + content[comment.column + len(comment.text):]
    return content.rstrip() + f"  # keylint: ignore[{', '.join(sorted(codes))}]"


def add_to_text(text: str, diagnostics: Sequence[Diagnostic]) -> tuple[str, int, list[Diagnostic]]:
    """The text with directives added; how many findings got one; findings no safe line was found for."""
    try:
        unsafe, ends = _statement_ends(text)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text, 0, list(diagnostics)
    wanted: dict[int, set[str]] = {}
    skipped: list[Diagnostic] = []
    count = 0
    for d in diagnostics:
        target = _target_line(d.line, unsafe, ends)
        if target is None:
            skipped.append(d)
            continue
        wanted.setdefault(target, set()).add(d.code)
        count += 1
    comments = {c.line: c for c in comment_tokens(text)}
    lines = _lines(text)
    for number, codes in wanted.items():
        if number > len(lines):
            continue
        content, ending = lines[number - 1]
        lines[number - 1] = (_with_directive(content, comments.get(number), codes), ending)
    return "".join(content + ending for content, ending in lines), count, skipped


def add_to_file(path: str, diagnostics: Sequence[Diagnostic], settings: Settings, outcome: NoqaOutcome) -> None:
    from keylint.fixes import WriteError, decode_source, parse_error, write_atomic
    from keylint.runner import check_bytes, read_source

    data = read_source(path, settings.max_file_size)
    decoded = decode_source(data) if isinstance(data, bytes) else None
    if not isinstance(data, bytes) or decoded is None:
        outcome.problems.append(f"{path}: not changed: the file cannot be read or decoded")
        return
    text, count, skipped = add_to_text(decoded.text, diagnostics)
    outcome.problems.extend(f"{path}:{d.line}:{d.column}: {d.code} left as is: no line takes a comment safely" for d in skipped)
    if count == 0:
        return
    problem = parse_error(text)
    if problem is not None:
        outcome.problems.append(f"{path}: not changed: the result would not parse ({problem})")
        return
    # Comments go after the code, so findings keep their positions: any still reported is not silenced.
    wanted = {(d.code, d.line, d.column) for d in diagnostics}
    still = [d for d in check_bytes(text, path, settings) if (d.code, d.line, d.column) in wanted]
    try:
        write_atomic(path, text.encode(decoded.encoding), data)
    except (OSError, UnicodeEncodeError, WriteError) as exc:
        outcome.problems.append(f"{path}: not changed: {exc}")
        return
    outcome.files += 1
    outcome.added += count - len(still)
    outcome.problems.extend(f"{path}:{d.line}:{d.column}: {d.code} is still reported after adding the comment" for d in still)


def add_noqa(diagnostics: Sequence[Diagnostic], settings: Settings) -> NoqaOutcome:
    outcome = NoqaOutcome()
    by_path: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.code not in NOT_SUPPRESSIBLE and d.path != "-":
            by_path.setdefault(d.path, []).append(d)
    for path in sorted(by_path):
        add_to_file(path, by_path[path], settings, outcome)
    return outcome
