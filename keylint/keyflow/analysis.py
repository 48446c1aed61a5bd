"""`ModuleAnalysis`: one module's facts, sinks and (lazily) each sink's provenance."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst

from keylint.keyflow import sources
from keylint.keyflow.collect import Collected, collect
from keylint.keyflow.model import (
    ClassInfo,
    EnvBinding,
    Flow,
    FunctionInfo,
    Param,
    Scope,
    Sink,
    Step,
    Where,
)
from keylint.keyflow.names import dotted, lookup_scope_chain, qualify, source_text
from keylint.settings import Settings


class ModuleAnalysis:
    """Everything a rule may ask about one module. Build with `ModuleAnalysis(module, settings)`."""

    def __init__(self, module: cst.Module, settings: Settings) -> None:
        self.module = module
        self.settings = settings
        self.collected: Collected = collect(module)
        self.module_scope: Scope = self.collected.module_scope
        self.classes: dict[str, ClassInfo] = self.collected.classes
        self.functions: list[FunctionInfo] = self.collected.functions
        self._trace_memo: dict[int, Step] = {}
        self._provenance: dict[int, Step] = {}
        self._steps: dict[int, list[Step]] = {}
        self._calls_by_name: dict[str, list[tuple[cst.Call, Where]]] | None = None
        self._sanitizers = frozenset(settings.sanitizers)
        self._sinks: list[Sink] | None = None

    @property
    def sinks(self) -> list[Sink]:
        """Every key use in the module, found when a rule first asks (KL701 alone never does)."""
        if self._sinks is None:
            from keylint.keyflow.sinks import build_sinks

            self._sinks = build_sinks(self)
        return self._sinks

    # ---- provenance -------------------------------------------------------------------------------
    def provenance(self, sink: Sink) -> Step:
        """The key's provenance tree (computed once per sink)."""
        found = self._provenance.get(id(sink))
        if found is None:
            found = self.trace(sink.key, sink.where, note=f"used as a key of {sink.mapping_label}")
            self._provenance[id(sink)] = found
        return found

    def steps(self, sink: Sink) -> list[Step]:
        """Every distinct step of the sink's provenance (the tree is a DAG: shared subtrees appear
        once). Rules use it to reject a sink cheaply before walking paths."""
        found = self._steps.get(id(sink))
        if found is None:
            found = unique_steps(self.provenance(sink))
            self._steps[id(sink)] = found
        return found

    def trace(self, expr: cst.CSTNode, where: Where, note: str = "") -> Step:
        from keylint.keyflow.trace import Tracer

        return Tracer(self).trace(expr, where, Flow.VALUE, note)

    # ---- names, calls, types ----------------------------------------------------------------------
    def qualname(self, expr: cst.CSTNode, where: Where) -> str | None:
        return qualify(dotted(expr), where.scope)

    def is_sanitizer(self, qualname: str) -> bool:
        if not self._sanitizers:
            return False
        return qualname in self._sanitizers or qualname.rsplit(".", 1)[-1] in self._sanitizers

    def module_function(self, name: str) -> FunctionInfo | None:
        bindings = self.module_scope.bindings.get(name, [])
        for fn in self.functions:
            if fn.name == name and fn.cls is None and fn.scope.parent is self.module_scope:
                return fn if any(b.kind == "def" for b in bindings) else None
        return None

    def call_target(self, call: cst.Call, where: Where) -> FunctionInfo | ClassInfo | None:
        """The module function, method (`self.m()` / `cls.m()`) or class a call runs, if known."""
        func = call.func
        if isinstance(func, cst.Name):
            if where.lookup_env(func.value) is not None:
                return None
            owner = lookup_scope_chain(where.scope, func.value)
            if owner is None:
                return None
            kinds = {b.kind for b in owner.bindings[func.value]}
            if "class" in kinds and func.value in self.classes:
                return self.classes[func.value]
            if "def" in kinds:
                for candidate in self.functions:
                    if candidate.name == func.value and candidate.scope.parent is owner:
                        return candidate
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            fn = where.scope.function
            receiver = func.value.value
            if fn is not None and fn.cls is not None and fn.params and fn.params[0].name == receiver:
                return _find_method(self, fn.cls, func.attr.value)

            if receiver in self.classes and lookup_scope_chain(where.scope, receiver) is self.module_scope:
                return _find_method(self, self.classes[receiver], func.attr.value)
        return None

    def calls_named(self, name: str) -> list[tuple[cst.Call, Where]]:
        """Every call in the module whose callee is `name` or `<anything>.name`."""
        if self._calls_by_name is None:
            index: dict[str, list[tuple[cst.Call, Where]]] = {}
            for call, where in self.collected.calls:
                func = call.func
                key = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
                if key is not None:
                    index.setdefault(key, []).append((call, where))
            self._calls_by_name = index
        return self._calls_by_name.get(name, [])

    def call_sites(self, fn: FunctionInfo) -> list[tuple[cst.Call, Where]]:
        """Calls in this module that run `fn` (constructor calls for `__init__`)."""
        if fn.name == "__init__" and fn.cls is not None:
            candidates = self.calls_named(fn.cls.name)
        else:
            candidates = self.calls_named(fn.name)
        # `obj.name(...)` on a receiver of unknown type counts only for a method name defined once in
        # the module and not shared with builtin containers (`get`, `pop`, ... would bind wrongly).
        by_name = fn.cls is not None and not fn.name.startswith("__") and fn.name not in _COMMON_METHODS \
            and sum(1 for other in self.functions if other.name == fn.name) == 1
        found = []
        for call, where in candidates:
            target = self.call_target(call, where)
            if target is fn or (fn.name == "__init__" and target is fn.cls) or (
                target is None and by_name and isinstance(call.func, cst.Attribute)
                and not _is_module_receiver(call.func.value, where)
            ):
                found.append((call, where))
        return found

    def bound_argument(self, call: cst.Call, fn: FunctionInfo, param: Param) -> cst.BaseExpression | None:
        """The argument `call` passes for `param` (keyword or position; `self` skipped for methods)."""
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == param.name:
                return arg.value
        if param.index < 0:
            return None
        skip = 1 if fn.cls is not None and not any(d.endswith("staticmethod") for d in fn.decorators) else 0
        position = param.index - skip
        if position < 0:
            return None
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in positional[: position + 1]):
            return None
        return positional[position].value if position < len(positional) else None

    def arguments_for(self, fn: FunctionInfo, param: Param) -> list[tuple[cst.Call, Where, cst.BaseExpression]]:
        found = []
        for call, where in self.call_sites(fn):
            arg = self.bound_argument(call, fn, param)
            if arg is not None:
                found.append((call, where, arg))
        return found

    def field_arguments(self, cls: ClassInfo, field_name: str) -> list[tuple[cst.Call, Where, cst.BaseExpression]]:
        """Arguments given for a dataclass field in calls constructing `cls`."""
        found = []
        position = cls.fields.index(field_name) if field_name in cls.fields else -1
        for call, where in self.calls_named(cls.name):
            if self.call_target(call, where) is not cls:
                continue
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == field_name:
                    found.append((call, where, arg.value))
                    break
            else:
                positional = [a for a in call.args if a.keyword is None and not a.star]
                if 0 <= position < len(positional):
                    found.append((call, where, positional[position].value))
        return found

    def bind_arguments(self, call: cst.Call, fn: FunctionInfo, where: Where) -> tuple[tuple[str, EnvBinding], ...]:
        env = []
        for param in fn.params:
            arg = self.bound_argument(call, fn, param)
            if arg is not None:
                env.append((param.name, EnvBinding(arg, where, Flow.VALUE, f"passed as {param.name} to {fn.qualname}()")))
        return tuple(env)

    def type_of(self, step: Step, depth: int = 0) -> str | None:
        """The class a step's value is known to be an instance of: a parameter's annotation, a module
        class constructed, a known factory (`asyncio.timeout()` -> `asyncio.Timeout`), `self`."""
        if depth > 12:
            return None
        op = step.op
        if op == "param" and step.param is not None:
            if step.param.annotation:
                return step.param.annotation
            fn = step.function
            if fn is not None and fn.cls is not None and step.param.index == 0 and not any(
                d.endswith(("staticmethod", "classmethod")) for d in fn.decorators
            ):
                return fn.cls.name
        if op == "self" and step.cls is not None:
            return step.cls.name
        if op == "construct" and step.cls is not None:
            return step.cls.name
        if op == "call":
            if step.callee in sources.CONTEXT_FACTORIES:
                return sources.CONTEXT_FACTORIES[step.callee]
            if step.function is not None and step.function.return_annotation:
                return step.function.return_annotation
            if step.function is None and step.callee and step.callee.rsplit(".", 1)[-1][:1].isupper():
                return step.callee
        if op == "method" and step.callee and step.callee[1:] in sources.CONTEXT_METHODS:
            return sources.CONTEXT_METHODS[step.callee[1:]]
        if op == "attr" and step.callee:
            for cls in self.classes.values():
                if step.callee in cls.field_annotations and (step.cls is None or step.cls is cls):
                    return cls.field_annotations[step.callee]
        if op == "class":
            return None
        for child in step.children:
            if child.flow is Flow.VALUE:
                found = self.type_of(child, depth + 1)
                if found:
                    return found
        return None

    # ---- mappings ------------------------------------------------------------------------------
    def mapping_identity(self, expr: cst.BaseExpression, where: Where) -> str | None:
        """`global:NAME` for a module global, `attr:Class.name` for `self.name`/`cls.name`/`Class.name`."""
        if isinstance(expr, cst.Name):
            if where.lookup_env(expr.value) is not None:
                return None
            owner = lookup_scope_chain(where.scope, expr.value)
            if owner is self.module_scope and not any(b.kind == "import" for b in owner.bindings[expr.value]):
                return f"global:{expr.value}"
            return None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            receiver = expr.value.value
            fn = where.scope.function
            if fn is not None and fn.cls is not None and fn.params and fn.params[0].name == receiver:
                return f"attr:{fn.cls.name}.{expr.attr.value}"
            if receiver in self.classes:
                return f"attr:{receiver}.{expr.attr.value}"
        return None

    def text_is_unstable(self, cls: ClassInfo) -> str | None:
        """Why instances of a module class print differently over time, or None: its `__str__`/
        `__repr__`/`__format__` (or a dataclass's generated repr) reads a clock or mutable state."""
        methods = cls.text_methods()
        # Writes inside the text methods themselves memoise the text (`self._cached_repr = ...`).
        mutable = cls.mutable_attrs() - {a for m in methods.values() for a in m.self_writes}
        for name, method in methods.items():
            seen: set[str] = set()
            todo = [method]
            while todo:
                current = todo.pop()
                if current.name in seen:
                    continue
                seen.add(current.name)
                if current.reads_time:
                    return f"`{cls.name}.{name}` reads the clock"
                changed = sorted(current.self_reads & mutable)
                if changed:
                    return f"`{cls.name}.{name}` shows `self.{changed[0]}`, which changes after construction"
                for called in current.self_reads:
                    other = cls.methods.get(called)
                    if other is not None:
                        todo.append(other)
        if not methods and cls.is_dataclass and not cls.frozen:
            changed = sorted(set(cls.fields) & mutable)
            if changed:
                return f"the generated repr of `{cls.name}` shows `{changed[0]}`, which changes after construction"
        return None

    def label(self, node: cst.CSTNode, limit: int = 60) -> str:
        return source_text(node, limit)


