"""All rules: every module in `keylint.rules` is imported once and its `Rule` subclasses collected."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from keylint.rule import Rule


@lru_cache(maxsize=1)
def _load() -> tuple[tuple[str, type[Rule]], ...]:
    package = importlib.import_module("keylint.rules")  # `rules/` installed under keylint's namespace
    found: dict[str, type[Rule]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"keylint.rules.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and value.code \
                    and value.__module__ == module.__name__:
                if value.code in found and found[value.code] is not value:
                    raise RuntimeError(f"two rules claim {value.code}: {found[value.code].__name__}, {value.__name__}")
                found[value.code] = value
    return tuple(sorted(found.items()))


def all_rules() -> dict[str, type[Rule]]:
    """Rule code -> rule class, sorted by code."""
    return dict(_load())


def get_rule(code: str) -> type[Rule] | None:
    return dict(_load()).get(code.upper())
