"""The `keylint` command: exit codes, selection, stdin, output files, statistics, bad input,
internal errors, and one real run of the installed console script on the fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from keylint_fakes import CLEAN, LEAKY, fake_engine  # noqa: F401  (fixture)

from keylint import __version__
from keylint.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SARIF_SCHEMA = REPO.parent / "shared" / "data" / "sarif-schema-2.1.0.json"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder; the real engine checks what the test writes there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_engine: None) -> Path:  # noqa: F811
    """Files checked by the stand-in engine (predictable findings for the CLI's own behaviour)."""
    write(tmp_path / "pyproject.toml", "[tool.keylint]\nexclude = ['ignored']\n")
    write(tmp_path / "leaky.py", LEAKY)
    write(tmp_path / "clean.py", CLEAN)
    write(tmp_path / "ignored" / "leaky.py", LEAKY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes_and_text_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "clean.py")
    assert (code, out) == (0, "All checks passed!\n")
    code, out, _ = run(capsys, "check")  # default path: the current folder
    assert code == 1
    assert out.startswith("leaky.py:2:11: KL101 the text of `ctx` changes between calls\n")
    assert "2 |     key = str(ctx)\n  |           ^^^^^^^^\n" in out
    assert "  = 2:15: `ctx` is a context\n" in out
    assert out.endswith("Found 1 finding.\n")
    assert "ignored" not in out  # exclude from [tool.keylint]
    assert run(capsys, "check", "--exit-zero", ".")[0] == 0
    code, out, _ = run(capsys, "check", "--quiet", ".")
    assert code == 1 and "Found" not in out and "KL101" in out


def test_selection_flags(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "mixed.py", 'def f(ctx, d, s):\n    return str(ctx), json.dumps(d), ",".join(s)\n')

    def codes(*flags: str) -> list[str]:
        code, out, _ = run(capsys, "check", "mixed.py", "--output-format", "json", *flags)
        return [d["code"] for d in json.loads(out)]

    assert codes() == ["KL101", "KL102", "KL201"]
    assert codes("--select", "KL1") == ["KL101", "KL102"]
    assert codes("--select", "KL1,KL2", "--ignore", "KL201") == ["KL101", "KL102"]
    assert codes("--select", "KL101", "--extend-select", "KL2") == ["KL101", "KL201"]
    assert codes("--select", "KL10", "--ignore", "KL102") == ["KL101"]
    assert codes("--ignore", "KL") == []


def test_usage_and_config_errors_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "--select", "XYZ1", ".")
    assert code == 2 and "--select" in err and "XYZ1" in err
    assert run(capsys, "check", "--output-format", "yaml")[0] == 2
    assert run(capsys)[0] == 2  # no command
    assert run(capsys, "check", "-", "leaky.py")[0] == 2
    write(project / "pyproject.toml", "[tool.keylint]\nselcet = ['KL1']\n")
    code, _, err = run(capsys, "check", ".")
    assert code == 2 and "pyproject.toml" in err and "`selcet`" in err and "Traceback" not in err
    bad = write(project / "conf" / "keylint.toml", "max-depth = 0\n")
    code, _, err = run(capsys, "check", "--config", str(bad), "clean.py")
    assert code == 2 and "keylint.toml: `max-depth`: expected a positive integer" in err


def test_config_file_option_and_per_file_ignores(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(project / "cfg" / "keylint.toml", '[per-file-ignores]\n"leaky.py" = ["KL101"]\n')
    assert run(capsys, "check", "--config", str(conf), "leaky.py")[0] == 0
    assert run(capsys, "check", "leaky.py")[0] == 1


def test_force_exclude_for_explicit_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "ignored/leaky.py")[0] == 1
    code, out, _ = run(capsys, "check", "--force-exclude", "ignored/leaky.py", "clean.py")
    assert (code, out) == (0, "All checks passed!\n")


