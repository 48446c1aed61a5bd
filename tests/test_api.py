"""The library API: keylint.check_source / keylint.check_paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from keylint_fakes import CLEAN, LEAKY, fake_engine  # noqa: F401  (fixture)

import keylint
from keylint.config import ConfigError
from keylint.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_check_source_defaults_select_and_config(tmp_path: Path, fake_engine: None) -> None:  # noqa: F811
    found = keylint.check_source(LEAKY)
    assert [(d.code, d.path, d.line) for d in found] == [("KL101", "<string>", 2)]
    assert isinstance(found[0], keylint.Diagnostic) and dataclasses.is_dataclass(found[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].line = 3  # type: ignore[misc]
    assert keylint.check_source(LEAKY.encode(), "w.py", select=["KL2"]) == []
    assert keylint.check_source(LEAKY, select="KL1,KL2")[0].code == "KL101"
    assert keylint.check_source(CLEAN) == []
    # A config path or a Settings object.
    config = tmp_path / "keylint.toml"
    config.write_text('ignore = ["KL101"]\n')
    assert keylint.check_source(LEAKY, config=config) == []
    assert keylint.check_source(LEAKY, config=Settings(ignore=("KL1",))) == []
    # Bad source never raises; bad configuration does, clearly.
    assert [d.code for d in keylint.check_source(b"\xff\xfe def (")] == ["KL001"]
    with pytest.raises(ConfigError, match="select"):
        keylint.check_source(LEAKY, select=["bogus"])


def test_check_paths_discovers_config_like_the_cli(tmp_path: Path, fake_engine: None) -> None:  # noqa: F811
    (tmp_path / "pyproject.toml").write_text('[tool.keylint]\nextend-exclude = ["vendor"]\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text(LEAKY)
    (tmp_path / "src" / "b.py").write_text(CLEAN)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "v.py").write_text(LEAKY)
    results = keylint.check_paths([tmp_path])
    assert [(Path(d.path).relative_to(tmp_path).as_posix(), d.code) for d in results] == [("src/a.py", "KL101")]
    assert list(keylint.check_paths([tmp_path / "src"], select=["KL2"])) == []
    with pytest.raises(ConfigError):
        keylint.check_paths([tmp_path], config=tmp_path / "nope.toml")


def test_real_engine_on_the_fixtures() -> None:
    leaky_text = (FIXTURES / "leaky_watcher.py").read_text(encoding="utf-8")
    from_source = keylint.check_source(leaky_text, "leaky_watcher.py")
    assert from_source and {d.code for d in from_source} == {"KL101"}
    from_paths = list(keylint.check_paths([FIXTURES / "leaky_watcher.py", FIXTURES / "stable_watcher.py"]))
    assert [(d.line, d.column, d.message) for d in from_paths] == [(d.line, d.column, d.message) for d in from_source]
    assert {Path(d.path).name for d in from_paths} == {"leaky_watcher.py"}
    assert keylint.check_source(leaky_text, select=["KL2"]) == []
    assert keylint.check_source(b"\xff\xfe\x00 def (")[0].code == "KL001"
