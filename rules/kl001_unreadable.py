"""KL001 unreadable-file: documentation for the engine's own finding (the engine reports it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from keylint.keyflow import ModuleAnalysis
from keylint.rule import Finding, Invalid, Rule, Valid


class UnreadableFile(Rule):
    code = "KL001"
    name = "unreadable-file"
    summary = "A file could not be read, decoded or parsed, or exceeds the size or nesting limits"
    what = (
        "Reports a file keylint could not check: bytes that do not decode (UTF-8 unless a PEP 263 "
        "coding cookie says otherwise; a UTF-8 BOM is accepted), NUL bytes, syntax errors, files larger "
        "than `max-file-size`, and expressions nested deeper than `max-depth`. The message names the "
        "cause and where it was found. KL001 is always reported, whatever the rule selection, and the "
        "run goes on with the other files."
    )
    why = (
        "A file that cannot be parsed cannot be checked, so a clean result for it would be a false "
        "promise. Reporting it keeps a broken or generated file from silently hiding unstable keys, and "
        "the limits keep one pathological file from exhausting memory or the parser's stack."
    )
    example = '''\
def watch(ctx, key):
    streams[str(ctx)] = key
  return streams  # inconsistent dedent: syntax error
'''
    use_instead = '''\
def watch(ctx, key):
    streams[stream_key(ctx)] = key
    return streams
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid("", "an empty file"),
        Valid("x = 1\n"),
        Valid("# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n".encode("latin-1"), "a PEP 263 cookie is honoured"),
        Valid(b"\xef\xbb\xbfx = 1\n", "a UTF-8 BOM"),
        Valid("s = 'h\u00e9llo w\u00f6rld \u2603'\n", "non-ASCII text"),
        Valid("x = " + "(" * 50 + "1" + ")" * 50 + "\n", "nesting within the limit"),
        Valid("def f(a, /, b, *, c):\n    return a\n"),
        Valid("async def f():\n    async with a as b:\n        await b\n"),
        Valid("match x:\n    case [1, *rest]:\n        pass\n", "match statements"),
        Valid("x = 1\r\ny = 2\r\n", "CRLF line endings"),
        Valid("if True:\n\tx = 1\n", "tab indentation"),
        Valid("lambda: (yield)\n", "odd but valid"),
        Valid("x: int\n"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid("def f(:\n    pass\n", line=1),
        Invalid("x = (1,\n", line=1),
        Invalid("if True:\nx = 1\n", line=2),
        Invalid(b"x = '\xff\xfe'\n", line=1, note="not UTF-8"),
        Invalid(b"x = 1\n\x00\n", line=2, note="NUL byte"),
        Invalid("x = 1\0\n", note="NUL character in text"),
        Invalid(b"# -*- coding: no-such-codec -*-\nx = 1\n", note="unknown encoding"),
        Invalid("x = " + "+".join(["a"] * 400) + "\n", note="nested deeper than max-depth"),
        Invalid("x = " + "(" * 300 + "1" + ")" * 300 + "\n", note="too many parentheses"),
        Invalid("return 1 2\n", line=1),
        Invalid("class C\n    pass\n", line=1),
        Invalid("print 'hello'\n", line=1),
        Invalid("f(**)\n", line=1),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        return ()  # reported by the engine before any analysis
