"""`keylint check --add-noqa` with the real engine: every finding silenced, code meaning unchanged,
encodings and line endings kept, comments never put inside strings or after a backslash."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest

from keylint.cli import main

LEAKY = """\
import time


def watch(streams, ctx):
    streams[str(ctx)] = 1
    streams.pop(str(ctx), None)  # noqa: E501
    streams.get(repr(ctx))  # keylint: ignore[KL201]


def stamp(cache):
    cache[time.time()] = 1
"""
EXPECTED = """\
import time


def watch(streams, ctx):
    streams[str(ctx)] = 1  # keylint: ignore[KL101]
    streams.pop(str(ctx), None)  # noqa: E501  # keylint: ignore[KL101]
    streams.get(repr(ctx))  # keylint: ignore[KL201, KL002, KL101]


def stamp(cache):
    cache[time.time()] = 1  # keylint: ignore[KL201]
"""
TRICKY = '''\
def watch(streams, ctx):
    streams[f"""{ctx}
"""] = 1
    value = streams.get(str(ctx)) + \\
        1
    streams[(
        str(ctx))] = 3
    return value
'''


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.keylint]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def codes(capsys: pytest.CaptureFixture[str], path: str) -> tuple[int, list[tuple[int, str]]]:
    capsys.readouterr()
    code = main(["check", path, "--no-cache", "--output-format", "json"])
    return code, [(d["line"], d["code"]) for d in json.loads(capsys.readouterr().out)]


def test_add_noqa_silences_every_finding(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "leaky.py"
    path.write_text(LEAKY, encoding="utf-8")
    assert codes(capsys, "leaky.py") == (1, [(5, "KL101"), (6, "KL101"), (7, "KL101"), (7, "KL002"), (11, "KL201")])
    assert main(["check", "leaky.py", "--no-cache", "--add-noqa"]) == 0
    assert "added suppression comments for 5 finding(s) in 1 file(s)" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == EXPECTED
    assert codes(capsys, "leaky.py") == (0, [])
    assert main(["check", "leaky.py", "--no-cache", "--add-noqa"]) == 0  # nothing left: nothing changes
    assert path.read_text(encoding="utf-8") == EXPECTED


def test_comments_never_go_inside_strings_or_after_backslashes(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "tricky.py"
    path.write_text(TRICKY, encoding="utf-8")
    assert codes(capsys, "tricky.py") == (1, [(2, "KL101"), (4, "KL101"), (6, "KL101")])
    assert main(["check", "tricky.py", "--no-cache", "--add-noqa"]) == 0
    new = path.read_text(encoding="utf-8")
    assert ast.dump(ast.parse(new)) == ast.dump(ast.parse(TRICKY))  # comments only: same program
    lines = new.splitlines()
    assert lines[1] == '    streams[f"""{ctx}' and lines[2].endswith('"""] = 1  # keylint: ignore[KL101]')
    assert lines[3].endswith("\\") and lines[4] == "        1  # keylint: ignore[KL101]"
    assert lines[5] == "    streams[(  # keylint: ignore[KL101]"  # inside brackets a comment is fine
    assert codes(capsys, "tricky.py") == (0, [])


def test_encoding_line_endings_and_mode_are_kept(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin = folder / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\r\ndef f(s, ctx):\r\n    s[str(ctx)] = 'caf\xe9'\r\n".encode("latin-1"))
    os.chmod(latin, 0o750)
    bom = folder / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef f(s, ctx):\n    s[str(ctx)] = '\xe2\x98\x83'\n")
    assert main(["check", ".", "--no-cache", "--add-noqa"]) == 0
    assert latin.read_bytes() == (
        "# -*- coding: latin-1 -*-\r\ndef f(s, ctx):\r\n    s[str(ctx)] = 'caf\xe9'  # keylint: ignore[KL101]\r\n"
    ).encode("latin-1")
    assert stat.S_IMODE(latin.stat().st_mode) == 0o750
    assert bom.read_bytes() == b"\xef\xbb\xbfdef f(s, ctx):\n    s[str(ctx)] = '\xe2\x98\x83'  # keylint: ignore[KL101]\n"
    assert not [p for p in folder.iterdir() if p.name.startswith(".keylint")]  # no temp files left
    assert codes(capsys, ".") == (0, [])


def test_unreadable_files_are_left_alone(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = folder / "broken.py"
    broken.write_text("def f(:\n    streams[str(ctx)] = 1\n", encoding="utf-8")
    assert main(["check", "broken.py", "--no-cache", "--add-noqa"]) == 0
    assert broken.read_text(encoding="utf-8") == "def f(:\n    streams[str(ctx)] = 1\n"
    assert codes(capsys, "broken.py") == (1, [(1, "KL001")])


def test_with_a_baseline_only_new_findings_get_comments(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "leaky.py"
    path.write_text(LEAKY, encoding="utf-8")
    assert main(["check", "leaky.py", "--no-cache", "--write-baseline", "b.json"]) == 0
    path.write_text(LEAKY + "    cache[str(time.time())] = 2\n", encoding="utf-8")
    assert main(["check", "leaky.py", "--no-cache", "--baseline", "b.json", "--add-noqa"]) == 0
    assert path.read_text(encoding="utf-8") == LEAKY + "    cache[str(time.time())] = 2  # keylint: ignore[KL201]\n"


def test_add_noqa_refuses_flags_it_cannot_honour(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "leaky.py").write_text(LEAKY, encoding="utf-8")
    assert main(["check", "leaky.py", "--add-noqa", "--fix"]) == 2
    assert main(["check", "leaky.py", "--add-noqa", "--diff"]) == 2
    assert main(["check", "-", "--add-noqa"]) == 2
    assert (folder / "leaky.py").read_text(encoding="utf-8") == LEAKY


def test_old_mac_line_endings_and_a_comment_ending_in_a_backslash(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "cr.py"
    path.write_bytes(b"def f(s, ctx):\r    s[str(ctx)] = 1  # C:\\\r    return s\r")
    assert main(["check", "cr.py", "--no-cache", "--add-noqa"]) == 0
    # The backslash ends a comment, not a continuation line: the directive stays on the finding's line.
    assert path.read_bytes() == b"def f(s, ctx):\r    s[str(ctx)] = 1  # C:\\  # keylint: ignore[KL101]\r    return s\r"
    assert codes(capsys, "cr.py") == (0, [])


def _invalid_examples() -> list[object]:
    from keylint.registry import all_rules

    cases = []
    for code, rule in all_rules().items():
        for index, example in enumerate(rule.examples()[1]):
            if isinstance(example.code, str) and code != "KL001":
                cases.append(pytest.param(example.code, id=f"{code}-{index}"))
    return cases


@pytest.mark.parametrize("source", _invalid_examples())
def test_every_rules_invalid_examples_are_silenced_without_changing_the_program(source: str) -> None:
    from keylint.engine import check_source
    from keylint.noqa import add_to_text
    from keylint.settings import Settings

    found = check_source(source, "example.py", Settings())
    text, count, skipped = add_to_text(source, found)
    assert (count, skipped) == (len(found), [])
    assert ast.dump(ast.parse(text)) == ast.dump(ast.parse(source))
    assert check_source(text, "example.py", Settings()) == []