def test_stdin(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    def feed(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    feed(LEAKY.encode())
    code, out, _ = run(capsys, "check", "-", "--stdin-filename", "pkg/watch.py", "--output-format", "json")
    assert code == 1 and [(d["path"], d["line"]) for d in json.loads(out)] == [("pkg/watch.py", 2)]
    feed(LEAKY.encode())
    code, out, _ = run(capsys, "check", "--stdin-filename", "ignored/x.py", "--force-exclude")
    assert (code, out) == (0, "All checks passed!\n")
    feed(b'import json\nx = json.dumps(d)\n')
    code, out, err = run(capsys, "check", "-", "--fix", "--unsafe-fixes")
    assert (code, out) == (0, "import json\nx = json.dumps(d, sort_keys=True)\n")
    assert "1 fixed, 0 remaining" in err


def test_output_file_and_statistics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "more.py", 'def f(ctx, d):\n    return str(ctx) + str(ctx), json.dumps(d)\n')
    target = project / "reports" / "out.json"
    code, out, _ = run(capsys, "check", ".", "--output-format", "json", "--output-file", str(target))
    assert code == 1 and out == ""
    assert [d["code"] for d in json.loads(target.read_text())] == ["KL101", "KL101", "KL101", "KL102"]
    code, out, _ = run(capsys, "check", ".", "--statistics")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split("\t")[:2] == ["3", "KL101"] and lines[1].split("\t")[:2] == ["1", "KL102"]
    assert lines[-1] == "Found 4 findings."
    code, out, _ = run(capsys, "check", ".", "--statistics", "--output-format", "json")
    assert [(r["code"], r["count"]) for r in json.loads(out)] == [("KL101", 3), ("KL102", 1)]


def test_bad_files_and_a_thousand_files_without_traceback(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = workdir / "bad"
    write(bad / "latin1.py", b"s = '\xe9t\xe9'\n")
    write(bad / "latin1_cookie.py", b"# -*- coding: latin-1 -*-\ns = '\xe9t\xe9'\n")
    write(bad / "empty.py", b"")
    write(bad / "syntax.py", "def broken(:\n")
    write(bad / "nul.py", b"x = 1\x00\n")
    write(bad / "crlf.py", b"def f(streams, ctx):\r\n    streams[str(ctx)] = 1\r\n")
    write(bad / "mixed.py", b"x = 1\r\ny = 2\rz = 3\n")
    write(bad / "py2.py", "print 'hello'\n")
    for i in range(1000):
        write(bad / "many" / f"m{i:04}.py", f"def f{i}(streams, ctx):\n    streams[str(ctx)] = {i}\n")
    code, out, err = run(capsys, "check", "bad", "--output-format", "json")
    findings = json.loads(out)
    assert code == 1 and err == ""
    by_path = {Path(d["path"]).name: d["code"] for d in findings if "many" not in d["path"]}
    assert by_path == {"latin1.py": "KL001", "syntax.py": "KL001", "nul.py": "KL001", "py2.py": "KL001", "crlf.py": "KL101"}
    assert sum(1 for d in findings if "many" in d["path"] and d["code"] == "KL101") == 1000
    assert [d["path"] for d in findings] == sorted(d["path"] for d in findings)
    code, out, err = run(capsys, "check", "bad")
    assert code == 1 and "Traceback" not in out + err and out.endswith("Found 1005 findings.\n")


def test_real_findings_in_every_format(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    import jsonschema

    write(workdir / "pkg" / "leaky_watcher.py", (FIXTURES / "leaky_watcher.py").read_text(encoding="utf-8"))
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "json")
    expected = json.loads(out)
    assert code == 1 and len(expected) >= 2 and {d["code"] for d in expected} == {"KL101"}

    code, out, _ = run(capsys, "check", "pkg")
    assert out.startswith(f"{os.path.join('pkg', 'leaky_watcher.py')}:{expected[0]['line']}:{expected[0]['column']}: KL101 ")
    assert f"  = {expected[0]['chain'][0]['line']}:{expected[0]['chain'][0]['column']}: " in out

    assert SARIF_SCHEMA.is_file(), f"SARIF schema missing at {SARIF_SCHEMA} (CI provides ../shared/data)"
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "sarif")
    log = json.loads(out)
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    results = log["runs"][0]["results"]
    assert [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["ruleId"]) for r in results] == [
        (d["line"], d["code"]) for d in expected
    ]
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pkg/leaky_watcher.py" for r in results)
    assert len(results[0]["codeFlows"][0]["threadFlows"][0]["locations"]) == len(expected[0]["chain"])
    assert "KL101" in {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}

    code, out, _ = run(capsys, "check", "pkg", "--output-format", "github")
    assert out.splitlines()[0].startswith(
        f"::error file=pkg/leaky_watcher.py,line={expected[0]['line']},col={expected[0]['column']},"
    )
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "gitlab")
    assert [(i["check_name"], i["location"]["lines"]["begin"]) for i in json.loads(out)] == [
        (d["code"], d["line"]) for d in expected
    ]
    write(workdir / "pkg" / "clean.py", "x = {}\n")
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "junit", "--output-file", "out/junit.xml")
    suite = ET.parse(workdir / "out" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): len(c.findall("failure")) for c in suite.findall("testcase")}
    assert cases == {os.path.join("pkg", "clean.py"): 0, os.path.join("pkg", "leaky_watcher.py"): len(expected)}


