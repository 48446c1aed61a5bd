"""The wheel (a non-editable install) carries everything: keylint with its rules as `keylint.rules`
(never a top-level `rules`), the keyflow package, fixed_client with its generated protobuf code,
and the console entry point works from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work), str(REPO)],
        check=True, timeout=300,
    )
    wheel = next(work.glob("keylint-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.startswith("rules/") for n in names), "rules/ must only ship as keylint/rules/"
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, timeout=300,
    )
    return target


def _run(target: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The target goes first on sys.path, ahead of the dev install; cwd is not the repo.
    script = f"import sys; sys.path.insert(0, {str(target)!r})\n" + code
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_wheel_imports_keylint_rules_and_fixed_client(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, (
        "import keylint, keylint.rules, keylint.keyflow, fixed_client\n"
        "from fixed_client import Client, KeyValue, Event, Lease, Lock, CompactedError, WatchCanceledError, "
        "WatchTimeout, LockTimeout, EtcdConnectionError\n"
        "from fixed_client.aio import AsyncClient\n"
        "from keylint.registry import all_rules\n"
        "assert keylint.__file__.startswith(sys.path[0]), keylint.__file__\n"
        "assert keylint.rules.__file__.startswith(sys.path[0]), keylint.rules.__file__\n"
        "assert fixed_client.__file__.startswith(sys.path[0]), fixed_client.__file__\n"
        "print(sorted(all_rules()))\n"
    ), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'KL101'" in result.stdout and "'KL801'" in result.stdout


def test_top_level_rules_is_not_importable(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, "import rules\n", tmp_path)
    assert result.returncode != 0
    assert "No module named 'rules'" in result.stderr


def test_cli_from_the_wheel_reports_the_leaky_fixture(installed: Path, tmp_path: Path) -> None:
    fixture = REPO / "tests" / "fixtures" / "leaky_watcher.py"
    result = _run(installed, (
        "from keylint.cli import main\n"
        f"raise SystemExit(main(['check', '--no-cache', '--output-format', 'json', {str(fixture)!r}]))\n"
    ), tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.count('"code": "KL101"') == 3
