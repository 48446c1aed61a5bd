"""KL002 unused-suppression: documentation and examples; the engine reports it after the other rules
(`keylint.unused_suppressions`), since only then is it known which directives suppressed something."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from keylint.keyflow import ModuleAnalysis
from keylint.rule import Finding, Invalid, Rule, Valid


class UnusedSuppression(Rule):
    code = "KL002"
    name = "unused-suppression"
    summary = "A `# keylint: ignore` or `# noqa: KL...` directive that suppresses nothing"
    what = (
        "Reports suppression directives with nothing to suppress, as ruff's RUF100 does for `noqa`: "
        "a blanket `# keylint: ignore` on a line without findings, and codes in `# keylint: ignore[...]` "
        "or KL codes in `# noqa: ...` that are *unused* (the rule ran and found nothing there), "
        "*non-enabled* (the rule is not selected for this file) or *unknown* (no such rule). A bare "
        "`# noqa` and other linters' codes are left alone. The safe fix removes the unused codes, or "
        "the whole comment when nothing else is in it. `# keylint: ignore[KL002]` on a line keeps its "
        "directives from being reported."
    )
    why = (
        "A suppression outlives the code it was written for: after a fix or a refactor it silently "
        "hides the next unstable key written on that line. Removing stale directives keeps every "
        "remaining one meaningful."
    )
    example = '''\
def close(streams, ctx):
    streams.pop(ctx.stream_id, None)  # keylint: ignore[KL101]
'''
    use_instead = '''\
def close(streams, ctx):
    streams.pop(ctx.stream_id, None)
'''
    # The examples run with only KL002 selected, so other rules' codes count as non-enabled.
    VALID: ClassVar[list[Valid | str]] = [
        Valid("x = 1\n"),
        Valid("x = 1  # a plain comment\n"),
        Valid("s = '# keylint: ignore[KL101]'\n", "inside a string"),
        Valid('"""Write `# keylint: ignore[KL101]` to silence it."""\n', "inside a docstring"),
        Valid('x = """\n# keylint: ignore\n"""\n', "inside a multi-line string"),
        Valid("x = 1  # noqa\n", "a bare noqa belongs to every linter"),
        Valid("x = 1  # noqa: E501\n", "other linters' codes"),
        Valid("x = 1  # noqa:E501,F401\n"),
        Valid("x = 1  # keylint: ignore[KL002, KL101]\n", "KL002 exempts its own line"),
        Valid("x = f()  # type: ignore[attr-defined]\n"),
        Valid("x = 1  # keylint is the linter that checks keys\n", "mentions keylint, no directive"),
        Valid("x = 1  # pragma: no cover\n"),
        Valid("# keylint: ignore[KL002]\n"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid("def f(streams, ctx):\n    streams[str(ctx)] = 1  # keylint: ignore[KL101]\n", line=2, column=28,
                expected_fix="def f(streams, ctx):\n    streams[str(ctx)] = 1\n", note="non-enabled"),
        Invalid("x = 1  # keylint: ignore\n", line=1, column=8, expected_fix="x = 1\n", note="blanket"),
        Invalid("x = 1  # keylint: ignore[KL999]\n", expected_fix="x = 1\n", note="unknown code"),
        Invalid("x = 1  # keylint: ignore[E501]\n", expected_fix="x = 1\n", note="not a keylint code"),
        Invalid("x = 1  # noqa: KL101\n", expected_fix="x = 1\n"),
        Invalid("x = 1  # noqa: E501, KL101\n", expected_fix="x = 1  # noqa: E501\n", note="keeps E501"),
        Invalid("x = 1  # keylint: ignore[KL101, KL002x]\n", expected_fix="x = 1\n"),
        Invalid("x = 1  # keylint: ignore[KL101]  # why\n", expected_fix="x = 1  # why\n"),
        Invalid("x = 1  # note  # keylint: ignore[KL1]\n", expected_fix="x = 1  # note\n"),
        Invalid("x = 1  # keylint: ignore[KL101] because of X\n", expected_fix="x = 1  # because of X\n"),
        Invalid("# keylint: ignore\nx = 1\n", line=1, expected_fix="x = 1\n", note="a comment-only line goes"),
        Invalid("x = 1  # keylint: ignore[KL101]\r\ny = 2\r\n", expected_fix="x = 1\r\ny = 2\r\n", note="CRLF"),
        Invalid("x = 1  # keylint: IGNORE[kl101]\n", expected_fix="x = 1\n", note="any case"),
        Invalid("def f():\n    return 1  # noqa:KL201\n", line=2, expected_fix="def f():\n    return 1\n"),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        return ()  # reported by the engine once the other rules' findings used their directives
