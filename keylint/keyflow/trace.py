"""Provenance: from an expression back to the values it was built from, as a tree of `Step`s.

The walk is bounded (depth, total steps per root, cycle check on the current path) so that no input
can make it blow up. Subtrees traced without interprocedural bindings are memoised per analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from keylint.keyflow.model import (
    Binding,
    EnvBinding,
    Flow,
    FunctionInfo,
    Scope,
    Step,
    Where,
)
from keylint.keyflow.names import dotted, lookup_scope_chain, qualify, source_text

if TYPE_CHECKING:
    from keylint.keyflow.analysis import ModuleAnalysis

MAX_DEPTH = 28
MAX_STEPS = 400
MAX_FANOUT = 8
_KILLING = frozenset({"assign", "walrus", "with", "for", "import", "def", "class", "param", "unpack", "except"})
_FORMATTERS = {"str": "str()", "repr": "repr()", "format": "format()", "ascii": "ascii()"}
_OPS = {
    cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/", cst.FloorDivide: "//",
    cst.Modulo: "%", cst.Power: "**", cst.BitAnd: "&", cst.BitOr: "|", cst.BitXor: "^",
    cst.LeftShift: "<<", cst.RightShift: ">>", cst.MatrixMultiply: "@",
}


def _is_prefix(short: tuple[int, ...], long: tuple[int, ...]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def reaching_bindings(bindings: list[Binding], where: Where) -> list[Binding]:
    """Definitions of a local name that may reach a use at `where.stmt`: walking back in statement
    order, stop at the first unconditional (enclosing-block) killing definition; add definitions
    later in an enclosing loop (loop-carried). Falls back to all definitions when none precede."""
    stmt = where.stmt
    chosen: list[Binding] = []
    for binding in reversed(bindings):
        if binding.stmt.index < stmt.index or (binding.kind == "walrus" and binding.stmt.index == stmt.index):
            chosen.append(binding)
            if binding.kind in _KILLING and _is_prefix(binding.stmt.blocks, stmt.blocks):
                break
    if stmt.loops:
        for binding in bindings:
            if binding.stmt.index >= stmt.index and binding not in chosen and set(binding.stmt.loops) & set(stmt.loops):
                chosen.append(binding)
    return chosen or list(bindings)


def _string_value(expr: cst.BaseExpression | None) -> str | None:
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _fstring_spec(spec: object) -> str | None:
    if not spec:
        return None
    parts = []
    for part in spec:  # type: ignore[attr-defined]
        if isinstance(part, cst.FormattedStringText):
            parts.append(part.value)
        else:
            parts.append("{}")
    return "".join(parts)


class Tracer:
    def __init__(self, analysis: ModuleAnalysis) -> None:
        self.an = analysis
        self.steps = 0
        self.active: set[tuple[int, int]] = set()

    def trace(self, expr: cst.CSTNode, where: Where, flow: Flow, note: str, depth: int = 0) -> Step:
        memo_key = id(expr)
        can_memo = not where.env
        if can_memo:
            cached = self.an._trace_memo.get(memo_key)
            if cached is not None and cached.where.stmt is where.stmt:
                return Step(cached.node, cached.op, flow, note, where, cached.callee, cached.spec, cached.children,
                            cached.param, cached.function, cached.cls, cached.truncated)
        step = Step(expr, "expr", flow, note, where)
        self.steps += 1
        guard = (id(expr), len(where.env))
        if depth >= MAX_DEPTH or self.steps >= MAX_STEPS or guard in self.active:
            step.truncated = True
            return step
        self.active.add(guard)
        try:
            self._expand(step, expr, where, depth + 1)
        except RecursionError:
            step.truncated = True
        finally:
            self.active.discard(guard)
        step.incomplete = step.truncated or any(c.truncated or c.incomplete for c in step.children)
        if can_memo and not step.incomplete:
            self.an._trace_memo[memo_key] = step
        return step

    def _child(self, step: Step, expr: cst.CSTNode, where: Where, flow: Flow, note: str, depth: int) -> None:
        step.children.append(self.trace(expr, where, flow, note, depth))

    # ---- dispatch -------------------------------------------------------------------------------
    def _expand(self, step: Step, expr: cst.CSTNode, where: Where, depth: int) -> None:
        if isinstance(expr, cst.Name):
            self._name(step, expr, where, depth)
        elif isinstance(expr, cst.Attribute):
            self._attribute(step, expr, where, depth)
        elif isinstance(expr, cst.Call):
            self._call(step, expr, where, depth)
        elif isinstance(expr, cst.FormattedString):
            step.op = "fstring"
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringExpression):
                    child = self.trace(part.expression, where, Flow.TEXT, "formatted into an f-string", depth)
                    spec = _fstring_spec(part.format_spec)
                    if spec is not None or part.conversion:
                        child = _with_spec(child, spec, part.conversion)
                    step.children.append(child)
        elif isinstance(expr, cst.ConcatenatedString):
            step.op = "concat"
            self._child(step, expr.left, where, Flow.PART, "concatenated", depth)
            self._child(step, expr.right, where, Flow.PART, "concatenated", depth)
        elif isinstance(expr, cst.BinaryOperation):
            self._binop(step, expr, where, depth)
        elif isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            step.op = "collection"
            for element in expr.elements[:MAX_FANOUT]:
                self._child(step, element.value, where, Flow.PART, f"item of a {type(expr).__name__.lower()}", depth)
        elif isinstance(expr, cst.Dict):
            step.op = "collection"
            for item in expr.elements[:MAX_FANOUT]:
                if isinstance(item, cst.DictElement):
                    self._child(step, item.key, where, Flow.PART, "dict key", depth)
                    self._child(step, item.value, where, Flow.PART, "dict value", depth)
                else:
                    self._child(step, item.value, where, Flow.PART, "unpacked into a dict", depth)
        elif isinstance(expr, cst.Subscript):
            step.op = "subscript"
            self._child(step, expr.value, where, Flow.DERIVE, "indexed", depth)
        elif isinstance(expr, cst.IfExp):
            step.op = "choice"
            self._child(step, expr.body, where, Flow.VALUE, "one branch of a conditional", depth)
            self._child(step, expr.orelse, where, Flow.VALUE, "one branch of a conditional", depth)
        elif isinstance(expr, cst.BooleanOperation):
            step.op = "choice"
            self._child(step, expr.left, where, Flow.VALUE, f"operand of `{'and' if isinstance(expr.operator, cst.And) else 'or'}`", depth)
            self._child(step, expr.right, where, Flow.VALUE, f"operand of `{'and' if isinstance(expr.operator, cst.And) else 'or'}`", depth)
        elif isinstance(expr, cst.Await):
            step.op = "await"
            self._child(step, expr.expression, where, Flow.VALUE, "awaited", depth)
        elif isinstance(expr, cst.UnaryOperation):
            step.op = "unary"
            self._child(step, expr.expression, where, Flow.DERIVE, "negated", depth)
        elif isinstance(expr, (cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
            step.op = "comprehension"
            inner = self._comp_where(expr.for_in, where)
            if isinstance(expr, cst.DictComp):
                self._child(step, expr.key, inner, Flow.PART, "comprehension key", depth)
                self._child(step, expr.value, inner, Flow.PART, "comprehension value", depth)
            else:
                self._child(step, expr.elt, inner, Flow.PART, "comprehension element", depth)
        elif isinstance(expr, (cst.StarredElement,)):
            step.op = "starred"
            self._child(step, expr.value, where, Flow.VALUE, "unpacked", depth)
        elif isinstance(expr, cst.NamedExpr):
            step.op = "walrus"
            self._child(step, expr.value, where, Flow.VALUE, f"assigned to {source_text(expr.target)}", depth)
        elif isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis)):
            step.op = "literal"
        elif isinstance(expr, cst.Lambda):
            step.op = "lambda"
        else:
            step.op = "expr"

    def _comp_where(self, for_in: cst.CompFor, where: Where) -> Where:
        env = list(where.env)
        comp: cst.CompFor | None = for_in
        while comp is not None:
            current = Where(where.scope, where.stmt, tuple(env))
            targets = [comp.target] if isinstance(comp.target, cst.Name) else [
                e.value for e in getattr(comp.target, "elements", [])
            ]
            for target in targets:
                if isinstance(target, cst.Name):
                    env.append((target.value, EnvBinding(comp.iter, current, Flow.ELEMENT, f"element of the iterable bound to {target.value}")))
            comp = comp.inner_for_in
        return Where(where.scope, where.stmt, tuple(env))

    # ---- names ----------------------------------------------------------------------------------
    def _name(self, step: Step, expr: cst.Name, where: Where, depth: int) -> None:
        name = expr.value
        step.op = "name"
        step.callee = name
        if name in ("None", "True", "False"):
            step.op = "literal"
            return
        bound = where.lookup_env(name)
        if bound is not None:
            self._child(step, bound.value, bound.where, bound.flow, bound.note, depth)
            return
        fn = where.scope.function
        if fn is not None and fn.cls is not None and fn.params and fn.params[0].name == name and fn.params[0].index == 0 \
                and not any(d.endswith("staticmethod") for d in fn.decorators):
            step.op = "self"
            step.cls = fn.cls
            return
        owner = lookup_scope_chain(where.scope, name)
        if owner is None:
            step.op = "builtin" if name in _BUILTIN_NAMES else "name"
            return
        bindings = owner.bindings[name]
        if owner is where.scope:
            chosen = reaching_bindings(bindings, where)
        else:
            chosen = list(bindings)
        for binding in chosen[-MAX_FANOUT:]:
            self._binding(step, binding, owner, where if owner is where.scope else Where(owner, binding.stmt), depth)

    def _binding(self, step: Step, binding: Binding, owner: Scope, where: Where, depth: int) -> None:
        inner = Where(owner, binding.stmt, where.env)
        name = binding.name
        kind = binding.kind
        if kind == "param":
            fn = owner.function
            param = next((p for p in fn.params if p.name == name), None) if fn else None
            child = Step(binding.target, "param", Flow.VALUE, f"parameter {name} of {fn.qualname if fn else '?'}()", inner,
                         callee=name, param=param, function=fn)
            self.steps += 1
            if fn is not None and param is not None and depth < MAX_DEPTH:
                for call, call_where, arg in self.an.arguments_for(fn, param)[:MAX_FANOUT]:
                    child.children.append(self.trace(arg, call_where, Flow.VALUE, f"passed as {name} to {fn.qualname}()", depth))
                child.incomplete = any(c.truncated or c.incomplete for c in child.children)
            step.children.append(child)
        elif kind == "import":
            step.children.append(Step(binding.target, "import", Flow.VALUE, f"imported as {name}", inner, callee=binding.qualname))
        elif kind in ("def", "class", "except"):
            leaf = Step(binding.target, kind, Flow.VALUE, f"{kind} {name}", inner, callee=name)
            if kind == "class":
                leaf.cls = self.an.classes.get(name)
            step.children.append(leaf)
        elif binding.value is not None:
            flow = {"augassign": Flow.PART, "unpack": Flow.ELEMENT, "for": Flow.ELEMENT}.get(kind, Flow.VALUE)
            note = {
                "augassign": f"added to {name}",
                "unpack": f"unpacked into {name}",
                "for": f"loop variable {name}",
                "with": f"bound by `with ... as {name}`",
            }.get(kind, f"assigned to {name}")
            self._child(step, binding.value, inner, flow, note, depth)

    # ---- attributes -----------------------------------------------------------------------------
    def _attribute(self, step: Step, expr: cst.Attribute, where: Where, depth: int) -> None:
        attr = expr.attr.value
        step.op = "attr"
        step.callee = attr
        head = dotted(expr)
        if head is not None:
            root = head.split(".", 1)[0]
            owner = lookup_scope_chain(where.scope, root)
            if owner is not None and any(b.kind == "import" for b in owner.bindings[root]) and where.lookup_env(root) is None:
                step.op = "import"
                step.callee = qualify(head, where.scope)
                return
        receiver = expr.value
        cls = None
        fn = where.scope.function
        if isinstance(receiver, cst.Name) and fn is not None and fn.cls is not None and fn.params \
                and fn.params[0].name == receiver.value and where.lookup_env(receiver.value) is None:
            cls = fn.cls
        elif isinstance(receiver, cst.Name) and receiver.value in self.an.classes:
            cls = self.an.classes[receiver.value]
        stores = self.an.collected.attr_stores.get(attr, [])
        if cls is not None:
            own = [s for s in stores if s.owner is cls]
            stores = own or stores
        for store in stores[:MAX_FANOUT]:
            where_fn = store.where.scope.function
            place = f" in {where_fn.qualname}()" if where_fn else ""
            self._child(step, store.value, store.where, store.flow, f"stored as {source_text(store.receiver, 30)}.{attr}{place}", depth)
        for info in ([cls] if cls is not None else list(self.an.classes.values())):
            if info is None:
                continue
            if attr in info.class_attrs and not stores:
                class_scope = self._class_scope(info)
                if class_scope is not None:
                    for binding in class_scope.bindings.get(attr, [])[:MAX_FANOUT]:
                        self._binding(step, binding, class_scope, Where(class_scope, binding.stmt), depth)
            if info.is_dataclass and attr in info.fields:
                for call, call_where, arg in self.an.field_arguments(info, attr)[:MAX_FANOUT]:
                    self._child(step, arg, call_where, Flow.VALUE, f"passed as {attr} to {info.name}()", depth)
        if cls is None:
            self._child(step, receiver, where, Flow.MEMBER, f".{attr} read on it", depth)
        elif step.cls is None and isinstance(receiver, cst.Name):
            step.cls = cls

    def _class_scope(self, info: object) -> Scope | None:
        for fn in self.an.collected.functions:
            if fn.cls is info:
                return fn.scope.parent
        return None

    # ---- calls ----------------------------------------------------------------------------------
    def _call(self, step: Step, call: cst.Call, where: Where, depth: int) -> None:
        func = call.func
        qual = qualify(dotted(func), where.scope)
        step.callee = qual
        args = [a for a in call.args if a.keyword is None and not a.star]
        if qual is not None and self.an.is_sanitizer(qual):
            step.op = "sanitizer"
            step.note = f"made stable by {qual}()"
            return
        if qual in _FORMATTERS and args and isinstance(func, cst.Name) and lookup_scope_chain(where.scope, func.value) is None:
            step.op = "format"
            child = self.trace(args[0].value, where, Flow.TEXT, f"formatted with {_FORMATTERS[qual]}", depth)
            if qual == "format" and len(args) > 1:
                child = _with_spec(child, _string_value(args[1].value), None)
            step.children.append(child)
            return
        if qual == "map" and len(args) == 2 and dotted(args[0].value) in ("str", "repr"):
            step.op = "format"
            self._child(step, args[1].value, where, Flow.TEXT, f"each item formatted with {dotted(args[0].value)}()", depth)
            return
        target = self.an.call_target(call, where)
        if isinstance(target, FunctionInfo):
            self._helper_call(step, call, target, where, depth)
            return
        if target is not None:  # a module class: constructed from its arguments
            step.op = "construct"
            step.cls = target
            for arg in call.args[:MAX_FANOUT]:
                self._child(step, arg.value, where, Flow.DERIVE, f"passed to {target.name}()", depth)
            return
        if isinstance(func, cst.Attribute) and not self._imported(func, where):
            method = func.attr.value
            step.op = "method"
            step.callee = "." + method
            if method == "format":
                step.op = "format"
                for arg in call.args[:MAX_FANOUT]:
                    if not arg.star or arg.star == "*":
                        self._child(step, arg.value, where, Flow.TEXT, "formatted with .format()", depth)
                    else:
                        self._child(step, arg.value, where, Flow.TEXT, "formatted with .format(**...)", depth)
                return
            if method == "join" and args:
                step.op = "join"
                self._child(step, args[0].value, where, Flow.ELEMENT, "joined", depth)
                return
            if method == "strftime" and args:
                step.spec = _string_value(args[0].value)
            self._child(step, func.value, where, Flow.DERIVE, f".{method}() called on it", depth)
            for arg in call.args[:4]:
                self._child(step, arg.value, where, Flow.DERIVE, f"passed to .{method}()", depth)
            return
        step.op = "call"
        name = qual or source_text(func, 30)
        for arg in call.args[:4]:
            self._child(step, arg.value, where, Flow.DERIVE, f"passed to {name}()", depth)

    def _imported(self, func: cst.Attribute, where: Where) -> bool:
        """`mod.f(...)` / `pkg.mod.f(...)` on an imported module (not a method call on a value)."""
        head = dotted(func)
        if head is None:
            return False
        root = head.split(".", 1)[0]
        if where.lookup_env(root) is not None:
            return False
        owner = lookup_scope_chain(where.scope, root)
        return owner is not None and any(b.kind == "import" for b in owner.bindings[root])

    def _helper_call(self, step: Step, call: cst.Call, fn: FunctionInfo, where: Where, depth: int) -> None:
        step.op = "call"
        step.function = fn
        env = self.an.bind_arguments(call, fn, where)
        for value, stmt in fn.returns[:MAX_FANOUT]:
            inner = Where(fn.scope, stmt, env)
            self._child(step, value, inner, Flow.VALUE, f"returned by {fn.qualname}()", depth)

    def _binop(self, step: Step, expr: cst.BinaryOperation, where: Where, depth: int) -> None:
        symbol = _OPS.get(type(expr.operator), "?")
        step.callee = symbol
        left = expr.left
        if symbol == "%" and isinstance(left, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            step.op = "percent"
            right = expr.right
            items = [e.value for e in right.elements] if isinstance(right, cst.Tuple) else [right]
            if isinstance(right, cst.Dict):
                items = [e.value for e in right.elements]
            for item in items[:MAX_FANOUT]:
                self._child(step, item, where, Flow.TEXT, "formatted with `%`", depth)
            return
        if symbol == "+":
            step.op = "concat"
            self._child(step, left, where, Flow.PART, "concatenated with `+`", depth)
            self._child(step, expr.right, where, Flow.PART, "concatenated with `+`", depth)
            return
        step.op = "binop"
        self._child(step, left, where, Flow.DERIVE, f"operand of `{symbol}`", depth)
        self._child(step, expr.right, where, Flow.DERIVE, f"operand of `{symbol}`", depth)


def _with_spec(step: Step, spec: str | None, conversion: str | None) -> Step:
    clone = Step(step.node, step.op, step.flow, step.note, step.where, step.callee, spec, step.children,
                 step.param, step.function, step.cls, step.truncated)
    if conversion:
        clone.note = f"{step.note} (!{conversion})"
    return clone


_BUILTIN_NAMES = frozenset(dir(__builtins__) if isinstance(__builtins__, dict) else dir(__import__("builtins")))
