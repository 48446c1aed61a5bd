"""The progress bar: only on a terminal, only for the text format, only after the delay, erased
before the report. The real command runs with its stderr on a pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from keylint.progress import Progress, wanted

KEYLINT = Path(sys.executable).with_name("keylint")
BAR = b"keylint ["


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_before_the_delay_and_the_bar_is_erased() -> None:
    clock, out = Clock(), io.StringIO()
    bar = Progress(10, out, delay=1.0, clock=clock, width=60)
    for _ in range(3):
        clock.now += 0.3
        bar.advance()
    assert out.getvalue() == "" and not bar.shown  # 0.9 s: a short run never shows a bar
    clock.now += 0.2
    bar.advance()
    assert out.getvalue().startswith("\rkeylint [") and "4/10 files 1.1s" in out.getvalue()
    drawn = out.getvalue()
    clock.now += 0.01
    bar.advance()
    assert out.getvalue() == drawn  # redraws are throttled
    clock.now += 0.01
    for _ in range(5):
        bar.advance()
    assert "10/10 files" in out.getvalue()  # the last file is always drawn
    bar.close()
    assert out.getvalue().endswith("\r\x1b[K")


def test_the_bar_fills_with_the_count() -> None:
    bar = Progress(4, io.StringIO(), delay=0, width=60)
    bar.done = 2
    line = bar.line(0.5)
    inside = line[line.index("[") + 1 : line.index("]")]
    assert inside == "#" * (len(inside) // 2) + "-" * (len(inside) - len(inside) // 2) and "2/4 files" in line
    bar.done = 4
    assert "-" not in bar.line(1.0)


def test_wanted_only_for_text_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wanted("text", FakeTty())
    assert not wanted("text", io.StringIO())
    for fmt in ("json", "sarif", "github", "gitlab", "junit"):
        assert not wanted(fmt, FakeTty())
    monkeypatch.setenv("CI", "true")
    assert not wanted("text", FakeTty())
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TERM", "dumb")
    assert not wanted("text", FakeTty())


def run_on_pty(args: list[str], cwd: Path, delay: str) -> tuple[int, bytes, bytes]:
    """Run keylint with stderr on a pseudo-terminal and stdout on a pipe."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(KEYLINT_PROGRESS_DELAY=delay, TERM="xterm")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([str(KEYLINT), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        out, _ = proc.communicate(timeout=120)
        err = b""
        while select.select([master], [], [], 1.0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child's side is closed
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    return proc.returncode, out, err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for index in range(6):
        (tmp_path / f"m{index}.py").write_text(f"def f(streams, ctx):\n    streams[str(ctx)] = {index}\n", encoding="utf-8")
    return tmp_path


def test_real_run_draws_on_a_terminal_and_keeps_stdout_clean(folder: Path) -> None:
    code, out, err = run_on_pty(["check", ".", "--no-cache"], folder, delay="0")
    assert code == 1 and BAR in err and b"6/6 files" in err
    assert err.endswith(b"\r\x1b[K")  # erased at the end
    assert BAR not in out and b"\r" not in out and out.count(b"KL101") == 6
    quiet, plain_out, plain_err = run_on_pty(["check", ".", "--no-cache"], folder, delay="3600")
    assert (quiet, plain_out, plain_err) == (1, out, b"")  # before the delay: no bar, same report


def test_no_bar_for_machine_formats_or_fixes_off_a_terminal(folder: Path) -> None:
    for fmt in ("json", "sarif", "github", "gitlab", "junit"):
        _, out, err = run_on_pty(["check", ".", "--no-cache", "--output-format", fmt], folder, delay="0")
        assert BAR not in err and BAR not in out, fmt
    code, out, err = run_on_pty(["check", ".", "--no-cache", "--diff"], folder, delay="0")
    assert BAR in err and BAR not in out  # the diff on stdout stays clean
    piped = subprocess.run(
        [str(KEYLINT), "check", ".", "--no-cache"], cwd=folder, capture_output=True, timeout=120,
        env={**os.environ, "KEYLINT_PROGRESS_DELAY": "0"},
    )  # fmt: skip
    assert BAR not in piped.stderr and BAR not in piped.stdout