def test_unreadable_entries_are_kl001(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(project / "pipe.py")
    code, out, _ = run(capsys, "check", "pipe.py", "missing.py", "clean.py", "--output-format", "json")
    got = [(d["path"], d["code"], d["message"]) for d in json.loads(out)]
    assert code == 1
    assert got == [
        ("missing.py", "KL001", "cannot read: No such file or directory"),
        ("pipe.py", "KL001", "not a regular file (a FIFO, socket or device); skipped"),
    ]
    write(project / "big.py", "x = 1\n" * 100)
    code, out, _ = run(capsys, "check", "big.py", "--max-file-size", "10")
    assert code == 1 and "over max-file-size (10 bytes)" in out


def test_internal_error_is_one_line_with_hint(project: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import keylint.runner

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(keylint.runner, "discover", boom)
    monkeypatch.delenv("KEYLINT_DEBUG", raising=False)
    code, _, err = run(capsys, "check", ".")
    assert code == 2
    assert err == "keylint: internal error: RuntimeError: kaboom\nhint: rerun with KEYLINT_DEBUG=1 for a traceback, and please report it\n"
    monkeypatch.setenv("KEYLINT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        main(["check", "."])


def test_engine_crash_on_one_file_costs_only_that_file(project: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from keylint_fakes import fake_check_source

    from keylint import engine

    def flaky(source: str | bytes, path: str, settings: object) -> object:
        if path.endswith("clean.py"):
            raise RecursionError("too deep")
        return fake_check_source(source, path, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "check_source", flaky)
    monkeypatch.delenv("KEYLINT_DEBUG", raising=False)
    code, out, _ = run(capsys, "check", ".", "--output-format", "json")
    got = [(d["path"], d["code"]) for d in json.loads(out)]
    assert code == 1 and got == [("clean.py", "KL001"), ("leaky.py", "KL101")]
    assert "RecursionError: too deep" in json.loads(out)[0]["message"]


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"keylint {__version__}\n")
    code, out, _ = run(capsys, "check", "--help")
    for flag in ("--select", "--ignore", "--extend-select", "--config", "--output-format", "--output-file",
                 "--exit-zero", "--statistics", "--no-cache", "--cache-dir", "--force-exclude", "--fix",
                 "--unsafe-fixes", "--diff", "--stdin-filename", "--quiet"):  # fmt: skip
        assert flag in out
    assert code == 0


def test_start_up_imports_only_what_is_needed(tmp_path: Path) -> None:
    """`keylint --version` loads neither libcst nor any report format; a text check loads only
    the text format, and libcst only once a file is checked."""
    probe = (
        "import sys\nfrom keylint.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print('MODULES', sorted(m for m in sys.modules if m.startswith(('libcst', 'keylint.report', 'keylint.engine', 'grpc'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.splitlines()[-1] == "MODULES []"
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([sys.executable, "-c", probe, "check", str(empty)], capture_output=True, text=True, env=env)
    assert out.stdout.splitlines()[-1] == "MODULES ['keylint.report', 'keylint.report.text']", out.stdout + out.stderr
    one = tmp_path / "one.py"
    one.write_text("def f(streams, ctx):\n    streams[str(ctx)] = 1\n")
    out = subprocess.run([sys.executable, "-c", probe, "check", str(one)], capture_output=True, text=True, env=env)
    loaded = out.stdout.splitlines()[-1]
    assert "'libcst'" in loaded and "'keylint.report.text'" in loaded, loaded
    assert not any(f"keylint.report.{m}'" in loaded for m in ("sarif", "json_format", "github", "gitlab", "junit"))
    assert "grpc" not in loaded


def test_real_console_script_on_the_fixtures(tmp_path: Path) -> None:
    """The installed `keylint` script with the real engine: the leaky watcher port is reported in
    watch() and close_stream(), the stable one is clean."""
    script = shutil.which("keylint", path=os.path.dirname(sys.executable))
    assert script, "the keylint console script is not installed next to this interpreter"
    leaky = subprocess.run([script, "check", "--no-cache", "--output-format", "json", str(FIXTURES / "leaky_watcher.py")],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert leaky.returncode == 1, leaky.stderr
    findings = json.loads(leaky.stdout)
    assert findings and {d["code"] for d in findings} == {"KL101"}
    stable = subprocess.run([script, "check", "--no-cache", "--output-format", "json", str(FIXTURES / "stable_watcher.py")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (stable.returncode, json.loads(stable.stdout)) == (0, []), stable.stderr
    module = subprocess.run([sys.executable, "-m", "keylint", "--version"], capture_output=True, text=True, timeout=60)
    assert module.stdout == f"keylint {__version__}\n"


def test_rule_docs_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from keylint.registry import all_rules

    code, out, _ = run(capsys, "rule", "KL101")
    assert code == 0
    rule = all_rules()["KL101"]
    assert out.startswith(f"# KL101 {rule.name}\n")
    sections = ["## What it does", "## Why is this bad?", "## Example", "## Use instead"]
    positions = [out.index(s) for s in sections]
    assert positions == sorted(positions)
    assert "```python\n" in out.split("## Example")[1]
    assert rule.example.strip().splitlines()[0] in out
    code, out, _ = run(capsys, "rule", "--all")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines() if line.startswith("# KL")] == sorted(set(all_rules()) | {"KL001"})
    code, _, err = run(capsys, "rule", "KL999")
    assert code == 2 and "unknown rule code" in err
    assert run(capsys, "rule")[0] == 2


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "gitlab", "junit"])
def test_undecodable_file_names_in_every_format(project: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    folder = project / "odd"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.py"), "w") as handle:
        handle.write(LEAKY)
    code, out, err = run(capsys, "check", "odd", "--output-format", fmt)
    assert code == 1 and "Traceback" not in err and out
    if fmt in ("json", "gitlab"):
        assert len(json.loads(out)) == 1
    if fmt == "junit":
        import xml.etree.ElementTree as ET

        assert ET.fromstring(out.encode()).find("testsuite/testcase/failure") is not None


def test_ci_paths_are_relative_to_the_project_root(project: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    write(project / "src" / "pkg" / "w.py", LEAKY)
    monkeypatch.chdir(project / "src")
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "github")
    assert code == 1 and out.startswith("::error file=src/pkg/w.py,line=2,")
    code, out, _ = run(capsys, "check", "pkg", "--output-format", "gitlab")
    assert json.loads(out)[0]["location"]["path"] == "src/pkg/w.py"
