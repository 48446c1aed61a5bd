"""Applying fixes: coordinates, overlap, rounds, re-parse guard, safe/unsafe, --diff, and writing
that keeps encoding, line endings and mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from keylint_fakes import fake_check_source, fake_engine  # noqa: F401  (fixture)

from keylint.cli import main
from keylint.diagnostics import Diagnostic, Edit, Fix
from keylint.fixes import apply_round, fix_text, write_atomic
from keylint.settings import Settings


def diag(line: int, col: int, *edits: Edit, applicability: str = "safe", code: str = "KL102") -> Diagnostic:
    fix = Fix(applicability, "fix it", tuple(edits))  # type: ignore[arg-type]
    return Diagnostic(code, "m", "x.py", line, col, line, col + 1, fix=fix)


def test_edits_use_one_based_code_point_columns_end_exclusive() -> None:
    text = "k = 'é' + ctx\r\nnext = 2\n"
    new, count = apply_round(text, [diag(1, 11, Edit(1, 11, 1, 14, "meta"))], unsafe=False)
    assert (new, count) == ("k = 'é' + meta\r\nnext = 2\n", 1)
    # Multi-line edit content takes the file's line ending; a pure insertion at a line start works.
    new, _ = apply_round(text, [diag(2, 1, Edit(2, 1, 2, 1, "import json\n"))], unsafe=False)
    assert new == "k = 'é' + ctx\r\nimport json\r\nnext = 2\n"


def test_overlapping_fixes_are_deferred_and_unsafe_needs_opt_in() -> None:
    text = "a = f(x)\n"
    first = diag(1, 5, Edit(1, 5, 1, 9, "g(x)"))
    overlapping = diag(1, 7, Edit(1, 7, 1, 8, "y"))
    unsafe = diag(1, 1, Edit(1, 1, 1, 2, "b"), applicability="unsafe")
    assert apply_round(text, [overlapping, first, unsafe], unsafe=False) == ("a = g(x)\n", 1)
    assert apply_round(text, [first, unsafe], unsafe=True) == ("b = g(x)\n", 2)
    out_of_range = diag(1, 1, Edit(3, 1, 3, 5, "zzz"))
    assert apply_round(text, [out_of_range], unsafe=True) == (text, 0)


def test_rounds_repeat_until_nothing_changes_and_are_idempotent() -> None:
    # Each round fixes one `[x]` wrapper; the fix of the next is only reported after re-checking.
    def check(text: str) -> list[Diagnostic]:
        index = text.find("[x]")
        if index < 0:
            return []
        col = index + 1
        return [diag(1, col, Edit(1, col, 1, col + 3, "x"))]

    text = "v = [[[x]]]\n"
    outcome = fix_text(text, check(text), check, unsafe=False)
    assert (outcome.text, outcome.fixed, outcome.remaining, outcome.error) == ("v = x\n", 3, [], None)
    again = fix_text(outcome.text, check(outcome.text), check, unsafe=False)
    assert (again.text, again.fixed) == (outcome.text, 0)


def test_fix_that_breaks_the_syntax_is_not_applied() -> None:
    text = "a = f(x)\n"
    bad = diag(1, 5, Edit(1, 5, 1, 9, "f(x"))
    outcome = fix_text(text, [bad], lambda t: [], unsafe=False)
    assert outcome.text == text and outcome.fixed == 0
    assert outcome.error is not None and "would not parse" in outcome.error and "SyntaxError" in outcome.error


def test_cli_fix_writes_safely_keeping_encoding_endings_and_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_engine: None  # noqa: F811
) -> None:
    monkeypatch.chdir(tmp_path)
    original = '# -*- coding: latin-1 -*-\r\nimport json\r\nname = "caf\xe9"\r\nx = ",".join(s)\r\ny = json.dumps(d)\r\n'
    path = tmp_path / "mod.py"
    path.write_bytes(original.encode("latin-1"))
    os.chmod(path, 0o640)
    before_inode = os.stat(path).st_ino

    # --diff shows the safe fix and writes nothing.
    assert main(["check", "mod.py", "--diff"]) == 1
    out, err = capsys.readouterr()
    assert '-x = ",".join(s)\r\n+x = ",".join(sorted(s))\r\n' in out and "json.dumps(d, sort" not in out
    assert "Would fix 1 finding (1 remaining)." in err
    assert path.read_bytes() == original.encode("latin-1")

    # --fix applies safe fixes only; the unsafe one remains, so the exit code is 1.
    assert main(["check", "mod.py", "--fix"]) == 1
    out, _ = capsys.readouterr()
    assert "KL102" in out and "1 fixed, 1 remaining" in out
    fixed = path.read_bytes()
    assert fixed == original.replace('",".join(s)', '",".join(sorted(s))').encode("latin-1")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.stat(path).st_ino != before_inode  # replaced through a temp file, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["mod.py"]  # no temp file left behind

    # --unsafe-fixes applies the rest: nothing remains, exit 0; a second run changes nothing.
    assert main(["check", "mod.py", "--fix", "--unsafe-fixes"]) == 0
    final = path.read_bytes()
    assert final.endswith(b"y = json.dumps(d, sort_keys=True)\r\n") and b"\r\n" in final and b"caf\xe9" in final
    assert main(["check", "mod.py", "--fix", "--unsafe-fixes"]) == 0
    assert path.read_bytes() == final


def test_fix_keeps_bom_and_refuses_unencodable_or_changed_files(tmp_path: Path, fake_engine: None) -> None:  # noqa: F811
    from keylint.fixes import WriteError, fix_file

    settings = Settings(project_root=str(tmp_path))
    bom = tmp_path / "bom.py"
    bom.write_bytes(b'\xef\xbb\xbfx = ",".join(s)\n')
    result = fix_file(str(bom), settings, unsafe=False, write=True)
    assert result.fixed == 1 and bom.read_bytes() == b'\xef\xbb\xbfx = ",".join(sorted(s))\n'
    # A fix whose text the file's encoding cannot hold is not written.
    ascii_file = tmp_path / "ascii.py"
    ascii_file.write_bytes(b'# coding: ascii\nx = ",".join(s)\n')
    import keylint.engine

    def non_ascii_fix(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
        return [d for d in [diag(2, 14, Edit(2, 14, 2, 15, "\u00e9"))] if isinstance(source, bytes)]

    keylint.engine.check_source = non_ascii_fix  # type: ignore[assignment]  # restored by the fixture
    result = fix_file(str(ascii_file), settings, unsafe=False, write=True)
    assert result.fixed == 0 and result.message is not None and "cannot be encoded as ascii" in result.message
    assert ascii_file.read_bytes() == b'# coding: ascii\nx = ",".join(s)\n'
    target = tmp_path / "t.py"
    target.write_bytes(b"a = 1\n")
    with pytest.raises(WriteError):
        write_atomic(str(target), b"a = 2\n", expected_old=b"something else\n")
    assert target.read_bytes() == b"a = 1\n"


def test_fix_through_a_symlink_keeps_the_link(tmp_path: Path, fake_engine: None) -> None:  # noqa: F811
    from keylint.fixes import fix_file

    real = tmp_path / "real.py"
    real.write_text('x = ",".join(s)\n')
    link = tmp_path / "link.py"
    link.symlink_to(real)
    result = fix_file(str(link), Settings(), unsafe=False, write=True)
    assert result.fixed == 1 and link.is_symlink() and real.read_text() == 'x = ",".join(sorted(s))\n'


def test_real_rule_fix_through_the_cli_on_a_crlf_latin1_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real engine's KL501 fix (unsafe: it changes the keys) end to end."""
    monkeypatch.chdir(tmp_path)
    source = ('# -*- coding: latin-1 -*-\r\nimport json\r\n\r\n_cache = {}\r\nLABEL = "caf\xe9"\r\n\r\n'
              "def get(**kw):\r\n    return _cache.get(json.dumps(kw))\r\n")  # fmt: skip
    path = tmp_path / "cache.py"
    path.write_bytes(source.encode("latin-1"))
    os.chmod(path, 0o600)
    assert main(["check", "cache.py", "--select", "KL501", "--fix"]) == 1  # safe only: the finding remains
    assert path.read_bytes() == source.encode("latin-1")
    assert main(["check", "cache.py", "--select", "KL501", "--diff", "--unsafe-fixes"]) == 1
    out, _ = capsys.readouterr()
    assert "+    return _cache.get(json.dumps(kw, sort_keys=True))\r\n" in out
    assert main(["check", "cache.py", "--select", "KL501", "--fix", "--unsafe-fixes"]) == 0
    expected = source.replace("json.dumps(kw)", "json.dumps(kw, sort_keys=True)").encode("latin-1")
    assert path.read_bytes() == expected
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert main(["check", "cache.py", "--select", "KL501", "--fix", "--unsafe-fixes"]) == 0
    assert path.read_bytes() == expected
