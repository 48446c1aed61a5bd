"""The screen's KL801 question on `ast`: could one mapping be written under a key of one shape and read
or deleted under a key of another (KL801's `shape_of` and `mismatch`, computed as *sets* of possible
shapes, since the screen does not know which binding of a name reaches a key)?

A shape is a tuple (kind, name, parts) as in KL801: "leaf" (a parameter / attribute / name), "lit",
"text" (a template and its parts), "tuple", "norm" (a normaliser call) or "opaque". `None` stands for
"any shape": too complex, or text the `ast` cannot reproduce exactly (f-strings with escapes).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable
from itertools import product

from keylint.screen_tables import dotted as _dotted

_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")

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


Env = dict[str, Shapes]


class Segments:
    """The source text of `ast` nodes, the module split into lines once (`ast.get_source_segment`
    splits it on every call, a character at a time)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        """The module's lines, breaks kept, as `ast` counts them (its `_splitlines_no_ff`: \r\n, \r, \n)."""
        if self._lines is None:
            self._lines = _LINES.findall(self.text)
        return self._lines

    def segment(self, node: ast.expr) -> str | None:
        if getattr(node, "end_lineno", None) is None or getattr(node, "end_col_offset", None) is None:
            return ast.get_source_segment(self.text, node)
        lines = self.lines
        first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[operator]
        start, end = node.col_offset, node.end_col_offset
        if first == last:
            return lines[first].encode()[start:end].decode()
        return "".join([lines[first].encode()[start:].decode(), *lines[first + 1:last], lines[last].encode()[:end].decode()])


