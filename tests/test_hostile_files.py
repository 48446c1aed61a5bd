"""Hostile files: each gets a clear KL001 (or is skipped with a message), never a traceback, a hang
or a crash of the run, and the ordinary file next to it is still checked.

Most cases run the real CLI in a subprocess under a timeout; the races (a file vanishing between
discovery and reading, a worker dying) are forced in-process with monkeypatch.
Measured limits (documented, not asserted): memory is about 120x the file size for `ast` alone and
about 450x once libcst runs (5 MB of dense code: 0.6 GB / 2.3 GB), so a raised --max-file-size on a
large *flat* file costs gigabytes; the 4 MB default keeps one file near 2 GB at worst.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from keylint import runner
from keylint.runner import RunOptions, iter_file_results
from keylint.settings import Settings

GOOD = "import time\nd = {}\nd[str(time.time())] = 1\n"  # one KL201 at 3:1
DEPTH = 10_000


def keylint(*args: str, timeout: float = 120, **kwargs: object) -> tuple[int, list[dict[str, object]], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "keylint", "check", "--no-cache", "--output-format", "json", *args],
        capture_output=True, text=True, timeout=timeout, check=False, **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_file(found: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    files: dict[str, list[dict[str, object]]] = {}
    for d in found:
        files.setdefault(os.path.basename(str(d["path"])), []).append(d)
    return files


def assert_good_checked(files: dict[str, list[dict[str, object]]]) -> None:
    assert [(d["code"], d["line"], d["column"]) for d in files["good.py"]] == [("KL201", 3, 1)]


def only_kl001(files: dict[str, list[dict[str, object]]], name: str) -> str:
    found = files[name]
    assert [d["code"] for d in found] == ["KL001"], found
    return str(found[0]["message"])


DEEP = {
    "parens.py": "x = " + "(" * DEPTH + "1" + ")" * DEPTH + "\n",
    "lists.py": "x = " + "[" * DEPTH + "]" * DEPTH + "\n",
    "unary.py": "x = " + "-" * DEPTH + "1\n",
    "lambdas.py": "f = " + "lambda: " * DEPTH + "1\n",
    "calls.py": "x = " + "f(" * DEPTH + ")" * DEPTH + "\n",
    "attributes.py": "x = a" + ".b" * DEPTH + "\n",
    "additions.py": "x = " + "+".join(["a"] * DEPTH) + "\n",
    "blocks.py": "".join(" " * i + "if x:\n" for i in range(1000)) + " " * 1000 + "pass\n",
    "strings.py": "d = {}\nd[str(ctx)] = (" + " ".join(['"a"'] * DEPTH) + ")\n",  # flat for ast, deep for libcst
}


def test_deeply_nested_files_get_kl001_and_the_run_goes_on(tmp_path: Path) -> None:
    for name, text in DEEP.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "good.py").write_text(GOOD)
    for jobs in ("1", "2"):
        code, found, _ = keylint("-j", jobs, str(tmp_path))
        files = by_file(found)
        assert code == 1
        assert_good_checked(files)
        messages = {name: only_kl001(files, name) for name in DEEP}
        for name in ("parens.py", "lists.py", "calls.py"):
            assert "too many nested parentheses" in messages[name]
        assert "indentation" in messages["blocks.py"]  # the parser stops at 100 levels
        for name in ("unary.py", "lambdas.py", "attributes.py", "additions.py"):
            assert "nesting" in messages[name], messages[name]
        assert "libcst cannot parse" in messages["strings.py"]


def test_ten_thousand_nested_blocks_are_50_mb_and_rejected_by_size(tmp_path: Path) -> None:
    """10,000 nested `if` blocks need 50 MB of indentation: the default size limit rejects the file
    before reading it; with the limit raised, the parser's indentation limit stops it early and
    memory stays near the size of the text."""
    big = tmp_path / "blocks.py"
    with big.open("w") as out:
        for level in range(DEPTH):
            out.write(" " * level + "if x:\n")
        out.write(" " * DEPTH + "pass\n")
    assert big.stat().st_size > 50_000_000
    (tmp_path / "good.py").write_text(GOOD)
    _, found, _ = keylint(str(tmp_path), timeout=30)
    files = by_file(found)
    assert "max-file-size" in only_kl001(files, "blocks.py")
    assert_good_checked(files)

    script = (
        "import resource, sys\nfrom keylint.cli import main\n"
        f"code = main(['check', '--no-cache', '-j', '1', '--output-format', 'json', '--max-file-size', '60000000', {str(big)!r}])\n"
        "sys.stderr.write(f'RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\nsys.exit(code)\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert "indentation" in json.loads(proc.stdout)[0]["message"]
    rss_kb = int(proc.stderr.rsplit("RSS ", 1)[1])
    assert rss_kb < 600_000, f"{rss_kb} kB for a 50 MB file the parser rejects at line 101"


def test_nul_bytes_and_undecodable_bytes(tmp_path: Path) -> None:
    (tmp_path / "nul.py").write_bytes(b"x = 1\ny = '\0'\n")
    (tmp_path / "latin1.py").write_bytes(b"x = 1\nname = '\xe9t\xe9'\n")  # Latin-1 without a cookie
    (tmp_path / "random.py").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "good.py").write_text(GOOD)
    _, found, _ = keylint(str(tmp_path))
    files = by_file(found)
    assert_good_checked(files)
    assert "NUL" in only_kl001(files, "nul.py") and files["nul.py"][0]["line"] == 2
    assert "cannot decode as UTF-8" in only_kl001(files, "latin1.py") and files["latin1.py"][0]["line"] == 2
    only_kl001(files, "random.py")


FINDING_LINE = "x = 'é'; d[str(time.time())] = 1"  # the finding starts after a non-ASCII character


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("lf.py", f"import time\nd = {{}}\n{FINDING_LINE}\n".encode()),
        ("crlf.py", f"import time\r\nd = {{}}\r\n{FINDING_LINE}\r\n".encode()),
        ("cr.py", f"import time\rd = {{}}\r{FINDING_LINE}\r".encode()),
        ("mixed.py", f"import time\r\nd = {{}}\r{FINDING_LINE}\n".encode()),
        ("bom.py", b"\xef\xbb\xbf" + f"import time\nd = {{}}\n{FINDING_LINE}\n".encode()),
        ("cookie.py", f"# -*- coding: latin-1 -*-\nimport time\nd = {{}}\n{FINDING_LINE}\n".encode("latin-1")),
    ],
)
def test_encodings_and_line_endings_keep_positions_right(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    _, found, _ = keylint(str(tmp_path / name))
    line = 4 if name == "cookie.py" else 3
    # Code-point columns: `d[str(time.time())]` starts at column 10 (after `x = 'é'; `), ends before ` =`.
    assert [(d["code"], d["line"], d["column"], d["end_line"], d["end_column"]) for d in found] == [
        ("KL201", line, 10, line, 29)
    ]


def test_a_fifo_is_skipped_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "good.py").write_text(GOOD)
    for args in ([str(tmp_path)], [str(tmp_path / "pipe.py"), str(tmp_path / "good.py")]):
        _, found, _ = keylint(*args, timeout=30)
        files = by_file(found)
        assert "not a regular file" in only_kl001(files, "pipe.py")
        assert_good_checked(files)


def test_symlink_loops_end(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.py").write_text(GOOD)
    (tmp_path / "pkg" / "again").symlink_to(tmp_path / "pkg")  # a folder loop
    (tmp_path / "pkg" / "self.py").symlink_to(tmp_path / "pkg" / "self.py")  # a file loop (ELOOP)
    (tmp_path / "pkg" / "dangling.py").symlink_to(tmp_path / "missing.py")
    _, found, _ = keylint(str(tmp_path), timeout=30)
    files = by_file(found)
    assert_good_checked(files)  # once: the loop is not walked again
    assert "symbolic links" in only_kl001(files, "self.py")
    assert "No such file" in only_kl001(files, "dangling.py")


def test_an_unreadable_folder_is_reported_and_the_rest_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.py").write_text(GOOD)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads a mode-000 folder anyway: make listing it fail as it would
        scandir = os.scandir

        def denied(path: object = ".") -> object:
            if os.path.abspath(str(path)) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path)  # type: ignore[call-overload]

        monkeypatch.setattr(os, "scandir", denied)
    try:
        results = {Path(r.path).name: r.diagnostics for r in iter_file_results([str(tmp_path)], Settings(), options=RunOptions(jobs=1, use_cache=False))}
    finally:
        locked.chmod(0o755)
    assert [d.code for d in results["good.py"]] == ["KL201"]
    assert [d.code for d in results["locked"]] == ["KL001"]
    assert "Permission denied" in results["locked"][0].message
    assert "hidden.py" not in results


def test_a_file_vanishing_between_discovery_and_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gone.py").write_text(GOOD)
    (tmp_path / "good.py").write_text(GOOD)
    discover = runner.discover

    def discover_then_delete(*args: object, **kwargs: object) -> object:
        found = discover(*args, **kwargs)  # type: ignore[arg-type]
        (tmp_path / "gone.py").unlink()
        return found

    monkeypatch.setattr(runner, "discover", discover_then_delete)
    results = {Path(r.path).name: r.diagnostics for r in iter_file_results([str(tmp_path)], Settings(), options=RunOptions(jobs=1, use_cache=False))}
    assert [d.code for d in results["good.py"]] == ["KL201"]
    assert [d.code for d in results["gone.py"]] == ["KL001"]
    assert "No such file" in results["gone.py"][0].message


def test_a_file_vanishing_before_fix_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keylint import discover as discover_module
    from keylint.cli import main

    fixable = "_cache = {}\n\ndef get(x):\n    return _cache.get(hash(x))\n"
    (tmp_path / "gone.py").write_text(fixable)
    (tmp_path / "good.py").write_text(GOOD)
    discover = discover_module.discover

    def discover_then_delete(*args: object, **kwargs: object) -> object:
        found = discover(*args, **kwargs)  # type: ignore[arg-type]
        (tmp_path / "gone.py").unlink()
        return found

    monkeypatch.setattr(discover_module, "discover", discover_then_delete)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--no-cache", "--fix", "--unsafe-fixes", "-q", "."]) == 1
    assert not (tmp_path / "gone.py").exists()  # not recreated by the fixer
    assert sorted(os.listdir(tmp_path)) == ["good.py"]


def test_a_worker_crash_costs_only_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A native crash (as libcst has had on deep input) is simulated with abort() in the worker."""
    for index in range(6):
        (tmp_path / f"good{index}.py").write_text(GOOD)
    (tmp_path / "crash.py").write_text("# boom\n" + GOOD)
    check_bytes = runner.check_bytes

    def crashing(source: str | bytes, path: str, settings: Settings) -> object:
        if path.endswith("crash.py"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return check_bytes(source, path, settings)

    monkeypatch.setattr(runner, "check_bytes", crashing)
    results = {Path(r.path).name: r.diagnostics for r in iter_file_results([str(tmp_path)], Settings(), options=RunOptions(jobs=2, use_cache=False))}
    assert len(results) == 7
    assert all([d.code for d in results[f"good{i}.py"]] == ["KL201"] for i in range(6))
    assert [d.code for d in results["crash.py"]] == ["KL001"]
    assert "crashed" in results["crash.py"][0].message and "SIGSEGV" in results["crash.py"][0].message


def test_running_out_of_memory_costs_only_that_file(tmp_path: Path) -> None:
    """Under a 400 MB address-space cap, libcst cannot hold this 0.5 MB file (its native parser
    aborts on a failed allocation): a KL001 for that file, and the other file is still checked."""
    lines = "".join(f"d[str(time.time())] = {i}\n" for i in range(20_000))  # findings: libcst must run
    (tmp_path / "big.py").write_text("import time\nd = {}\n" + lines)
    (tmp_path / "good.py").write_text(GOOD)
    limit = 400 * 1024 * 1024

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    _, found, _ = keylint("-j", "2", str(tmp_path), timeout=180, preexec_fn=cap_memory)
    files = by_file(found)
    assert_good_checked(files)
    message = only_kl001(files, "big.py")
    assert "crashed" in message or "memory" in message or "cannot parse" in message, message
