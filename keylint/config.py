"""`[tool.keylint]` in `pyproject.toml` (or top-level keys in `keylint.toml`) to `Settings`.

Every problem is a `ConfigError` naming the file, the key and what was expected; the CLI turns
it into exit code 2. Relative globs (`exclude`, `per-file-ignores`) are anchored at the folder
holding the config file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from keylint.settings import Settings, SinkSpec, SourceSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

SOURCE_KINDS = ("context", "deadline", "time", "identity", "random")
CODE_PATTERN = re.compile(r"KL\d{0,3}\Z")
KNOWN_KEYS = (
    "select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude",
    "max-file-size", "max-depth", "sources", "sinks", "sanitizers",
)  # fmt: skip


class ConfigError(Exception):
    """A configuration problem the user must fix; the message says where and what was expected."""

    def __init__(self, where: str, key: str | None, problem: str) -> None:
        self.where, self.key, self.problem = where, key, problem
        location = f"{where}: `{key}`" if key else where
        super().__init__(f"{location}: {problem}")


# -- finding and reading ---------------------------------------------------------------------


def _declares_keylint(pyproject: Path) -> bool:
    try:
        raw = pyproject.read_bytes()
    except OSError:
        return False
    # Cheap screen first: an unrelated (even broken) pyproject.toml is never parsed.
    return b"keylint" in raw and "keylint" in _read_toml(pyproject).get("tool", {})


def find_config(start: str | os.PathLike[str]) -> Path | None:
    """The nearest `keylint.toml`, or `pyproject.toml` with a `[tool.keylint]` table, at or
    above `start` (a file or a folder)."""
    here = Path(os.path.abspath(start))
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "keylint.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _declares_keylint(candidate):
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, f"not UTF-8 text: {exc}") from None


def load_table(path: Path) -> dict[str, Any]:
    """The keylint table of `path`: `[tool.keylint]` of a pyproject.toml, else the whole file."""
    data = _read_toml(path)
    if path.name != "pyproject.toml":
        return data
    table = data.get("tool", {}).get("keylint", {})
    if not isinstance(table, dict):
        raise ConfigError(str(path), "tool.keylint", f"expected a table, got {_type_name(table)}")
    return table


# -- validation ------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "a table",
            float: "a float"}.get(type(value), type(value).__name__)  # fmt: skip


def _known_codes() -> frozenset[str] | None:
    """Every rule code the registry knows (None when the rule set cannot be loaded)."""
    try:
        from keylint.registry import all_rules

        return frozenset(all_rules()) | {"KL001"}
    except Exception:  # a broken rule module must not hide the config error being reported
        return None


def validate_codes(codes: Iterable[str], where: str, key: str) -> tuple[str, ...]:
    """Codes or code prefixes (`KL1`, `KL`); `ALL` means every rule."""
    result: list[str] = []
    known: frozenset[str] | None = None
    for raw in codes:
        if not isinstance(raw, str):
            raise ConfigError(where, key, f"expected rule codes as strings, got {_type_name(raw)}")
        code = raw.strip().upper()
        if code == "ALL":
            code = "KL"
        if not CODE_PATTERN.match(code):
            raise ConfigError(where, key, f"unknown rule code {raw!r} (expected a code like KL101 or a prefix like KL1)")
        # Family prefixes (KL, KL1 ... KL9) are always valid; longer codes must name known rules.
        if len(code) > 3:
            known = known if known is not None else _known_codes()
            if known is not None and not any(k.startswith(code) for k in known):
                what = "rule code" if len(code) == 5 else "rule prefix"
                raise ConfigError(where, key, f"unknown {what} {raw!r}; known codes: {', '.join(sorted(known))}")
        result.append(code)
    return tuple(result)


def _str_list(value: object, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, key, f"expected an array of strings, got {_type_name(value)}")
    return list(value)


def _positive_int(value: object, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(where, key, f"expected a positive integer, got {value!r}")
    return value


def _sources(value: object, where: str) -> tuple[SourceSpec, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, "sources", f"expected an array of tables, got {_type_name(value)}")
    specs = []
    for i, item in enumerate(value):
        key = f"sources[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(where, key, f"expected a table like {{kind = \"context\", name = \"req\"}}, got {_type_name(item)}")
        unknown = set(item) - {"kind", "name", "type", "function"}
        if unknown:
            raise ConfigError(where, key, f"unknown key(s) {', '.join(sorted(unknown))}; expected kind and one of name/type/function")
        kind = item.get("kind")
        if kind not in SOURCE_KINDS:
            raise ConfigError(where, f"{key}.kind", f"expected one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
        chosen = [k for k in ("name", "type", "function") if k in item]
        if len(chosen) != 1:
            raise ConfigError(where, key, "expected exactly one of name, type or function")
        text = item[chosen[0]]
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(where, f"{key}.{chosen[0]}", f"expected a non-empty string, got {text!r}")
        specs.append(SourceSpec(kind=kind, **{chosen[0]: text.strip()}))
    return tuple(specs)


def _sinks(value: object, where: str) -> tuple[SinkSpec, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, "sinks", f"expected an array of tables, got {_type_name(value)}")
    specs = []
    for i, item in enumerate(value):
        key = f"sinks[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(where, key, f"expected a table like {{function = \"mycache.get\", key-arg = 0}}, got {_type_name(item)}")
        unknown = set(item) - {"function", "key-arg", "key-kwarg", "persistent"}
        if unknown:
            raise ConfigError(where, key, f"unknown key(s) {', '.join(sorted(unknown))}; expected function, key-arg, key-kwarg, persistent")
        function = item.get("function")
        if not isinstance(function, str) or not function.strip():
            raise ConfigError(where, f"{key}.function", f"expected a non-empty string, got {function!r}")
        key_arg = item.get("key-arg")
        if key_arg is not None and (isinstance(key_arg, bool) or not isinstance(key_arg, int) or key_arg < 0):
            raise ConfigError(where, f"{key}.key-arg", f"expected a non-negative integer, got {key_arg!r}")
        key_kwarg = item.get("key-kwarg")
        if key_kwarg is not None and (not isinstance(key_kwarg, str) or not key_kwarg.isidentifier()):
            raise ConfigError(where, f"{key}.key-kwarg", f"expected a parameter name, got {key_kwarg!r}")
        persistent = item.get("persistent", False)
        if not isinstance(persistent, bool):
            raise ConfigError(where, f"{key}.persistent", f"expected true or false, got {persistent!r}")
        if key_arg is None and key_kwarg is None:
            key_arg = 0  # the key is the first argument unless told otherwise
        specs.append(SinkSpec(function=function.strip(), key_arg=key_arg, key_kwarg=key_kwarg, persistent=persistent))
    return tuple(specs)


def _per_file_ignores(value: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(where, "per-file-ignores", f"expected a table of glob = [codes], got {_type_name(value)}")
    result = []
    for glob, codes in value.items():
        key = f"per-file-ignores.{glob!r}"
        result.append((glob, validate_codes(_str_list(codes, where, key), where, key)))
    return tuple(result)


def settings_from_table(table: dict[str, Any], where: str, project_root: str) -> Settings:
    """Validate a keylint table and build Settings from it."""
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        hint = {k.replace("-", "_"): k for k in KNOWN_KEYS}
        first = unknown[0]
        did_you_mean = f" (did you mean `{hint[first]}`?)" if first in hint else ""
        raise ConfigError(where, first, f"unknown key{did_you_mean}; expected one of {', '.join(KNOWN_KEYS)}")
    fields: dict[str, Any] = {"config_path": where, "project_root": project_root}
    for key, attr in (("select", "select"), ("ignore", "ignore"), ("extend-select", "extend_select")):
        if key in table:
            fields[attr] = validate_codes(_str_list(table[key], where, key), where, key)
    for key, attr in (("exclude", "exclude"), ("extend-exclude", "extend_exclude"), ("sanitizers", "sanitizers")):
        if key in table:
            fields[attr] = tuple(_str_list(table[key], where, key))
    if "per-file-ignores" in table:
        fields["per_file_ignores"] = _per_file_ignores(table["per-file-ignores"], where)
    if "max-file-size" in table:
        fields["max_file_size"] = _positive_int(table["max-file-size"], where, "max-file-size")
    if "max-depth" in table:
        fields["max_depth"] = _positive_int(table["max-depth"], where, "max-depth")
    if "sources" in table:
        fields["sources"] = _sources(table["sources"], where)
    if "sinks" in table:
        fields["sinks"] = _sinks(table["sinks"], where)
    return Settings(**fields)


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Settings from one config file (pyproject.toml or keylint.toml)."""
    config = Path(os.path.abspath(path))
    if not config.is_file():
        raise ConfigError(str(path), None, "no such config file")
    return settings_from_table(load_table(config), str(config), str(config.parent))


