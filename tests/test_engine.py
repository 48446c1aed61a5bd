"""The engine on bad input (KL001, never an exception), selection, suppression, order and positions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from keylint.engine import check_source
from keylint.settings import Settings

LEAK = "def close(streams, ctx):\n    streams.pop(str(ctx), None)\n"


def _codes(source: str | bytes, **settings: object) -> list[tuple[str, int]]:
    return [(d.code, d.line) for d in check_source(source, "m.py", Settings(**settings))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (b"x = '\xff'\n", "cannot decode as UTF-8 at byte 5"),
        (b"# -*- coding: ascii -*-\nx = '\xc3\xa9'\n", "cannot decode as ascii at byte 29"),
        (b"# coding: bogus-codec\n", "cannot decode"),
        (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "cannot decode"),
        (b"x = 1\x00\n", "NUL byte at byte 5"),
        ("def f(:\n", "syntax error"),
        ("x = 1\n  y = 2\n", "syntax error: unexpected indent (line 2)"),
        ("x = " + "(" * 250 + ")" * 250 + "\n", "syntax error"),
        ("x = " + "-" * 500 + "1\n", "nesting depth"),
        ("x = " + " + ".join(["a"] * 5000) + "\n", "nest"),
        (LEAK + "x = " + " ".join(['"a"'] * 6000) + "\n", "valid Python that libcst cannot parse"),
    ],
)
def test_unreadable_input_is_kl001_with_its_cause(source: str | bytes, cause: str) -> None:
    found = check_source(source, "bad.py", Settings(select=("KL101",)))
    assert [d.code for d in found] == ["KL001"]
    assert cause in found[0].message, found[0].message
    assert found[0].line >= 1 and found[0].column >= 1


def test_long_implicit_concatenation_is_analysed_on_a_large_stack() -> None:
    # Flat in `ast` (so within max-depth) but ~3,000 levels deep in libcst: a RecursionError at the
    # default limit, retried once on a large thread stack, so the file is still checked.
    source = "def f(m, ctx):\n    m[str(ctx)] = 1\nDOC = " + " ".join(['"a"'] * 3000) + "\n"
    assert _codes(source) == [("KL101", 2)]


def test_kl001_is_reported_whatever_the_selection() -> None:
    assert _codes("def f(:\n", select=("KL2",), ignore=("KL001", "KL")) == [("KL001", 1)]


def test_size_limit() -> None:
    assert _codes("x = 1\n" * 100, max_file_size=50)[0][0] == "KL001"
    assert _codes("x = 1\n" * 100, max_file_size=10_000) == []


def test_deeply_nested_source_does_not_crash_the_interpreter() -> None:
    # libcst recurses (and is reported to segfault near 3,000 parentheses); run in a child process
    # so a crash would show as a failed exit code instead of killing pytest.
    script = (
        "from keylint.engine import check_source\nfrom keylint.settings import Settings\n"
        "for src in ['x = ' + '(' * 3000 + ')' * 3000, 'x = ' + '[' * 1500 + ']' * 1500,"
        " 'x = a' + '.b' * 4000, 'x = f' + '()' * 4000, 'x = ' + ' if c else '.join(['a'] * 3000)]:\n"
        "    found = check_source(src + '\\n', 'deep.py', Settings())\n"
        "    assert [d.code for d in found] == ['KL001'], found\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_empty_and_bom_and_cookie_files_are_fine() -> None:
    assert check_source("", "e.py", Settings()) == []
    assert check_source(b"", "e.py", Settings()) == []
    found = check_source(b"\xef\xbb\xbf" + LEAK.encode(), "bom.py", Settings())
    assert [(d.code, d.line, d.column) for d in found] == [("KL101", 2, 5)]
    latin = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + LEAK
    found = check_source(latin.encode("latin-1"), "latin.py", Settings())
    assert [(d.code, d.line) for d in found] == [("KL101", 4)]


def test_columns_count_code_points_and_end_is_exclusive() -> None:
    source = "def close(streams, ctx):\n    n = 'é€😀'; streams.pop(str(ctx), None)\n"
    [found] = check_source(source, "u.py", Settings())
    line = source.splitlines()[1]
    start = line.index("streams.pop")
    assert (found.line, found.column) == (2, start + 1)
    assert found.end_line == 2 and found.end_column == len(line) + 1
    assert line[found.column - 1 : found.end_column - 1] == "streams.pop(str(ctx), None)"


def test_selection_and_per_file_ignores() -> None:
    both = "import time\ndef f(streams, ctx):\n    streams[str(ctx)] = 1\n    streams[time.time()] = 2\n"
    assert _codes(both) == [("KL101", 3), ("KL201", 4)]
    assert _codes(both, select=("KL2",)) == [("KL201", 4)]
    assert _codes(both, ignore=("KL101",)) == [("KL201", 4)]
    assert _codes(both, per_file_ignores=(("m.py", ("KL2",)),)) == [("KL101", 3)]


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        ("# keylint: ignore[KL101]", True),
        ("# keylint: ignore[KL201, KL101]", True),
        ("# keylint: ignore[KL2]", False),
        ("# keylint: ignore", True),
        ("# noqa: KL101", True),
        ("# noqa", True),
        ("# noqa: E501", False),
        ("# keylint: ignore[KL102]", False),
        ("# unrelated", False),
    ],
)
def test_suppression_comments(comment: str, suppressed: bool) -> None:
    source = f"def close(streams, ctx):\n    streams.pop(str(ctx), None)  {comment}\n"
    found = [d for d in check_source(source, "s.py", Settings()) if d.code == "KL101"]
    assert (found == []) is suppressed


def test_suppression_on_last_line_of_a_multiline_statement_and_not_in_strings() -> None:
    multi = "def close(streams, ctx):\n    streams.pop(\n        str(ctx),\n        None,\n    )  # noqa: KL101\n"
    assert check_source(multi, "s.py", Settings()) == []
    in_string = "def close(streams, ctx):\n    streams.pop(str(ctx), '# noqa')\n"
    assert _codes(in_string) == [("KL101", 2)]


def test_findings_are_sorted_and_carry_source_and_chain() -> None:
    source = (
        "import time\n"
        "cache = {}\n"
        "def key(ctx):\n"
        "    return 'k:' + str(ctx)\n"
        "def f(ctx):\n"
        "    cache[time.time()] = 1; cache[key(ctx)] = 2\n"
        "    cache.pop(key(ctx))\n"
    )
    found = check_source(source, "m.py", Settings())
    assert [(d.line, d.code) for d in found] == [(6, "KL201"), (6, "KL101"), (7, "KL101")]
    assert found == sorted(found, key=lambda d: (d.line, d.column, d.code))
    kl101 = found[1]
    assert kl101.source is not None and kl101.source.line == 5  # the parameter of f()
    notes = [step.note for step in kl101.chain]
    assert any("returned by key()" in n for n in notes) and any("str()" in n for n in notes)
    assert kl101.chain[-1].line == 6
    assert kl101.fix is None


@pytest.mark.parametrize(
    ("spec", "source", "code"),
    [
        ({"kind": "context", "name": "call_state"}, "def f(m, call_state):\n    m[str(call_state)] = 1\n", "KL101"),
        ({"kind": "context", "type": "myrpc.Call"}, "from myrpc import Call\ndef f(m, c: Call):\n    m[f'{c}'] = 1\n", "KL101"),
        ({"kind": "context", "function": "myrpc.current_call"}, "import myrpc\ndef f(m):\n    m[str(myrpc.current_call())] = 1\n", "KL101"),
        ({"kind": "time", "function": "clock.now_ms"}, "import clock\ndef f(m):\n    m[clock.now_ms()] = 1\n", "KL201"),
        ({"kind": "time", "name": "stamp"}, "def f(m, stamp):\n    m[(1, stamp)] = 1\n", "KL201"),
        ({"kind": "deadline", "name": "due"}, "def f(m, due):\n    m[due] = 1\n", "KL102"),
        ({"kind": "deadline", "function": "budget_left"}, "def f(m, job):\n    m[job.budget_left()] = 1\n", "KL102"),
    ],
)
def test_configured_sources(spec: dict[str, str], source: str, code: str) -> None:
    from keylint.settings import SourceSpec

    assert _codes(source) == []
    assert _codes(source, sources=(SourceSpec(**spec),)) == [(code, source.count("\n"))]


def test_configured_sanitizer_silences_a_finding() -> None:
    # Hashing or wrapping the unstable text keeps it unstable: reported until declared a sanitizer.
    source = "def f(m, ctx):\n    m[stable(str(ctx))] = 1\n"
    assert _codes(source) == [("KL101", 2)]
    assert _codes(source, sanitizers=("stable",)) == []
    both = "import h\ndef f(m, ctx):\n    m[h.stable(str(ctx)) + str(ctx)] = 1\n"
    assert _codes(both, sanitizers=("h.stable",)) == [("KL101", 3)]  # the second operand is still raw text


def test_a_crashing_rule_costs_only_its_own_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    from keylint.registry import get_rule

    rule = get_rule("KL201")
    assert rule is not None

    def boom(self: object, sink: object, analysis: object) -> list[object]:
        raise ValueError("boom")

    monkeypatch.setattr(rule, "check_sink", boom)
    # screen=False: the screen rules KL201 out for this module (no clock), so it would never run
    found = check_source(LEAK, "m.py", Settings(), screen=False)
    assert [(d.code, d.line) for d in found] == [("KL001", 1), ("KL101", 2)]
    assert "internal error in rule KL201" in found[0].message
    assert [(d.code, d.line) for d in check_source(LEAK, "m.py", Settings())] == [("KL101", 2)]


def test_mutated_sources_never_raise() -> None:
    """Random byte edits of a real module (seeded): every result is a list of findings, never an
    exception, and broken variants are KL001."""
    import random
    from pathlib import Path

    from keylint.diagnostics import Diagnostic

    original = (Path(__file__).resolve().parent / "fixtures" / "leaky_watcher.py").read_bytes()
    rng = random.Random(20240601)
    alphabet = b"()[]{}:;,.'\"\\\n\t #=+-*/%@!fxu\x00\xff\xc3"
    kl001 = 0
    for _ in range(60):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at : at + 1] = bytes([rng.choice(alphabet)])
            else:
                del data[at : at + rng.randint(1, 40)]
        found = check_source(bytes(data), "mutated.py", Settings())
        assert isinstance(found, list) and all(isinstance(d, Diagnostic) for d in found)
        kl001 += any(d.code == "KL001" for d in found)
    assert kl001 > 0  # the mutations did break some files, and those were reported
