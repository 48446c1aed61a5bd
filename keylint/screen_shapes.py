"""The screen's KL801 question on `ast`: could one mapping be written under a key of one shape and read
or deleted under a key of another (KL801's `shape_of` and `mismatch`, computed as *sets* of possible
shapes, since the screen does not know which binding of a name reaches a key)?

A shape is a tuple (kind, name, parts) as in KL801: "leaf" (a parameter / attribute / name), "lit",
"text" (a template and its parts), "tuple", "norm" (a normaliser call) or "opaque". `None` stands for
"any shape": too complex, or text the `ast` cannot reproduce exactly (f-strings with escapes).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from itertools import product

Shape = tuple[str, str, tuple["Shape", ...]]
Shapes = frozenset[Shape] | None  # None: any shape at all

OPAQUE: Shape = ("opaque", "", ())
FANOUT = 8  # keyflow follows at most this many items of a collection / format
MAX_SHAPES = 64
_PERCENT = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
_BRACES = re.compile(r"\{[^{}]*\}")
_METHOD_NORMALISERS = frozenset("lower upper casefold strip lstrip rstrip title capitalize".split())
_CALL_NORMALISERS = frozenset(
    """os.path.normcase os.path.normpath os.path.abspath os.path.realpath unicodedata.normalize posixpath.normpath
    ntpath.normcase ntpath.normpath""".split()
)
_FORMATTERS = frozenset({"str", "repr", "format", "ascii"})


def leaves(shape: Shape) -> frozenset[str]:
    if shape[0] == "leaf":
        return frozenset({shape[1]})
    found: frozenset[str] = frozenset()
    for part in shape[2]:
        found |= leaves(part)
    return found


def _leaf_names(shape: Shape) -> list[str]:
    if shape[0] == "leaf":
        return [shape[1]]
    return [name for part in shape[2] for name in _leaf_names(part)]


def mismatch(write: Shape, read: Shape) -> bool:
    """KL801's `mismatch(write, read) is not None`."""
    for a, b in ((write, read), (read, write)):
        if b[0] == "leaf" and a[0] in ("text", "tuple") and b[1] in leaves(a):
            return True
        if b[0] == "leaf" and a[0] == "norm" and leaves(a) == {b[1]}:
            return True
    if write[0] == "norm" and read[0] == "norm" and leaves(write) == leaves(read) and write[1] != read[1]:
        return True
    if {write[0], read[0]} == {"tuple", "text"} and leaves(write) & leaves(read):
        return True
    return (write[0] == read[0] and write[0] in ("text", "tuple") and write != read
            and sorted(_leaf_names(write)) == sorted(_leaf_names(read)) and bool(leaves(write)))


def _text(template: str, parts: tuple[Shape, ...]) -> Shape:
    if template == "{}" and len(parts) == 1:
        return parts[0]
    if any(p[0] == "opaque" for p in parts):
        return OPAQUE
    return ("text", template, parts)


def _flatten_concat(parts: Iterable[Shape]) -> Shape:
    template = ""
    found: list[Shape] = []
    for part in parts:
        if part[0] == "lit":
            template += part[1]
        elif part[0] == "text":
            template += part[1]
            found.extend(part[2])
        elif part[0] == "opaque":
            return OPAQUE
        else:
            template += "{}"
            found.append(part)
    return _text(template, tuple(found))


