"""Small path predicates the rules share (a path is root-first, as `iter_paths` yields it)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from keylint.keyflow.model import Flow, Step

_PLAIN = (Flow.VALUE, Flow.PART, Flow.ELEMENT)


def text_taken(path: Sequence[Step]) -> bool:
    """True when the key holds the *text* of the path's last value: some step on the path is taken
    as text (str/repr/format, f-string, `%`, `.format`) and from there down to the last step the value
    only flows as itself or as a piece of a collection (not through calls or attribute reads)."""
    for step in reversed(path[1:]):
        if step.flow is Flow.TEXT:
            return True
        if step.flow not in _PLAIN:
            return False
    return False


def plain_flow(path: Sequence[Step]) -> bool:
    """True when every step reaches its parent as the same value or a piece of it."""
    return all(step.flow in _PLAIN or step.flow is Flow.TEXT for step in path[1:])


def identifier(step: Step) -> str | None:
    """The name a name/param/attr step reads, e.g. `ctx`, `deadline` (for `self._deadline` the attr)."""
    if step.op in ("name", "param", "attr", "self") and step.callee:
        return step.callee
    return None


def only_literals(step: Step, depth: int = 0) -> bool:
    """Every leaf below is a literal (the value is a constant, however it was assembled)."""
    if depth > 20:
        return False
    if not step.children:
        return step.op == "literal"
    return all(only_literals(child, depth + 1) for child in step.children)


def has_value_children(step: Step) -> bool:
    return any(child.flow is Flow.VALUE for child in step.children)


def call_args(node: cst.CSTNode) -> list[cst.Arg]:
    return list(node.args) if isinstance(node, cst.Call) else []
