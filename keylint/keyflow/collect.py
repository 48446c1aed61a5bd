"""One libcst pass over a module collecting everything keyflow needs: scopes and bindings, classes and
functions, attribute stores, returns, and the raw candidates for key sinks (subscripts, `in` tests,
calls). No metadata providers are used; statement order and block nesting are tracked here."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from keylint.keyflow import sources
from keylint.keyflow.model import (
    Binding,
    ClassInfo,
    EnvBinding,
    Flow,
    FunctionInfo,
    Param,
    Scope,
    StmtInfo,
    Where,
)
from keylint.keyflow.names import annotation_name, dotted, qualify

_MUTATORS = frozenset(
    ["append", "extend", "insert", "remove", "pop", "popleft", "appendleft", "clear", "update", "add", "discard", "setdefault", "sort", "reverse"]
)


@dataclass(eq=False)
class AttrStore:
    """`receiver.attr = value` (or `+=`) somewhere in the module."""

    attr: str
    receiver: cst.BaseExpression
    value: cst.BaseExpression
    flow: Flow
    where: Where
    owner: ClassInfo | None  # set when the receiver is `self`/`cls` of a method of this class


@dataclass
class Collected:
    module_scope: Scope
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    functions: list[FunctionInfo] = field(default_factory=list)  # every def, nested ones included
    attr_stores: dict[str, list[AttrStore]] = field(default_factory=dict)
    subscripts: list[tuple[cst.Subscript, cst.BaseExpression, str, Where]] = field(default_factory=list)
    contains: list[tuple[cst.Comparison, cst.BaseExpression, cst.BaseExpression, Where]] = field(default_factory=list)
    calls: list[tuple[cst.Call, Where]] = field(default_factory=list)
    function_of_node: dict[int, FunctionInfo] = field(default_factory=dict)


def _is_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)):
        return True
    if isinstance(expr, cst.UnaryOperation):
        return _is_literal(expr.expression)
    return isinstance(expr, cst.Name) and expr.value in ("None", "True", "False")


class Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.out = Collected(module_scope=Scope("module", None))
        self.scope = self.out.module_scope
        self.counter = 0
        self.blocks: list[int] = [0]
        self.loops: list[int] = []
        self.stmts: list[StmtInfo] = [StmtInfo(0, (0,), (), cst.Module(body=[]))]
        self.env: list[tuple[str, EnvBinding]] = []
        self.store_ids: set[int] = set()
        self.delete_ids: set[int] = set()
        self.functions: list[FunctionInfo] = []

    # ---- positions in the statement structure -------------------------------------------------
    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _push_stmt(self, anchor: cst.CSTNode) -> None:
        self.stmts.append(StmtInfo(self._next(), tuple(self.blocks), tuple(self.loops), anchor))

    def where(self) -> Where:
        return Where(self.scope, self.stmts[-1], tuple(self.env))

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._push_stmt(node)

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
        self.stmts.pop()

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self.blocks.append(self._next())
        self._push_stmt(node)

    def leave_SimpleStatementSuite(self, original_node: cst.SimpleStatementSuite) -> None:
        self.stmts.pop()
        self.blocks.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.blocks.append(self._next())

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock) -> None:
        self.blocks.pop()

    def visit_If(self, node: cst.If) -> None:
        self._push_stmt(node.test)

    def leave_If(self, original_node: cst.If) -> None:
        self.stmts.pop()

    def visit_While(self, node: cst.While) -> None:
        self.loops.append(self._next())
        self._push_stmt(node.test)

    def leave_While(self, original_node: cst.While) -> None:
        self.stmts.pop()
        self.loops.pop()

    def visit_For(self, node: cst.For) -> None:
        self._push_stmt(node.iter)
        self.loops.append(self._next())
        self._push_stmt(node.iter)  # the target binding happens inside the loop
        self._bind_target(node.target, node.iter, "for")

    def leave_For(self, original_node: cst.For) -> None:
        self.stmts.pop()
        self.loops.pop()
        self.stmts.pop()

    def visit_With(self, node: cst.With) -> None:
        self._push_stmt(node.items[-1])
        for item in node.items:
            if item.asname is not None:
                self._bind_target(item.asname.name, item.item, "with")

    def leave_With(self, original_node: cst.With) -> None:
        self.stmts.pop()

    def visit_Match(self, node: cst.Match) -> None:
        self._push_stmt(node.subject)

    def leave_Match(self, original_node: cst.Match) -> None:
        self.stmts.pop()

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind(node.name.name, None, "except")

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        return False  # annotations hold no keys; read directly where needed

    # ---- scopes -------------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push_stmt(node.name)
        self._bind(node.name, None, "def")
        outer = self.scope
        cls = outer.cls if outer.kind == "class" else None
        scope = Scope("function", outer, cls=cls if cls else (outer.cls if outer.kind == "function" else None))
        params = self._params(node.params, outer)
        decorators = [self._decorator_name(d.decorator, outer) for d in node.decorators]
        info = FunctionInfo(
            name=node.name.value,
            node=node,
            scope=scope,
            cls=cls,
            params=params,
            decorators=[d for d in decorators if d],
            return_annotation=annotation_name(node.returns, outer) if node.returns else None,
        )
        scope.function = info
        for param in params:
            scope.bindings.setdefault(param.name, []).append(
                Binding(param.name, "param", None, self.stmts[-1], param.node.name)
            )
        if cls is not None:
            cls.methods[node.name.value] = info
        self.out.functions.append(info)
        self.out.function_of_node[id(node)] = info
        self.functions.append(info)
        self.scope = scope

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent
        self.functions.pop()
        self.stmts.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push_stmt(node.name)
        self._bind(node.name, None, "class")
        outer = self.scope
        info = ClassInfo(
            name=node.name.value,
            node=node,
            bases=[b for b in (qualify(dotted(a.value), outer) for a in node.bases) if b],
            decorators=[d for d in (self._decorator_name(d.decorator, outer) for d in node.decorators) if d],
        )
        for deco in node.decorators:
            if isinstance(deco.decorator, cst.Call):
                for arg in deco.decorator.args:
                    if arg.keyword and arg.keyword.value == "frozen" and dotted(arg.value) == "True":
                        info._frozen_flag = True
        if outer.kind == "module" or info.name not in self.out.classes:
            self.out.classes[info.name] = info
        self.scope = Scope("class", outer, cls=info)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent
        self.stmts.pop()

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return True

    def _decorator_name(self, expr: cst.BaseExpression, scope: Scope) -> str | None:
        if isinstance(expr, cst.Call):
            expr = expr.func
        return qualify(dotted(expr), scope)

    def _params(self, params: cst.Parameters, scope: Scope) -> list[Param]:
        found: list[Param] = []
        positional = list(params.posonly_params) + list(params.params)
        for index, p in enumerate(positional):
            found.append(Param(p.name.value, p, index, annotation_name(p.annotation, scope), ""))
        if isinstance(params.star_arg, cst.Param):
            p = params.star_arg
            found.append(Param(p.name.value, p, -1, annotation_name(p.annotation, scope), "*"))
        for p in params.kwonly_params:
            found.append(Param(p.name.value, p, -1, annotation_name(p.annotation, scope), ""))
        if params.star_kwarg is not None:
            p = params.star_kwarg
            found.append(Param(p.name.value, p, -1, annotation_name(p.annotation, scope), "**"))
        return found

    def visit_Global(self, node: cst.Global) -> None:
        self.scope.globals_.update(n.name.value for n in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.scope.nonlocals.update(n.name.value for n in node.names)

    # ---- comprehensions: their targets are bound while their element is visited ---------------
    def _enter_comp(self, for_in: cst.CompFor) -> None:
        self.env.append(("", EnvBinding(for_in.iter, self.where(), Flow.ELEMENT, "")))  # marker
        comp: cst.CompFor | None = for_in
        while comp is not None:
            where = self.where()
            for name in _target_names(comp.target):
                self.env.append((name.value, EnvBinding(comp.iter, where, Flow.ELEMENT, f"element of the iterable bound to {name.value}")))
            comp = comp.inner_for_in

    def _leave_comp(self) -> None:
        while self.env and self.env[-1][0] != "":
            self.env.pop()
        if self.env:
            self.env.pop()

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._enter_comp(node.for_in)

    def leave_ListComp(self, original_node: cst.ListComp) -> None:
        self._leave_comp()

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._enter_comp(node.for_in)

    def leave_SetComp(self, original_node: cst.SetComp) -> None:
        self._leave_comp()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._enter_comp(node.for_in)

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self._leave_comp()

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._enter_comp(node.for_in)

    def leave_DictComp(self, original_node: cst.DictComp) -> None:
        self._leave_comp()

    # ---- bindings -----------------------------------------------------------------------------
    def _bind(self, target: cst.Name, value: cst.BaseExpression | None, kind: str, qualname: str | None = None) -> None:
        scope = self.scope
        name = target.value
        if name in scope.globals_:
            scope = self.out.module_scope
        scope.bindings.setdefault(name, []).append(Binding(name, kind, value, self.stmts[-1], target, qualname))
        if scope.kind == "class" and scope.cls is not None:
            scope.cls.class_attrs.add(name)

    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression, kind: str) -> None:
        if isinstance(target, cst.Name):
            self._bind(target, value, kind)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            if kind == "assign" and isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
                for sub, val in zip(elements, value.elements):
                    if not isinstance(val, cst.StarredElement):
                        self._bind_target(sub, val.value, kind)
                return
            for sub in elements:
                self._bind_target(sub, value, "unpack" if kind == "assign" else kind)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, value, "unpack")
        elif isinstance(target, cst.Attribute):
            self._attr_store(target, value, Flow.VALUE if kind in ("assign",) else Flow.ELEMENT)
        elif isinstance(target, cst.Subscript):
            self.store_ids.add(id(target))
            self._note_self_write(target.value)

    def _self_name(self) -> str | None:
        fn = self.functions[-1] if self.functions else None
        if fn is None or fn.cls is None or not fn.params:
            return None
        decos = {d.rsplit(".", 1)[-1] for d in fn.decorators}
        if "staticmethod" in decos:
            return None
        return fn.params[0].name

    def _note_self_write(self, expr: cst.BaseExpression) -> None:
        fn = self.functions[-1] if self.functions else None
        if fn is None:
            return
        while isinstance(expr, (cst.Subscript, cst.Attribute)):
            if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == self._self_name():
                fn.self_writes.add(expr.attr.value)
                return
            expr = expr.value

    def _attr_store(self, target: cst.Attribute, value: cst.BaseExpression, flow: Flow) -> None:
        owner = None
        if isinstance(target.value, cst.Name) and target.value.value == self._self_name():
            owner = self.functions[-1].cls
            self.functions[-1].self_writes.add(target.attr.value)
        elif isinstance(target.value, cst.Name) and self.scope.kind == "class":
            owner = None
        self.out.attr_stores.setdefault(target.attr.value, []).append(
            AttrStore(target.attr.value, target.value, value, flow, self.where(), owner)
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value, "assign")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self.scope.kind == "class" and self.scope.cls is not None and isinstance(node.target, cst.Name):
            cls = self.scope.cls
            cls.fields.append(node.target.value)
            annotation = annotation_name(node.annotation, self.scope)
            if annotation:
                cls.field_annotations[node.target.value] = annotation
        if isinstance(node.target, cst.Attribute) and node.value is None:
            return
        if node.value is not None:
            self._bind_target(node.target, node.value, "assign")
        elif isinstance(node.target, cst.Name) and self.scope.kind == "class" and self.scope.cls is not None:
            self.scope.cls.class_attrs.add(node.target.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        target = node.target
        if isinstance(target, cst.Name):
            self._bind(target, node.value, "augassign")
        elif isinstance(target, cst.Attribute):
            self._attr_store(target, node.value, Flow.PART)
        elif isinstance(target, cst.Subscript):
            self.store_ids.add(id(target))
            self._note_self_write(target.value)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target, node.value, "walrus")

    def visit_Del(self, node: cst.Del) -> None:
        for target in _flatten(node.target):
            if isinstance(target, cst.Subscript):
                self.delete_ids.add(id(target))
                self._note_self_write(target.value)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name, None, "import", full)
            else:
                head = full.split(".", 1)[0]
                self._bind(cst.Name(head), None, "import", head)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = ("." * len(node.relative)) + (dotted(node.module) or "" if node.module else "")
        for alias in node.names:
            name = dotted(alias.name) or ""
            bound = alias.asname.name if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else None
            qual = f"{module}.{name}" if module and not module.endswith(".") else f"{module}{name}"
            self._bind(bound if bound is not None else cst.Name(name), None, "import", qual)

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None and self.functions:
            self.functions[-1].returns.append((node.value, self.stmts[-1]))

    # ---- sink candidates and facts ------------------------------------------------------------
    def visit_Subscript(self, node: cst.Subscript) -> None:
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            key = node.slice[0].slice.value
            if not _is_literal(key):
                op = "write" if id(node) in self.store_ids else "delete" if id(node) in self.delete_ids else "read"
                self.out.subscripts.append((node, key, op, self.where()))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        left = node.left
        for target in node.comparisons:
            if isinstance(target.operator, (cst.In, cst.NotIn)) and not _is_literal(left):
                container = target.comparator
                if not isinstance(container, (cst.List, cst.Tuple, cst.Set, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                    self.out.contains.append((node, left, container, self.where()))
            left = target.comparator

    def visit_Call(self, node: cst.Call) -> None:
        self.out.calls.append((node, self.where()))
        fn = self.functions[-1] if self.functions else None
        if fn is None:
            return
        func = node.func
        if isinstance(func, cst.Attribute):
            receiver = func.value
            if isinstance(receiver, cst.Name) and receiver.value == self._self_name():
                fn.self_reads.add(func.attr.value)
            elif func.attr.value in _MUTATORS:
                self._note_self_write(receiver)
        name = qualify(dotted(func), self.scope)
        if sources.is_clock_call(node, name):
            for enclosing in self.functions:
                enclosing.reads_time = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self.functions and isinstance(node.value, cst.Name) and node.value.value == self._self_name():
            self.functions[-1].self_reads.add(node.attr.value)


def _flatten(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        found: list[cst.BaseExpression] = []
        for element in target.elements:
            found.extend(_flatten(element.value))
        return found
    return [target]


def _target_names(target: cst.BaseExpression) -> list[cst.Name]:
    return [t for t in _flatten(target) if isinstance(t, cst.Name)]


# Fields that never hold an expression or statement: whitespace, punctuation, parentheses, comments.
_SKIPPED_FIELDS = frozenset(
    {"lpar", "rpar", "comma", "semicolon", "dot", "colon", "equal", "star", "leading_lines", "lines_after_decorators",
     "header", "footer", "newline", "trailing_whitespace", "operator", "asynchronous", "whitespace", "first_line",
     "empty_lines", "lbrace", "rbrace", "lbracket", "rbracket", "default_indent", "default_newline", "indent",
     "encoding", "has_trailing_newline", "arrow", "walrus", "relative", "import_alias", "quote", "prefix",
     "string", "value_quote", "__slots__", "posonly_ind", "first_colon", "second_colon"}
)
# Types whose dataclass field order differs from source order (libcst visits in source order).
_SOURCE_ORDER: dict[str, tuple[str, ...]] = {
    "FunctionDef": ("decorators", "name", "type_parameters", "params", "returns", "body"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "MatchCase": ("pattern", "guard", "body"),
    "Parameters": ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
}


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = getattr(node_type, "__dataclass_fields__", {})
    ordered = _SOURCE_ORDER.get(node_type.__name__)
    if ordered is not None:
        return tuple(name for name in ordered if name in fields)
    return tuple(name for name in fields if name not in _SKIPPED_FIELDS and not name.startswith("whitespace"))


class _Walker:
    """A read-only pre/post-order traversal. libcst's own `visit` rebuilds (and re-validates) every
    node even for a read-only visitor, which costs several times the parse; this walks the dataclass
    fields in order and calls the collector's `visit_<Type>`/`leave_<Type>` methods directly."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.fields: dict[type, tuple[str, ...]] = {}
        self.handlers: dict[type, tuple[object, object]] = {}

    def _handlers(self, node_type: type) -> tuple[object, object]:
        found = self.handlers.get(node_type)
        if found is None:
            name = node_type.__name__
            found = (getattr(self.collector, f"visit_{name}", None), getattr(self.collector, f"leave_{name}", None))
            self.handlers[node_type] = found
            self.fields[node_type] = _child_fields(node_type)
        return found

    def walk(self, node: cst.CSTNode) -> None:
        node_type = type(node)
        visit, leave = self._handlers(node_type)
        if visit is None or visit(node) is not False:  # type: ignore[operator]
            base = cst.CSTNode
            for name in self.fields[node_type]:
                value = getattr(node, name)
                if isinstance(value, base):
                    self.walk(value)
                elif type(value) in (list, tuple):
                    for item in value:
                        if isinstance(item, base):
                            self.walk(item)
        if leave is not None:
            leave(node)  # type: ignore[operator]


def collect(module: cst.Module) -> Collected:
    collector = Collector()
    _Walker(collector).walk(module)
    return collector.out
