"""Property-based fuzzing of the engine and the fixer (bounded; bench/fuzz.py runs the same for
longer). Inputs: programs generated from Python's grammar and from libcst's node types
(hypothesmith), and byte-level mutations of real files and of every rule's examples. The
properties are in fuzz_properties.py: never raises, every range inside the file, the `ast`
screen hides nothing, fixed text re-parses and a second fix changes nothing."""

from __future__ import annotations

import random

import hypothesmith
import pytest
from fuzz_properties import mutate, seed_corpus, small_slices, violations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BOUNDED = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)  # fmt: skip
SEEDS = seed_corpus()


def test_the_seed_corpus_holds_every_property() -> None:
    assert len(SEEDS) > 20
    failing = {index: problems for index, seed in enumerate(SEEDS) if (problems := violations(seed))}
    assert failing == {}


@BOUNDED
@given(hypothesmith.from_grammar())
def test_programs_from_the_grammar(source: str) -> None:
    assert violations(source) == []


@settings(BOUNDED, max_examples=12)  # slow to generate: each program is built and compiled
@given(hypothesmith.from_node())
def test_programs_from_libcst_nodes(source: str) -> None:
    assert violations(source) == []


@settings(BOUNDED, max_examples=150)
@given(st.sampled_from(range(len(SEEDS))), st.integers(0, 2**32 - 1))
def test_byte_mutations_of_real_files(index: int, seed: int) -> None:
    rng = random.Random(seed)
    data = mutate(small_slices(SEEDS[index], rng), rng)
    assert violations(data) == [], data


@pytest.mark.parametrize(
    "source",
    [
        b"\xef\xbb\xbfx = 1\r\n",  # BOM and CRLF
        b"# -*- coding: latin-1 -*-\nname = '\xe9'\n",
        b"name = '\xe9'\n",  # Latin-1 bytes without a cookie: KL001, never a crash
        b"x = (\n",  # error at the end of the file
        b"a = 1\n\\\nb = {}\nb[str(ctx)] = 1\n",  # a backslash-only line libcst drops
        b"# keylint: ignore\rx = 1\r",  # lone-CR line endings
        b"x = 1\x0cy = 2\n",  # form feed: not a line break for Python
    ],
)
def test_edge_inputs(source: bytes) -> None:
    assert violations(source) == []
