"""Where names and attributes occur in a module, with their parents: for rules that must know whether a
value escapes a function (KL601) or whether a mapping is written in ways no sink shows (KL601, KL801).

Additive helper (not part of `ModuleAnalysis`): `use_index(analysis)` builds a parent map once per
analysis, lazily, only when a rule asks.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from keylint.keyflow.analysis import ModuleAnalysis

# Calls that only read a container: passing a mapping to them cannot add keys to it.
READ_ONLY_CALLS = frozenset({"len", "list", "tuple", "sorted", "iter", "bool", "repr", "str", "set", "frozenset", "dict",
                             "any", "all", "sum", "min", "max", "enumerate", "reversed", "print", "id", "isinstance"})
READ_ONLY_METHODS = frozenset({"get", "keys", "values", "items", "copy", "__contains__", "__len__", "__iter__", "__getitem__"})
EMPTY_CONTAINERS = frozenset({"dict", "set", "list", "collections.OrderedDict", "collections.defaultdict", "OrderedDict",
                              "defaultdict", "weakref.WeakValueDictionary", "weakref.WeakKeyDictionary", "WeakValueDictionary",
                              "WeakKeyDictionary", "weakref.WeakSet", "WeakSet", "collections.Counter", "Counter"})


@dataclass
class UseIndex:
    parent: dict[int, cst.CSTNode] = field(default_factory=dict)
    names: dict[str, list[cst.Name]] = field(default_factory=dict)  # every Name node but attribute/keyword names
    attrs: dict[str, list[cst.Attribute]] = field(default_factory=dict)  # every `x.attr` by attr

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent.get(id(node))
        while current is not None:
            yield current
            current = self.parent.get(id(current))

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for up in self.ancestors(node):
            if isinstance(up, cst.FunctionDef):
                return up
        return None

    def is_store(self, node: cst.CSTNode) -> bool:
        """The node is a target: assigned, augmented, deleted, a loop or `with` target."""
        up = self.parent.get(id(node))
        child: cst.CSTNode = node
        while isinstance(up, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
            child, up = up, self.parent.get(id(up))
        if isinstance(up, (cst.AssignTarget, cst.Del)):
            return True
        if isinstance(up, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr)) and up.target is child:
            return True
        if isinstance(up, (cst.For, cst.CompFor)) and up.target is child:
            return True
        return isinstance(up, cst.AsName)


def _index(module: cst.Module, index: UseIndex) -> None:
    """One pre-order pass over the expression fields (keyflow's field walk: libcst's own `visit`
    rebuilds every node even for a read-only visitor, several times the cost of this)."""
    from keylint.keyflow.collect import _child_fields

    fields: dict[type, tuple[str, ...]] = {}
    parent, names, attrs = index.parent, index.names, index.attrs
    base = cst.CSTNode
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(module, None)]
    while stack:
        node, up = stack.pop()
        if up is not None:
            parent[id(node)] = up
        if isinstance(node, cst.Attribute):
            attrs.setdefault(node.attr.value, []).append(node)
        elif isinstance(node, cst.Name) and not _is_label(node, up):
            names.setdefault(node.value, []).append(node)
        node_type = type(node)
        order = fields.get(node_type)
        if order is None:
            order = fields[node_type] = _child_fields(node_type)
        children: list[cst.CSTNode] = []
        for name in order:
            value = getattr(node, name)
            if isinstance(value, base):
                children.append(value)
            elif type(value) in (list, tuple):
                children.extend(item for item in value if isinstance(item, base))
        stack.extend((child, node) for child in reversed(children))


def _is_label(node: cst.Name, up: cst.CSTNode | None) -> bool:
    """A Name that is not a variable reference: an attribute's name, a keyword, a def/class/param name."""
    if isinstance(up, cst.Attribute):
        return up.attr is node
    if isinstance(up, cst.Arg):
        return up.keyword is node
    return isinstance(up, (cst.Param, cst.FunctionDef, cst.ClassDef, cst.ImportAlias))


_INDEXES: weakref.WeakKeyDictionary[ModuleAnalysis, UseIndex] = weakref.WeakKeyDictionary()


def use_index(analysis: ModuleAnalysis) -> UseIndex:
    found = _INDEXES.get(analysis)
    if found is None:
        found = UseIndex()
        _index(analysis.module, found)
        _INDEXES[analysis] = found
    return found