class ShapeFinder:
    """Possible shapes of key expressions in one module, resolving names by scope as keyflow does.

    `source`: the module's text; `scope_values[(scope, name)]`: expressions bound to a name in a scope (assignments, loop targets);
    `params[scope]`: a function's parameters in order; `self_params[scope]`: a method's `self`;
    `chain(scope)`: the scopes a name read there may come from; `global_names[scope]`: `global` names;
    `functions[name]`: scopes of the functions so named; `returns[scope]`: their returned expressions;
    `defaults[(scope, name)]`: default values; `aliases`: import-bound names."""

    def __init__(self, source: Segments, scope_values: dict[tuple[int, str], list[ast.expr]], params: dict[int, list[str]],
                 self_params: dict[int, str], chain: object, global_names: dict[int, set[str]],
                 functions: dict[str, list[int]], returns: dict[int, list[ast.expr]],
                 defaults: dict[tuple[int, str], tuple[ast.expr, int]], aliases: dict[str, set[str]]) -> None:
        self.source = source
        self.scope_values = scope_values
        self.params = params
        self.self_params = self_params
        self.chain = chain
        self.global_names = global_names
        self.functions = functions
        self.returns = returns
        self.defaults = defaults
        self.aliases = aliases
        self._memo: dict[tuple[int, int], Shapes] = {}
        self._names: dict[tuple[int, str], Shapes] = {}
        self._active: set[object] = set()

    def shapes(self, expr: ast.expr, scope: int, env: Env | None = None, depth: int = 0) -> Shapes:
        if depth > 24:
            return None
        if env is not None:
            return self._shapes(expr, scope, env, depth)
        key = (id(expr), scope)
        if key not in self._memo:
            self._memo[key] = self._shapes(expr, scope, None, depth)
        return self._memo[key]

    def _shapes(self, expr: ast.expr, scope: int, env: Env | None, depth: int) -> Shapes:
        d = depth + 1
        if isinstance(expr, ast.Name):
            if expr.id in ("None", "True", "False"):
                return frozenset({("lit", expr.id, ())})
            if env is not None and expr.id in env:
                bound = env[expr.id]
                return None if bound is None else frozenset(("leaf", expr.id, ()) if s == OPAQUE else s for s in bound)
            return self._name(expr.id, scope, d)
        if type(expr).__name__ == "_Element":
            return self.shapes(expr.value, scope, env, d)  # type: ignore[attr-defined]
        if isinstance(expr, ast.Attribute):
            return frozenset({("leaf", expr.attr, ()), OPAQUE})
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):  # "a" "b" is one Constant in `ast`, a concatenation in libcst
                segment = self.source.segment(expr)
                if segment is not None and one_string_token(segment):
                    return frozenset({("lit", expr.value, ())})
                return frozenset({("lit", expr.value, ()), ("text", expr.value, ())})
            if isinstance(expr.value, bytes):
                return frozenset({("lit", repr(expr.value), ())})
            segment = self.source.segment(expr)
            return frozenset({("lit", segment, ())}) if segment is not None else None
        if isinstance(expr, ast.JoinedStr):
            return self._fstring(expr, scope, env, d)
        if isinstance(expr, ast.Tuple):  # keyflow follows the first FANOUT items of a collection
            return self._combine([self.shapes(e, scope, env, d) for e in expr.elts[:FANOUT]], lambda parts: ("tuple", "", parts))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
            return self._percent(expr, scope, env, d)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            def concat(parts: tuple[Shape, ...]) -> Shape:
                return _flatten_concat(parts) if any(p[0] in ("lit", "text") for p in parts) else OPAQUE
            return self._combine([self.shapes(expr.left, scope, env, d), self.shapes(expr.right, scope, env, d)], concat)
        if isinstance(expr, ast.Call):
            return self._call(expr, scope, env, d)
        return frozenset({OPAQUE})

    def _owner(self, name: str, scope: int) -> int | None:
        if name in self.global_names.get(scope, ()):
            return 0
        for owner in self.chain(scope):  # type: ignore[operator]
            if (owner, name) in self.scope_values or name in self.params.get(owner, ()):
                return owner  # type: ignore[no-any-return]
        return None

    def _name(self, name: str, scope: int, depth: int) -> Shapes:
        """A name's shapes as keyflow's `shape_of` gives them: a parameter is a leaf; one binding gives
        its shape (a leaf when opaque); several give any of theirs, or opaque."""
        owner = self._owner(name, scope)
        if owner is None:
            return frozenset({("leaf", name, ()), OPAQUE})  # a builtin or an unknown name
        key = (owner, name)
        if key in self._names:
            return self._names[key]
        if key in self._active:
            return frozenset({("leaf", name, ()), OPAQUE})
        self._active.add(key)
        found: set[Shape] = {("leaf", name, ())}
        values = self.scope_values.get(key, [])
        result: Shapes
        shapes = [self.shapes(v, owner, None, depth) for v in values]
        if any(s is None for s in shapes):
            result = None
        else:
            for more in shapes:
                found |= {("leaf", name, ()) if s == OPAQUE else s for s in more}  # type: ignore[union-attr]
            if len(values) > 1 or name in self.params.get(owner, ()):
                found.add(OPAQUE)
            if self.self_params.get(owner) == name:
                found.add(OPAQUE)
            result = _capped(found)
        self._active.discard(key)
        self._names[key] = result
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

    def _fstring(self, expr: ast.JoinedStr, scope: int, env: Env | None, d: int) -> Shapes:
        source = self.source.segment(expr)
        if source is None or "\\" in source or "{{" in source or "}}" in source:
            return None  # libcst keeps the raw text of the literal parts: not reproducible here
        template = ""
        parts: list[Shapes] = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                template += value.value
            elif isinstance(value, ast.FormattedValue):
                template += "{}"
                parts.append(self.shapes(value.value, scope, env, d))
            else:
                return None
        return self._combine(parts, lambda found: _text(template, found))

    def _percent(self, expr: ast.BinOp, scope: int, env: Env | None, d: int) -> Shapes:
        left = expr.left
        if not (isinstance(left, ast.Constant) and isinstance(left.value, str)):
            return frozenset({OPAQUE})  # an f-string template, or arithmetic
        right = expr.right
        items = list(right.elts) if isinstance(right, ast.Tuple) else [v for v in right.values] if isinstance(right, ast.Dict) else [right]
        if len(items) > FANOUT:
            return None
        template = _PERCENT.sub(lambda m: "%" if m.group() == "%%" else "{}", left.value)
        return self._combine([self.shapes(i, scope, env, d) for i in items], lambda found: _text(template, found))

    def _helper(self, call: ast.Call, name: str, scope: int, env: Env | None, d: int) -> Shapes:
        """A call of a module function: the shapes of its returns, its parameters bound to this call's
        arguments (as keyflow binds them)."""
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        found: set[Shape] = {OPAQUE}
        for owner in self.functions.get(name, ()):
            if owner in self._active:
                continue  # recursion: keyflow stops there (opaque)
            params = list(self.params.get(owner, ()))
            if isinstance(call.func, ast.Attribute) and self.self_params.get(owner) and params:
                params = params[1:]  # `obj.method(...)`: self is the receiver
            inner: Env = {}
            for param, arg in zip(params, call.args):
                inner[param] = self.shapes(arg, scope, env, d)
            for keyword in call.keywords:
                if keyword.arg in params:
                    inner[keyword.arg] = self.shapes(keyword.value, scope, env, d)  # type: ignore[index]
            for param in params:
                if param not in inner:
                    default = self.defaults.get((owner, param))
                    extra = self.shapes(default[0], default[1], None, d) if default else frozenset()
                    inner[param] = None if extra is None else frozenset({OPAQUE}) | extra
            self._active.add(owner)
            try:
                for value in self.returns.get(owner, ()):
                    more = self.shapes(value, owner, inner, d)
                    if more is None:
                        return None
                    found |= more
            finally:
                self._active.discard(owner)
        return _capped(found)

    def _call(self, call: ast.Call, scope: int, env: Env | None, d: int) -> Shapes:
        func = call.func
        args = [a for a in call.args if not isinstance(a, ast.Starred)]
        found: set[Shape] = {OPAQUE}
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name is not None and name in self.functions:
            returned = self._helper(call, name, scope, env, d)
            if returned is None:
                return None
            found |= returned
        if isinstance(func, ast.Name) and func.id in _FORMATTERS and call.args:
            if args and args[0] is call.args[0]:
                more = self.shapes(args[0], scope, env, d)
                return None if more is None else _capped(found | more)
            return _capped(found)
        if isinstance(func, ast.Name) and func.id == "map" and len(args) == 2 and _dotted(args[0]) in ("str", "repr"):
            more = self.shapes(args[1], scope, env, d)
            return None if more is None else _capped(found | more)
        if not isinstance(func, ast.Attribute):
            return _capped(found | self._normalised(call, scope, env, d))
        imported = (_dotted(func) or "").split(".", 1)[0] in self.aliases
        if imported:
            return _capped(found | self._normalised(call, scope, env, d))
        receiver = func.value
        if func.attr == "format":
            if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
                return _capped(found)
            items = [*(a.value if isinstance(a, ast.Starred) else a for a in call.args), *(k.value for k in call.keywords)]
            if len(items) > FANOUT:
                return None
            template = _BRACES.sub("{}", receiver.value)
            more = self._combine([self.shapes(i, scope, env, d) for i in items], lambda parts: _text(template, parts))
            return None if more is None else _capped(found | more)
        if func.attr == "join" and args:
            joined = args[0]
            if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)) \
                    or not isinstance(joined, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                return _capped(found)
            elements = list(joined.keys) + list(joined.values) if isinstance(joined, ast.Dict) else list(joined.elts)
            if len(elements) > FANOUT or any(e is None for e in elements):
                return None
            separator = receiver.value
            more = self._combine([self.shapes(e, scope, env, d) for e in elements if e is not None],
                                 lambda parts: _text(separator.join("{}" for _ in parts), parts))
            return None if more is None else _capped(found | more)
        if func.attr in _METHOD_NORMALISERS:
            inner = self.shapes(receiver, scope, env, d)
            if inner is None:
                return None
            return _capped(found | {("norm", "." + func.attr, (i,)) for i in inner})
        return _capped(found)

    def _normalised(self, call: ast.Call, scope: int, env: Env | None, d: int) -> set[Shape]:
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
            inner = self.shapes(call.args[index], scope, env, d)
            if inner is None:
                return {("any", "", ())}
            found |= {("norm", qual, (i,)) for i in inner}
        return found


def _capped(found: set[Shape]) -> Shapes:
    if ("any", "", ()) in found or len(found) > MAX_SHAPES:
        return None
    return frozenset(found)


def _has_lit(shape: Shape) -> bool:
    return shape[0] == "lit" or any(_has_lit(part) for part in shape[2])


def one_string_token(segment: str) -> bool:
    """The source of a string constant is one literal (libcst's SimpleString), not several."""
    try:
        found = [t for t in tokenize.generate_tokens(io.StringIO(segment).readline) if t.type == tokenize.STRING]
    except (tokenize.TokenError, SyntaxError):
        return False
    return len(found) == 1


def compatible(write: Shape, read: Shape) -> bool:
    """KL801's `compatible`: could the two derivations give equal keys (unknown counts as could)?"""
    if write == read or "opaque" in (write[0], read[0]):
        return True
    if read[0] == "leaf" and read[1] not in leaves(write):
        return True
    if write[0] == "leaf" and write[1] not in leaves(read):
        return True
    if write[0] == read[0] == "text":
        return write[1] == read[1]
    if write[0] == read[0] == "tuple":
        return len(write[2]) == len(read[2]) and all(compatible(w, r) for w, r in zip(write[2], read[2]))
    if write[0] == read[0] == "norm":
        return write[1] == read[1] and compatible(write[2][0], read[2][0])
    return False


def could_mismatch(finder: ShapeFinder, writes: list[tuple[ast.expr, int]], reads: list[tuple[ast.expr, int]]) -> bool:
    """Could KL801's `_judge` report some read: a read shape (not opaque) that some write's shape
    mismatches, while no write is sure to be compatible with it (every shape it may have matches
    without a mismatch: the rule then says some write could produce the same key)?"""
    written: list[frozenset[Shape]] = []
    for write, scope in writes:
        found = finder.shapes(write, scope)
        if found is None:
            return True
        written.append(found)
    if not any(shape[0] in ("text", "tuple", "norm") for found in written for shape in found):
        return False  # the rule skips a mapping none of whose writes is structured
    for read, scope in reads:
        found = finder.shapes(read, scope)
        if found is None:
            return True
        for shape in found:
            if shape[0] == "opaque":
                continue
            # (a literal's text here is its value, in libcst its source: `'a'` and `"a"` differ there)
            if not _has_lit(shape) and any(
                ws and all(not _has_lit(w) and not mismatch(w, shape) and compatible(w, shape) for w in ws) for ws in written
            ):
                continue  # this write would give the same key: the rule stops at it
            if any(mismatch(w, shape) for ws in written for w in ws):
                return True
    return False
