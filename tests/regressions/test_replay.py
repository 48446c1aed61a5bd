"""Replays every input the fuzzers ever caught (`*.py.bin`, named by content hash; bench/fuzz.py
adds new ones): each must now hold every property in fuzz_properties.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_properties import regression_inputs, violations

INPUTS = list(regression_inputs())


def test_there_are_saved_inputs() -> None:
    assert INPUTS, "tests/regressions/ lost its saved inputs"


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_saved_input_holds_every_property(path: Path) -> None:
    assert violations(path.read_bytes()) == []