_COMMON_METHODS = frozenset(
    "get pop add update append extend insert remove discard clear copy items keys values setdefault close open "
    "run start stop send recv read write join put format split strip encode decode index count sort".split()
)


def _find_method(an: ModuleAnalysis, cls: ClassInfo, name: str) -> FunctionInfo | None:
    seen: set[str] = set()
    current: ClassInfo | None = cls
    while current is not None and current.name not in seen:
        seen.add(current.name)
        if name in current.methods:
            return current.methods[name]
        current = next((an.classes[b] for b in current.bases if b in an.classes), None)
    return None


def _is_module_receiver(expr: cst.BaseExpression, where: Where) -> bool:
    if isinstance(expr, cst.Name):
        owner = lookup_scope_chain(where.scope, expr.value)
        return owner is not None and any(b.kind == "import" for b in owner.bindings[expr.value])
    return False


def unique_steps(root: Step) -> list[Step]:
    seen: set[int] = set()
    found: list[Step] = []
    stack = [root]
    while stack:
        step = stack.pop()
        if id(step) in seen:
            continue
        seen.add(id(step))
        found.append(step)
        stack.extend(step.children)
    return found


def iter_paths(root: Step, stop: Callable[[Step], bool] | None = None, limit: int = 2000) -> Iterator[tuple[Step, ...]]:
    """Every path from `root` down to each step (root first), depth-first. A step for which `stop`
    returns True is yielded but not descended into (sanitizers). Shared subtrees are walked once per
    path; `limit` bounds the number of paths."""
    stack: list[tuple[Step, tuple[Step, ...]]] = [(root, (root,))]
    count = 0
    while stack and count < limit:
        step, path = stack.pop()
        count += 1
        yield path
        if stop is not None and stop(step):
            continue
        for child in reversed(step.children):
            if child not in path:
                stack.append((child, path + (child,)))