def discover_settings(paths: Sequence[str], config: str | os.PathLike[str] | None = None) -> Settings:
    """Settings for a run over `paths`: `config` if given, else the nearest config above the
    paths' common folder, else defaults rooted at the current folder."""
    if config is not None:
        return load_settings(config)
    starts = [os.path.abspath(p) for p in paths if p != "-"] or [os.getcwd()]
    try:
        common = os.path.commonpath(starts)
    except ValueError:  # different drives on Windows
        common = starts[0]
    found = find_config(common)
    if found is None:
        return Settings(project_root=os.getcwd())
    return load_settings(found)


def with_overrides(
    settings: Settings,
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
    max_file_size: int | None = None,
) -> Settings:
    """Command-line selection on top of the config: `select` replaces the configured selection,
    `ignore` and `extend_select` add to it."""
    changes: dict[str, Any] = {}
    if select is not None:
        changes["select"] = validate_codes(select, "command line", "--select")
        changes["extend_select"] = ()
    if extend_select:
        base = changes.get("extend_select", settings.extend_select)
        changes["extend_select"] = base + validate_codes(extend_select, "command line", "--extend-select")
    if ignore:
        changes["ignore"] = settings.ignore + validate_codes(ignore, "command line", "--ignore")
    if max_file_size is not None:
        changes["max_file_size"] = _positive_int(max_file_size, "command line", "--max-file-size")
    return replace(settings, **changes) if changes else settings


def split_codes(values: Iterable[str]) -> list[str]:
    """`--select KL1,KL2 --select KL3` → [KL1, KL2, KL3]."""
    return [c for v in values for c in v.split(",") if c.strip()]
