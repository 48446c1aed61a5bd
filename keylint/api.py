"""The library API: `keylint.check_source` and `keylint.check_paths`.

    >>> import keylint
    >>> keylint.check_source("streams[str(ctx)] = s\\n", "watch.py", select=["KL101"])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from keylint.config import discover_settings, load_settings, split_codes, validate_codes
from keylint.diagnostics import Diagnostic
from keylint.settings import Settings

ConfigArg = Settings | str | os.PathLike[str] | None
SelectArg = str | Sequence[str] | None


def _apply_select(settings: Settings, select: SelectArg) -> Settings:
    if select is None:
        return settings
    codes = split_codes([select] if isinstance(select, str) else list(select))
    return replace(settings, select=validate_codes(codes, "select=", "select"), extend_select=())


def _settings(config: ConfigArg, select: SelectArg, paths: Sequence[str] | None) -> Settings:
    if isinstance(config, Settings):
        settings = config
    elif config is not None:
        settings = load_settings(config)
    elif paths is not None:
        settings = discover_settings(paths)
    else:
        settings = Settings()
    return _apply_select(settings, select)


def check_source(
    source: str | bytes, path: str = "<string>", *, select: SelectArg = None, config: ConfigArg = None
) -> list[Diagnostic]:
    """Findings for one module's text. Default settings unless `config` (Settings or the path of
    a pyproject.toml/keylint.toml) is given; `select` replaces the selection (codes or prefixes).
    Raises `keylint.config.ConfigError` for a bad config, never for bad source."""
    from keylint import engine

    return engine.check_source(source, path, _settings(config, select, None))


def check_paths(
    paths: Iterable[str | os.PathLike[str]], *, select: SelectArg = None, config: ConfigArg = None,
    force_exclude: bool = False,
) -> Iterator[Diagnostic]:
    """Findings for files and folders, in path order; the config is discovered as the CLI does."""
    from keylint import runner

    names = [os.fspath(p) for p in paths]
    settings = _settings(config, select, names)
    return runner.check_paths(names, settings, force_exclude=force_exclude)
