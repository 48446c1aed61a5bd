"""[tool.keylint] / keylint.toml loading, validation and discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keylint.config import (
    ConfigError,
    discover_settings,
    find_config,
    load_settings,
    validate_codes,
    with_overrides,
)
from keylint.settings import Settings, SinkSpec, SourceSpec

FULL = """
[tool.black]
line-length = 100

[tool.keylint]
select = ["KL1", "KL201"]
ignore = ["KL102"]
extend-select = ["KL001"]
exclude = ["build", "gen/**/*.py"]
extend-exclude = ["vendored/"]
max-file-size = 1000
max-depth = 50
sanitizers = ["myapp.keys.stable_key"]

[tool.keylint.per-file-ignores]
"tests/*.py" = ["KL101"]

[[tool.keylint.sources]]
kind = "context"
type = "myapp.Request"

[[tool.keylint.sources]]
kind = "time"
function = "myapp.clock.now"

[[tool.keylint.sinks]]
function = "myapp.cache.get"
key-arg = 1
persistent = true

[[tool.keylint.sinks]]
function = "store.put"
key-kwarg = "name"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_full_pyproject_table(tmp_path: Path) -> None:
    config = write(tmp_path / "pyproject.toml", FULL)
    s = load_settings(config)
    assert s.select == ("KL1", "KL201")
    assert s.ignore == ("KL102",)
    assert s.extend_select == ("KL001",)
    assert s.exclude == ("build", "gen/**/*.py") and s.extend_exclude == ("vendored/",)
    assert (s.max_file_size, s.max_depth) == (1000, 50)
    assert s.sanitizers == ("myapp.keys.stable_key",)
    assert s.per_file_ignores == (("tests/*.py", ("KL101",)),)
    assert s.sources == (SourceSpec("context", type="myapp.Request"), SourceSpec("time", function="myapp.clock.now"))
    assert s.sinks == (
        SinkSpec("myapp.cache.get", key_arg=1, key_kwarg=None, persistent=True),
        SinkSpec("store.put", key_arg=None, key_kwarg="name", persistent=False),
    )
    assert s.config_path == str(config) and s.project_root == str(tmp_path)
    # Settings stay picklable and fingerprintable (workers, cache keys).
    import pickle

    assert pickle.loads(pickle.dumps(s)) == s
    assert s.fingerprint() != Settings().fingerprint()


def test_keylint_toml_uses_top_level_keys(tmp_path: Path) -> None:
    config = write(tmp_path / "keylint.toml", 'select = ["KL2"]\n[per-file-ignores]\n"a.py" = ["KL201"]\n')
    s = load_settings(config)
    assert s.select == ("KL2",) and s.per_file_ignores == (("a.py", ("KL201",)),)


def test_discovery_walks_up_and_skips_unrelated_pyprojects(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.keylint]\nselect = ["KL2"]\n')
    # A nested project without [tool.keylint] (even a broken one) does not stop the search.
    write(tmp_path / "pkg" / "pyproject.toml", "[project\nname = 'broken'\n")
    target = write(tmp_path / "pkg" / "sub" / "mod.py", "x = 1\n")
    assert find_config(target) == tmp_path / "pyproject.toml"
    assert discover_settings([str(target)]).select == ("KL2",)
    # The common folder of several paths decides.
    other = write(tmp_path / "other" / "b.py", "")
    assert discover_settings([str(target), str(other)]).config_path == str(tmp_path / "pyproject.toml")


def test_no_config_gives_defaults_rooted_at_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", "")
    s = discover_settings(["a.py"])
    if s.config_path is None:  # no keylint config above the temp folder (the usual case)
        assert s.select == Settings().select and s.project_root == str(tmp_path)
    else:
        assert not str(s.config_path).startswith(str(tmp_path))


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ('selec = ["KL1"]', "selec", "unknown key"),
        ('extend_select = ["KL1"]', "extend_select", "did you mean `extend-select`"),
        ('select = "KL1"', "select", "expected an array of strings, got a string"),
        ('select = ["KL9999"]', "select", "unknown rule code 'KL9999'"),
        ('ignore = ["E501"]', "ignore", "unknown rule code 'E501'"),
        ("max-file-size = -1", "max-file-size", "expected a positive integer"),
        ('max-depth = "deep"', "max-depth", "expected a positive integer"),
        ('per-file-ignores = ["x"]', "per-file-ignores", "expected a table"),
        ('sources = [{kind = "weather", name = "x"}]', "sources[0].kind", "expected one of context"),
        ('sources = [{kind = "time", name = "x", type = "T"}]', "sources[0]", "exactly one of name, type or function"),
        ('sources = [{kind = "time", nam = "x"}]', "sources[0]", "unknown key(s) nam"),
        ('sinks = [{function = "c.get", key-arg = "0"}]', "sinks[0].key-arg", "non-negative integer"),
        ('sinks = [{function = "c.get", key-kwarg = "not a name"}]', "sinks[0].key-kwarg", "parameter name"),
        ('sinks = [{key-arg = 0}]', "sinks[0].function", "non-empty string"),
        ('sinks = [{function = "c.get", persistent = "yes"}]', "sinks[0].persistent", "true or false"),
        ("sanitizers = [1]", "sanitizers", "array of strings"),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, body: str, key: str, expected: str) -> None:
    config = write(tmp_path / "pyproject.toml", f"[tool.keylint]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert str(config) in message and f"`{key}`" in message and expected in message, message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    config = write(tmp_path / "keylint.toml", "select = [\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(config)
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "missing.toml")


def test_code_validation_and_overrides() -> None:
    assert validate_codes(["kl1", "ALL", "KL001"], "x", "select") == ("KL1", "KL", "KL001")
    with pytest.raises(ConfigError, match="--select"):
        with_overrides(Settings(), select=["NOPE"])
    s = with_overrides(Settings(select=("KL1",), ignore=("KL102",), extend_select=("KL2",)),
                       select=["KL201"], ignore=["KL101"], extend_select=["KL3"])  # fmt: skip
    assert s.select == ("KL201",) and s.extend_select == ("KL3",) and s.ignore == ("KL102", "KL101")
    assert s.is_enabled("KL201") and not s.is_enabled("KL101")


def test_per_file_ignores_are_anchored_at_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "pyproject.toml",
                   '[tool.keylint.per-file-ignores]\n"tests/*.py" = ["KL101"]\n"__init__.py" = ["KL2"]\n')  # fmt: skip
    s = load_settings(config)
    monkeypatch.chdir(tmp_path)
    assert not s.is_enabled("KL101", str(tmp_path / "tests" / "a.py"))
    assert not s.is_enabled("KL101", os.path.join("tests", "a.py"))  # relative to cwd == root
    assert s.is_enabled("KL101", str(tmp_path / "src" / "tests" / "a.py"))  # anchored: not any tests/
    assert s.is_enabled("KL101", str(tmp_path / "tests" / "deep" / "a.py"))  # `*` stays in one folder
    assert not s.is_enabled("KL201", str(tmp_path / "pkg" / "sub" / "__init__.py"))  # names match at any depth
    assert s.is_enabled("KL001", str(tmp_path / "tests" / "a.py"))