class ShapeFinder:
    """Possible shapes of key expressions in one module. `values`: every expression bound to a name
    (assignments, loop targets, call-site arguments for parameters); `returns`: returned expressions
    per function name; `aliases`: import-bound names."""

    def __init__(self, text: str, values: dict[str, list[ast.expr]], returns: dict[str, list[ast.expr]],
                 functions: set[str], aliases: dict[str, set[str]]) -> None:
        self.text = text
        self.values = values
        self.returns = returns
        self.functions = functions
        self.aliases = aliases
        self._memo: dict[int, Shapes] = {}
        self._names: dict[str, Shapes] = {}
        self._active: set[str] = set()

    def shapes(self, expr: ast.expr, seen: frozenset[str] = frozenset(), depth: int = 0) -> Shapes:
        if depth > 24:
            return None
        key = id(expr)
        if key not in self._memo:
            self._memo[key] = self._shapes(expr, seen, depth)
        return self._memo[key]

    def _shapes(self, expr: ast.expr, seen: frozenset[str], depth: int) -> Shapes:
        d = depth + 1
        if isinstance(expr, ast.Name):
            if expr.id in ("None", "True", "False"):
                return frozenset({("lit", expr.id, ())})
            return self._name(expr.id, d)
        if type(expr).__name__ == "_Element":
            return self.shapes(expr.value, seen, d)  # type: ignore[attr-defined]
        if isinstance(expr, ast.Attribute):
            return frozenset({("leaf", expr.attr, ()), OPAQUE})
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):  # "a" "b" is one Constant in `ast`, a concatenation in libcst
                return frozenset({("lit", expr.value, ()), ("text", expr.value, ())})
            if isinstance(expr.value, bytes):
                return frozenset({("lit", repr(expr.value), ())})
            segment = ast.get_source_segment(self.text, expr)
            return frozenset({("lit", segment, ())}) if segment is not None else None
        if isinstance(expr, ast.JoinedStr):
            return self._fstring(expr, seen, d)
        if isinstance(expr, ast.Tuple):
            if len(expr.elts) > FANOUT:
                return None
            return self._combine([self.shapes(e, seen, d) for e in expr.elts], lambda parts: ("tuple", "", parts))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
            return self._percent(expr, seen, d)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            def concat(parts: tuple[Shape, ...]) -> Shape:
                return _flatten_concat(parts) if any(p[0] in ("lit", "text") for p in parts) else OPAQUE
            return self._combine([self.shapes(expr.left, seen, d), self.shapes(expr.right, seen, d)], concat)
        if isinstance(expr, ast.Call):
            return self._call(expr, seen, d)
        return frozenset({OPAQUE})

    def _name(self, name: str, depth: int) -> Shapes:
        """Shapes of a name: itself (a leaf), opaque, or the shape of any value bound to it. Worked out
        once per name; a name met again while its own shapes are being worked out counts as a leaf."""
        if name in self._names:
            return self._names[name]
        if name in self._active:
            return frozenset({("leaf", name, ()), OPAQUE})
        self._active.add(name)
        found: set[Shape] | None = {("leaf", name, ()), OPAQUE}
        bound = self.returns.get(name[2:], ()) if name.startswith("()") else self.values.get(name, ())
        for value in bound:
            more = self.shapes(value, frozenset(), depth)
            if more is None:
                found = None
                break
            found |= more  # type: ignore[operator]
        self._active.discard(name)
        result = None if found is None else _capped(found)
        self._names[name] = result
        return result

    def _combine(self, parts: list[Shapes], build: object) -> Shapes:
        if any(p is None for p in parts):
            return None
        combos = 1
        for p in parts:
            combos *= len(p)  # type: ignore[arg-type]
        if combos > MAX_SHAPES:
            return None
        return frozenset(build(tuple(c)) for c in product(*parts))  # type: ignore[arg-type, operator]

    def _fstring(self, expr: ast.JoinedStr, seen: frozenset[str], d: int) -> Shapes:
        source = ast.get_source_segment(self.text, expr)
        if source is None or "\\" in source or "{{" in source or "}}" in source:
            return None  # libcst keeps the raw text of the literal parts: not reproducible here
        template = ""
        parts: list[Shapes] = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                template += value.value
            elif isinstance(value, ast.FormattedValue):
                template += "{}"
                parts.append(self.shapes(value.value, seen, d))
            else:
                return None
        return self._combine(parts, lambda found: _text(template, found))

    def _percent(self, expr: ast.BinOp, seen: frozenset[str], d: int) -> Shapes:
        left = expr.left
        if isinstance(left, ast.JoinedStr):
            return frozenset({OPAQUE})
        if not (isinstance(left, ast.Constant) and isinstance(left.value, (str, bytes))):
            return frozenset({OPAQUE})  # a `%` between non-strings: arithmetic
        if not isinstance(left.value, str):
            return frozenset({OPAQUE})
        right = expr.right
        items = list(right.elts) if isinstance(right, ast.Tuple) else [v for v in right.values] if isinstance(right, ast.Dict) else [right]
        if len(items) > FANOUT:
            return None
        template = _PERCENT.sub(lambda m: "%" if m.group() == "%%" else "{}", left.value)
        return self._combine([self.shapes(i, seen, d) for i in items], lambda found: _text(template, found))

    def _call(self, call: ast.Call, seen: frozenset[str], d: int) -> Shapes:
        func = call.func
        args = [a for a in call.args if not isinstance(a, ast.Starred)]
        found: set[Shape] = {OPAQUE}
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name is not None and name in self.functions:  # a module helper: the shapes of its returns
            returned = self._name("()" + name, d)
            if returned is None:
                return None
            found |= returned - {("leaf", "()" + name, ())}
        if isinstance(func, ast.Name) and func.id in _FORMATTERS and call.args:
            if args and args[0] is call.args[0]:
                more = self.shapes(args[0], seen, d)
                return None if more is None else _capped(found | more)
            return _capped(found)
        if isinstance(func, ast.Name) and func.id == "map" and len(args) == 2 and _dotted(args[0]) in ("str", "repr"):
            more = self.shapes(args[1], seen, d)
            return None if more is None else _capped(found | more)
        if not isinstance(func, ast.Attribute):
            return _capped(found | self._normalised(call, seen, d))
        imported = (_dotted(func) or "").split(".", 1)[0] in self.aliases
        if imported:
            return _capped(found | self._normalised(call, seen, d))
        receiver = func.value
        if func.attr == "format":
            if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
                return _capped(found)
            items = [*(a.value if isinstance(a, ast.Starred) else a for a in call.args), *(k.value for k in call.keywords)]
            if len(items) > FANOUT:
                return None
            template = _BRACES.sub("{}", receiver.value)
            more = self._combine([self.shapes(i, seen, d) for i in items], lambda parts: _text(template, parts))
            return None if more is None else _capped(found | more)
        if func.attr == "join" and args:
            items = args[0]
            if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)) \
                    or not isinstance(items, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                return _capped(found)
            elements = list(items.keys) + list(items.values) if isinstance(items, ast.Dict) else list(items.elts)
            if len(elements) > FANOUT or any(e is None for e in elements):
                return None
            separator = receiver.value
            more = self._combine([self.shapes(e, seen, d) for e in elements if e is not None],
                                 lambda parts: _text(separator.join("{}" for _ in parts), parts))
            return None if more is None else _capped(found | more)
        if func.attr in _METHOD_NORMALISERS:
            inner = self.shapes(receiver, seen, d)
            if inner is None:
                return None
            return _capped(found | {("norm", "." + func.attr, (i,)) for i in inner})
        return _capped(found)

    def _normalised(self, call: ast.Call, seen: frozenset[str], d: int) -> set[Shape]:
        dotted = _dotted(call.func)
        if dotted is None:
            return set()
        head, dot, rest = dotted.partition(".")
        quals = {dotted} | {q + dot + rest for q in self.aliases.get(head, ())}
        hits = quals & _CALL_NORMALISERS
        if not hits or not call.args:
            return set()
        found: set[Shape] = set()
        for qual in hits:
            index = 1 if qual == "unicodedata.normalize" and len(call.args) > 1 else 0
            inner = self.shapes(call.args[index], seen, d)
            if inner is None:
                return {("any", "", ())}
            found |= {("norm", qual, (i,)) for i in inner}
        return found


def _capped(found: set[Shape]) -> Shapes:
    if ("any", "", ()) in found or len(found) > MAX_SHAPES:
        return None
    return frozenset(found)


def _dotted(expr: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def could_mismatch(finder: ShapeFinder, writes: list[ast.expr], reads: list[ast.expr]) -> bool:
    """Some structured write shape and some readable read shape that KL801 would call a mismatch."""
    write_shapes: set[Shape] = set()
    for write in writes:
        found = finder.shapes(write)
        if found is None:
            return True
        write_shapes |= {s for s in found if s[0] in ("text", "tuple", "norm")}
    if not write_shapes:
        return False
    for read in reads:
        found = finder.shapes(read)
        if found is None:
            return True
        for shape in found:
            if shape[0] != "opaque" and any(mismatch(w, shape) for w in write_shapes):
                return True
    return False