def container_occurrences(analysis: ModuleAnalysis, mapping_id: str) -> list[cst.CSTNode]:
    """Every expression in the module that names the mapping `global:NAME` or `attr:Class.name`."""
    index = use_index(analysis)
    kind, _, rest = mapping_id.partition(":")
    if kind == "global":
        occurrences = index.names.get(rest, [])
        local_in = {id(fn) for fn in _local_binders(occurrences, rest, index)}
        return [name for name in occurrences if id(index.enclosing_function(name)) not in local_in]
    if kind == "attr":
        cls_name, _, attr = rest.partition(".")
        cls = analysis.classes.get(cls_name)
        if cls is None:
            return []
        return [node for node in index.attrs.get(attr, []) if _inside(index, node, cls.node)]
    return []


def _inside(index: UseIndex, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    return any(up is outer for up in index.ancestors(node))


def _local_binders(occurrences: list[cst.Name], name: str, index: UseIndex) -> list[cst.FunctionDef]:
    """Functions that assign `name` without declaring it `global`: their `name` is a local."""
    found: dict[int, cst.FunctionDef] = {}
    for node in occurrences:
        if index.is_store(node):
            fn = index.enclosing_function(node)
            if fn is not None:
                found[id(fn)] = fn
    return [fn for fn in found.values() if not _declares_global(fn, name)]


def _declares_global(fn: cst.FunctionDef, name: str) -> bool:
    body = fn.body.body if isinstance(fn.body, cst.IndentedBlock) else ()
    return any(
        isinstance(stmt, cst.SimpleStatementLine)
        and any(isinstance(s, cst.Global) and any(n.name.value == name for n in s.names) for s in stmt.body)
        for stmt in body
    )


def unseen_changes(analysis: ModuleAnalysis, mapping_id: str, sink_mappings: set[int], *, inspections: bool = False) -> list[cst.CSTNode]:
    """Uses of a mapping that may add or remove keys no sink shows: anything but a key sink's container,
    an empty-container initialisation, or a read-only inspection (`len(m)`, `m.items()`; those count
    too with `inspections=True`, for rules that ask whether keys are reachable by iteration)."""
    index = use_index(analysis)
    found = []
    for node in container_occurrences(analysis, mapping_id):
        if id(node) in sink_mappings:
            continue
        up = index.parent.get(id(node))
        if isinstance(up, cst.AssignTarget) or (isinstance(up, cst.AnnAssign) and up.target is node):
            value = index.parent.get(id(up)) if isinstance(up, cst.AssignTarget) else up
            assigned = getattr(value, "value", None)
            if assigned is not None and _is_empty_container(assigned):
                continue
            found.append(node)
            continue
        if isinstance(up, cst.Attribute) and up.value is node:
            call = index.parent.get(id(up))
            if isinstance(call, cst.Call) and call.func is up and up.attr.value in READ_ONLY_METHODS and not (
                inspections and up.attr.value in ("keys", "values", "items", "copy", "__iter__")
            ):
                continue
            found.append(node)
            continue
        if isinstance(up, cst.Arg):
            call = index.parent.get(id(up))
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value in READ_ONLY_CALLS and not (
                inspections and call.func.value not in ("len", "bool", "id", "isinstance", "repr", "print")
            ):
                continue
        if isinstance(up, (cst.Comparison, cst.ComparisonTarget)):
            continue  # `x in m`, `m is None`: sinks or harmless tests
        if isinstance(up, cst.Subscript):
            continue  # a subscript on it is a sink, already shown
        if isinstance(up, (cst.If, cst.While, cst.UnaryOperation, cst.BooleanOperation)):
            continue  # truth tests
        if isinstance(up, (cst.For, cst.CompFor)) and up.iter is node and not inspections:
            continue  # iterated: reads keys, adds none
        found.append(node)
    return found


def _is_empty_container(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Dict, cst.Set, cst.List, cst.Tuple)):
        return not expr.elements
    if isinstance(expr, cst.Call):
        func = expr.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        short = {n.rsplit(".", 1)[-1] for n in EMPTY_CONTAINERS}
        return name in short and (not expr.args or name == "defaultdict")
    return False
