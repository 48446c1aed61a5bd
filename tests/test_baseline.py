"""`keylint check --write-baseline FILE` / `--baseline FILE` on a copy of the fixture folder, with the
real engine: only findings not in the baseline fail; moving code keeps them matched."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from keylint.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXTRA = """\
import time


def stamp(cache):
    cache[time.time()] = 1


def watch(streams, ctx):
    streams[str(ctx)] = 1
    streams[str(ctx)] = 1
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "src")
    (tmp_path / "src" / "extra.py").write_text(EXTRA, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.keylint]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[tuple[str, int, str]], str]:
    code = main(["check", "src", "--no-cache", "--output-format", "json", *args])
    out, err = capsys.readouterr()
    found = [(d["path"], d["line"], d["code"]) for d in json.loads(out)] if out.strip() else []
    return code, found, err


def test_baseline_silences_existing_findings_and_fails_on_a_new_one(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, before, _ = run(capsys)
    assert code == 1 and len(before) >= 6  # the fixture's three KL101, extra.py's KL201 and two KL101
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    assert "wrote 6 finding(s)" in capsys.readouterr().err

    code, found, err = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (0, []) and "6 finding(s) matched" in err

    extra = project / "src" / "extra.py"
    extra.write_text(EXTRA + "    streams.pop(repr(ctx), None)\n", encoding="utf-8")
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (1, [(str(Path("src/extra.py")), 11, "KL101")])


def test_moving_lines_keeps_the_baseline_matched(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    extra = project / "src" / "extra.py"
    functions = EXTRA.split("\n\n\n")
    moved = "\n\n\n".join([functions[0], functions[2].rstrip("\n"), "# a comment\n\n" + functions[1]]) + "\n"
    extra.write_text("\n\n\n" + moved, encoding="utf-8")
    leaky = project / "src" / "leaky_watcher.py"
    leaky.write_text("# moved down\n" * 7 + leaky.read_text(encoding="utf-8"), encoding="utf-8")
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (0, [])
    # A copy of a baselined line is a new finding (each fingerprint has a count).
    extra.write_text(moved.replace("    streams[str(ctx)] = 1\n", "    streams[str(ctx)] = 1\n" * 2, 1), encoding="utf-8")
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert code == 1 and [c for _, _, c in found] == ["KL101"]


def test_changing_the_key_expression_is_a_new_finding(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    extra = project / "src" / "extra.py"
    extra.write_text(EXTRA.replace("cache[time.time()]", "cache[time.monotonic()]"), encoding="utf-8")
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (1, [(str(Path("src/extra.py")), 5, "KL201")])


def test_baseline_file_is_sorted_and_stable(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "src", "--no-cache", "--write-baseline", "one.json"]) == 0
    assert main(["check", str(project / "src"), "--no-cache", "--write-baseline", "two.json"]) == 0
    one = (project / "one.json").read_bytes()
    assert one == (project / "two.json").read_bytes()  # same paths whatever the spelling of the argument
    data = json.loads(one)
    entries = data["findings"]
    assert data["keylint_baseline"] == 1
    assert entries == sorted(entries, key=lambda e: (e["path"], e["code"], e["fingerprint"]))
    assert {e["path"] for e in entries} == {"src/extra.py", "src/leaky_watcher.py"}
    doubled = [e for e in entries if e["key"] == "streams[str(ctx)]" and e["path"] == "src/extra.py"]
    assert [e["count"] for e in doubled] == [2]
    assert "line" not in json.dumps(entries)  # no line numbers: moving code changes nothing


def test_unreadable_files_are_never_baselined(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "src" / "broken.py").write_text("def f(:\n", encoding="utf-8")
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    assert "KL001" in capsys.readouterr().err
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (1, [(str(Path("src/broken.py")), 1, "KL001")])


def test_fixed_findings_are_reported_as_stale(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    (project / "src" / "extra.py").write_text("x = 1\n", encoding="utf-8")
    code, found, err = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (0, []) and "3 baseline entr(ies) no longer occur" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "cannot read baseline"),
        ('{"findings": []}', "is not a keylint baseline"),
        ('{"keylint_baseline": 1, "findings": [{"path": "a.py"}]}', "entry 0 needs"),
    ],
)
def test_bad_baseline_files_are_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    if content is not None:
        (project / "baseline.json").write_text(content, encoding="utf-8")
    assert main(["check", "src", "--no-cache", "--baseline", "baseline.json"]) == 2
    assert message in capsys.readouterr().err


def test_baseline_flags_that_do_not_combine(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "src", "--baseline", "a.json", "--write-baseline", "b.json"]) == 2
    assert main(["check", "src", "--diff", "--write-baseline", "b.json"]) == 2
    assert not (project / "b.json").exists()


def test_file_names_that_are_not_utf8(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(os.path.join(os.fsencode(project / "src"), b"caf\xe9.py"), "w", encoding="utf-8") as handle:
        handle.write(EXTRA)
    assert main(["check", "src", "--no-cache", "--write-baseline", "baseline.json"]) == 0
    json.loads((project / "baseline.json").read_text(encoding="utf-8"))  # valid UTF-8 JSON
    code, found, _ = run(capsys, "--baseline", "baseline.json")
    assert (code, found) == (0, [])
