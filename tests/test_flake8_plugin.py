"""The real flake8 (installed beside keylint) loads the `KL` plugin and applies its own selection and
`# noqa` to keylint's findings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLAKE8 = Path(sys.executable).with_name("flake8")
FIXTURE = """\
def watch(streams, ctx):
    streams[str(ctx)] = 1
    streams.pop(str(ctx), None)  # noqa: KL101
    del streams[f"{ctx}"]  # noqa: E501
    streams.get(repr(ctx))  # noqa
    x = 1  # keylint: ignore[KL201]
"""


def flake8(folder: Path, *args: str) -> tuple[int, list[tuple[int, int, str]]]:
    assert FLAKE8.is_file(), f"flake8 is a dev dependency; expected it at {FLAKE8}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAKE8")}
    done = subprocess.run(
        [str(FLAKE8), "--isolated", "--format=%(row)d:%(col)d:%(code)s", *args, "fixture.py"],
        cwd=folder, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    rows = []
    for line in done.stdout.splitlines():
        row, col, code = line.split(":")
        rows.append((int(row), int(col), code))
    return done.returncode, rows


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fixture.py").write_text(FIXTURE, encoding="utf-8")
    return tmp_path


def test_plugin_is_registered_under_kl() -> None:
    done = subprocess.run([str(FLAKE8), "--version"], capture_output=True, text=True, timeout=60)
    assert "keylint:" in done.stdout, done.stdout


def test_flake8_reports_kl_codes_and_honours_noqa(folder: Path) -> None:
    code, rows = flake8(folder, "--select=KL")
    assert code == 1
    # Line 3 is silenced by its noqa naming KL101, line 5 by a bare noqa; the one naming E501 silences
    # nothing. Line 6's keylint directive for KL201 suppresses nothing: keylint reports it (KL002).
    assert rows == [(2, 5, "KL101"), (4, 9, "KL101"), (6, 12, "KL002")]


def test_flake8_selection_applies(folder: Path) -> None:
    assert flake8(folder, "--select=KL101")[1] == [(2, 5, "KL101"), (4, 9, "KL101")]
    assert flake8(folder, "--select=KL", "--extend-ignore=KL1") == (1, [(6, 12, "KL002")])
    assert flake8(folder, "--select=E,W") == (0, [])


def test_flake8_uses_the_projects_keylint_config(folder: Path) -> None:
    (folder / "pyproject.toml").write_text('[tool.keylint]\nignore = ["KL002"]\n', encoding="utf-8")
    assert flake8(folder, "--select=KL")[1] == [(2, 5, "KL101"), (4, 9, "KL101")]
