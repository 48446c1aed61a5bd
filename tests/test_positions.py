"""`engine.node_positions` places nodes exactly where libcst's PositionProvider does, although it
generates the statements before the first wanted one without position tracking and stops early."""

from __future__ import annotations

import random

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from keylint.engine import SourceMismatch, node_positions

SOURCES = {
    "plain": "import time\n_seen = {}\n\n\ndef mark(x):\n    _seen[str(time.time())] = x\n",
    "header comments": "#!/usr/bin/env python\n# a licence\n\n'''doc'''\nx = 1; y = (2,\n    3)\nclass A:\n    @staticmethod\n    def f(): return {x: y}\n",
    "no trailing newline": "a = 1\nif a:\n    b = [a,\n         a]\nc = b",
    "crlf": "a = 1\r\n\r\ndef f(k):\r\n    return {k: a}\r\n# end\r\n",
    "decorators and footer": "import functools\n\n\n@functools.lru_cache()\n# between\n@other\ndef g(y):\n    return y\n\n# trailing comment\n",
    "tabs and unicode": "def f():\n\tx = 'é€'\n\treturn {x: 'ü'}\n",
}


def _all_nodes(module: cst.Module) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            found.append(node)
            return True

    module.visit(Collect())
    return found


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_node_alone_and_in_random_groups_is_placed_as_libcst_places_it(name: str) -> None:
    text = SOURCES[name]
    module = cst.parse_module(text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = _all_nodes(module)
    for node in nodes:
        assert node_positions(module, [node], text) == {node: expected[node]}, (type(node).__name__, expected[node])
    rnd = random.Random(7)
    for _ in range(60):
        group = rnd.sample(nodes, rnd.randint(2, 4))
        assert node_positions(module, group, text) == {n: expected[n] for n in group}


def test_a_mismatch_is_still_found_after_the_untracked_statements() -> None:
    text = "a = 1\nb = 2\nc = {a: b}\n"
    module = cst.parse_module(text)
    last = module.body[2]
    with pytest.raises(SourceMismatch) as raised:
        node_positions(module, [last], text.replace("c = {", "c= {"))
    assert raised.value.line == 3


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_finding_in_the_last_line_of_a_file_without_a_final_newline_is_placed(newline: str) -> None:
    from keylint.engine import check_source
    from keylint.settings import Settings

    text = newline.join(["import time", "_seen = {}", "def mark(x):", "    _seen[str(time.time())] = x"])
    found = check_source(text, "last_line.py", Settings())
    assert [(d.code, d.line, d.column) for d in found] == [("KL201", 4, 5)]
    # the text, word for word, with its last line broken: still a mismatch
    module = cst.parse_module(text)
    with pytest.raises(SourceMismatch):
        node_positions(module, [module.body[-1]], text.replace("_seen[str", "_seen [str"))
