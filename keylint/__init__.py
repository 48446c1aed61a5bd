"""keylint: find cache and map keys whose text changes between the write and the delete.

The public names are imported lazily so that `keylint check one_file.py` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keylint._version import __version__

if TYPE_CHECKING:
    from keylint.api import check_paths, check_source
    from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position

__all__ = ["__version__", "check_source", "check_paths", "Diagnostic", "ChainStep", "Edit", "Fix", "Position"]


def __getattr__(name: str) -> Any:
    if name in ("check_source", "check_paths"):
        from keylint import api

        return getattr(api, name)
    if name in ("Diagnostic", "ChainStep", "Edit", "Fix", "Position"):
        from keylint import diagnostics

        return getattr(diagnostics, name)
    raise AttributeError(name)
