"""PLACEHOLDER until the key-flow engine lands (issue 2). Contract:

check_source(source, path, settings) -> list[Diagnostic], sorted by position, suppressions applied,
KL001 for undecodable/unparsable/oversized input; never raises for bad input.
"""

from __future__ import annotations

from keylint.diagnostics import Diagnostic
from keylint.settings import Settings


def check_source(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
    raise NotImplementedError("engine not built yet")
