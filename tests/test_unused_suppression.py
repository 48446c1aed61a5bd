"""KL002 with the whole rule set: which directives count as used, how unused ones are described,
that it is reported only when selected, and that `--fix` removes exactly the unused part."""

from __future__ import annotations

from pathlib import Path

import pytest

from keylint.cli import main
from keylint.engine import check_source
from keylint.settings import Settings

LEAKY_LINE = "def close(streams, ctx):\n    streams.pop(str(ctx), None)  {comment}\n"


def kl002(source: str, **settings: object) -> list[tuple[int, str]]:
    found = check_source(source, "pkg/mod.py", Settings(**settings))  # type: ignore[arg-type]
    return [(d.line, d.message) for d in found if d.code == "KL002"]


@pytest.mark.parametrize(
    "comment",
    ["# keylint: ignore[KL101]", "# keylint: ignore", "# keylint: ignore[KL1]", "# noqa: KL101", "# noqa: E501, KL101",
     "# keylint: ignore[KL101]  # the id is stable here", "# NOQA: KL101", "# KEYLINT: IGNORE[kl101]", "# NoQA"],
)  # fmt: skip
def test_a_directive_that_suppresses_a_finding_is_used(comment: str) -> None:
    source = LEAKY_LINE.format(comment=comment)
    assert check_source(source, "pkg/mod.py", Settings()) == []


def test_a_directive_on_the_last_line_of_the_statement_is_used() -> None:
    source = "def close(streams, ctx):\n    streams.pop(\n        str(ctx),\n        None,\n    )  # keylint: ignore[KL101]\n"
    assert check_source(source, "pkg/mod.py", Settings()) == []


def test_unused_codes_are_named_by_kind() -> None:
    source = LEAKY_LINE.format(comment="# keylint: ignore[KL101, KL201, KL7, KL999]")
    assert kl002(source, ignore=("KL7",)) == [
        (2, "unused `# keylint: ignore` directive (unused: KL201; non-enabled: KL7; unknown: KL999)")
    ]
    assert kl002("x = 1  # keylint: ignore\n") == [(1, "unused blanket `# keylint: ignore`: nothing on this line is reported")]
    assert kl002("x = 1  # noqa: KL101, E501\n") == [(1, "unused `# noqa` directive (unused: KL101)")]
    # directives are case-blind (flake8 and ruff accept `# NOQA`): upper case ones are reported too
    assert kl002("x = 1  # NOQA: KL101\n") == [(1, "unused `# noqa` directive (unused: KL101)")]
    assert kl002("x = 1  # KEYLINT: ignore[KL201]\n") == [(1, "unused `# keylint: ignore` directive (unused: KL201)")]


def test_per_file_ignores_make_codes_non_enabled() -> None:
    source = LEAKY_LINE.format(comment="# keylint: ignore[KL101]")
    settings = {"per_file_ignores": (("pkg/*.py", ("KL101",)),)}
    assert kl002(source, **settings) == [(2, "unused `# keylint: ignore` directive (non-enabled: KL101)")]


def test_reported_only_when_selected() -> None:
    source = "x = 1  # keylint: ignore[KL101]\n"
    assert kl002(source) != []
    assert kl002(source, ignore=("KL002",)) == []
    assert kl002(source, select=("KL1",)) == []
    assert kl002(source, select=("KL1", "KL002")) != []


def test_other_linters_directives_are_left_alone() -> None:
    for comment in ("# noqa", "# noqa: E501", "# noqa:F401,E501", "# type: ignore", "# keylint: ignore[KL002, KL101]"):
        assert kl002(f"import os  {comment}\n") == [], comment


def test_fix_removes_only_the_unused_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mod.py"
    path.write_text(
        "def close(streams, ctx):\n"
        "    streams.pop(str(ctx), None)  # keylint: ignore[KL101, KL201]\n"
        "    x = 1  # noqa: E501, KL101\n"
        "    # keylint: ignore\n"
        "    y = 2  # keylint: ignore[KL101]  # reason\n"
        "    return x + y\n",
        encoding="utf-8",
    )
    assert main(["check", "mod.py", "--no-cache", "--fix"]) == 0
    assert path.read_text(encoding="utf-8") == (
        "def close(streams, ctx):\n"
        "    streams.pop(str(ctx), None)  # keylint: ignore[KL101]\n"
        "    x = 1  # noqa: E501\n"
        "    y = 2  # reason\n"
        "    return x + y\n"
    )
    assert "4 fixed, 0 remaining" in capsys.readouterr().out


def _valid_examples() -> list[object]:
    from keylint.registry import all_rules

    cases = []
    for code, rule in all_rules().items():
        for index, example in enumerate(rule.examples()[0]):
            if isinstance(example.code, str) and example.code.strip() and code not in ("KL001", "KL002"):
                cases.append(pytest.param(example.code, id=f"{code}-{index}"))
    return cases


@pytest.mark.parametrize("source", _valid_examples())
def test_fix_takes_back_directives_added_to_every_line(source: str) -> None:
    """Stale directives on every code line of real examples: --fix removes them all, and only them."""
    import ast

    from keylint.diagnostics import Diagnostic
    from keylint.fixes import fix_text
    from keylint.noqa import add_to_text

    settings = Settings(select=("KL1", "KL002"))
    lines = [n for n, line in enumerate(source.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]
    stale, _, _ = add_to_text(source, [Diagnostic("KL999", "", "m.py", n, 1, n, 1) for n in lines])
    found = check_source(stale, "m.py", settings)
    assert any(d.code == "KL002" for d in found)
    outcome = fix_text(stale, found, lambda text: check_source(text, "m.py", settings), unsafe=False)
    assert not [d for d in outcome.remaining if d.code == "KL002"]
    assert ast.dump(ast.parse(outcome.text)) == ast.dump(ast.parse(source))
    if not check_source(source, "m.py", settings):
        assert outcome.text == source


def test_the_whole_text_directive_tests_are_never_narrower_than_the_directives() -> None:
    """`may_hold_directives` / `may_hold_reportable_directives` (cheap, on lowered text) must say yes
    wherever the directive regexes, which are case-blind (re.IGNORECASE), find something to act on."""
    import random

    from keylint.suppress import Comment, directives_in, may_hold_directives, may_hold_reportable_directives

    pieces = ["#", " ", "noqa", "NOQA", "NoQa", "keylint", "KEYLINT", "keylınt", "KEYLİNT", "\u212aeylint", ":", "ignore",
              "# keylint: ignore", "# KEYLİNT:ignore", "# noqa: ", "#NOQA:", "[", "]", "KL101", "kl201", "\u212aL3",
              "E501", ",", "\n", "\r", "x = 1", "é", "ſ"]
    rng = random.Random(5)
    checked = reportable = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        lines = text.replace("\r", "\n").split("\n")
        directives = [d for line in lines if "#" in line for d in directives_in(Comment(1, 0, line[line.index("#"):]))]
        if directives:
            checked += 1
            assert may_hold_directives(text), text
        if any(d.kind == "keylint" or any(c.startswith("KL") for c in d.codes) for d in directives):
            reportable += 1
            assert may_hold_reportable_directives(text), text
    assert checked > 400 and reportable > 200  # the generator does reach both
    assert not may_hold_reportable_directives("x = 1  # noqa: E501\ny = 2  # KL101 is a code\n")
    assert not may_hold_directives("x = 1  # no directive\n")
    # the per-comment filter of Suppressions folds the same letters
    assert kl002("x = 1  # KEYLİNT: ignore[KL201]\n") == [(1, "unused `# keylint: ignore` directive (unused: KL201)")]
