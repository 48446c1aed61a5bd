"""flake8 plugin (entry point `KL` in `flake8.extension`): keylint's findings as flake8 results.

flake8 then applies its own `--select`/`--ignore`/`--extend-ignore`, `per-file-ignores` and `# noqa`
to them. keylint's rule selection comes from the project's `[tool.keylint]` config (found from the
checked file, as `keylint check` finds it); `# keylint: ignore[...]` comments are honoured as well.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from keylint._version import __version__

if TYPE_CHECKING:
    from keylint.settings import Settings


@lru_cache(maxsize=64)
def _settings_for(folder: str) -> Settings:
    from keylint.config import discover_settings

    return discover_settings([folder])


class KeylintChecker:
    """flake8 calls `run()` once per file; the parameter names below are what flake8 passes."""

    name = "keylint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        self._filename = filename
        self._lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type[Any]]]:
        from keylint.engine import check_source

        stdin = self._filename in ("stdin", "-", "")
        folder = os.getcwd() if stdin else os.path.dirname(os.path.abspath(self._filename))
        settings = _settings_for(folder)
        for found in check_source("".join(self._lines), self._filename, settings):
            # flake8 wants the code first in the message, and 0-based columns.
            yield found.line, found.column - 1, f"{found.code} {found.message}", type(self)
