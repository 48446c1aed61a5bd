"""Dotted names, import resolution and annotation reading for libcst expressions."""

from __future__ import annotations

import libcst as cst

from keylint.keyflow.model import Scope


def dotted(expr: cst.CSTNode) -> str | None:
    """`a.b.c` for Name/Attribute chains, else None."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


def lookup_scope_chain(scope: Scope, name: str) -> Scope | None:
    """The scope whose bindings define `name` as Python would see it from `scope` (class bodies are
    skipped for enclosed functions), honouring `global`; None for builtins/unknown names."""
    current: Scope | None = scope
    first = True
    while current is not None:
        if name in current.globals_:
            current = module_of(current)
            return current if name in current.bindings else None
        if (first or current.kind != "class") and name in current.bindings:
            return current
        first = False
        current = current.parent
    return None


def module_of(scope: Scope) -> Scope:
    while scope.parent is not None:
        scope = scope.parent
    return scope


def qualify(name: str | None, scope: Scope) -> str | None:
    """Resolve the first component of a dotted name through imports (`dt.now` -> `datetime.datetime.now`
    after `from datetime import datetime as dt`). Names defined in the module stay as they are."""
    if not name:
        return None
    head, dot, rest = name.partition(".")
    owner = lookup_scope_chain(scope, head)
    if owner is None:
        return name
    for binding in owner.bindings[head]:
        if binding.kind == "import" and binding.qualname:
            return binding.qualname + dot + rest
    return name


def qualified(expr: cst.CSTNode, scope: Scope) -> str | None:
    return qualify(dotted(expr), scope)


def annotation_name(expr: cst.CSTNode | None, scope: Scope) -> str | None:
    """The class an annotation names: `Optional[X]`, `X | None`, `Annotated[X, ...]`, `"X"` give X."""
    for _ in range(8):
        if expr is None:
            return None
        if isinstance(expr, cst.Annotation):
            expr = expr.annotation
            continue
        if isinstance(expr, cst.SimpleString):
            text = expr.evaluated_value
            if not isinstance(text, str):
                return None
            try:
                expr = cst.parse_expression(text)
            except Exception:  # noqa: BLE001 - a string annotation that is not an expression
                return None
            continue
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            left, right = expr.left, expr.right
            expr = right if isinstance(left, cst.Name) and left.value == "None" else left
            continue
        if isinstance(expr, cst.Subscript):
            base = qualified(expr.value, scope) or ""
            if base.rsplit(".", 1)[-1] in ("Optional", "Annotated", "Final", "ClassVar") and expr.slice:
                first = expr.slice[0].slice
                if isinstance(first, cst.Index):
                    expr = first.value
                    continue
            if base.rsplit(".", 1)[-1] == "Union" and expr.slice:
                for element in expr.slice:
                    item = element.slice
                    if isinstance(item, cst.Index) and not (isinstance(item.value, cst.Name) and item.value.value == "None"):
                        expr = item.value
                        break
                else:
                    return None
                continue
            return base or None
        return qualified(expr, scope)
    return None


def source_text(node: cst.CSTNode, limit: int = 60) -> str:
    """Short source text of a node for messages."""
    try:
        text = cst.Module(body=[]).code_for_node(node)
    except Exception:  # noqa: BLE001 - a detached node libcst cannot print
        return type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
