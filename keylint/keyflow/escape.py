"""Does a call-local value (a table, or a function that captures it) outlive the call? (KL301/KL302)

A value escapes when it is stored where the call cannot drop it: returned or yielded, assigned to an
attribute, a subscript, a global or nonlocal, put in a container that itself escapes, decorated, or
handed to an API that keeps or defers callables (`Thread(target=f)`, `executor.submit(f)`,
`loop.call_later(1, f)`, `atexit.register(f)`, `obj.connect(f)`, ...). Passing it to an ordinary call
(`node._copy_internals(clone=clone)`, a per-call visitor walking objects the caller holds) does not:
the callee uses it during the call. A module function's parameter is followed one level deep.
"""

from __future__ import annotations

import libcst as cst

from keylint.keyflow.analysis import ModuleAnalysis
from keylint.keyflow.model import FunctionInfo
from keylint.keyflow.names import dotted, qualify

# Qualified callables that keep or schedule what they are given.
DEFERRING_FUNCTIONS = frozenset({
    "threading.Thread", "threading.Timer", "multiprocessing.Process", "_thread.start_new_thread",
    "asyncio.create_task", "asyncio.ensure_future", "asyncio.run_coroutine_threadsafe", "atexit.register",
    "signal.signal", "weakref.finalize", "setattr", "sys.settrace", "sys.setprofile", "threading.settrace",
    "threading.setprofile", "copyreg.pickle", "contextlib.ExitStack.callback",
})
# Methods, on any receiver, that register, store or schedule their argument.
DEFERRING_METHODS = frozenset({
    "submit", "map", "starmap", "imap", "imap_unordered", "apply_async", "map_async",
    "call_soon", "call_soon_threadsafe", "call_later", "call_at", "run_in_executor", "create_task",
    "ensure_future", "add_done_callback", "add_callback", "add_timeout", "add_reader", "add_writer",
    "add_signal_handler", "spawn", "start_soon", "schedule", "enter", "enterabs", "callLater",
    "addCallback", "addCallbacks", "addBoth", "addErrback", "callback", "push",
    "append", "appendleft", "add", "insert", "extend", "put", "put_nowait", "setdefault", "update",
    "register", "connect", "subscribe", "on", "listen", "add_listener", "add_handler", "__setattr__",
    "settrace", "setprofile", "finalize", "signal", "set",
})
# Last names of callables that keep their argument inside the object they return.
_WRAPPERS = frozenset({"partial", "partialmethod", "map", "filter", "MethodType", "wraps", "staticmethod", "classmethod"})
# Expressions whose value contains their child's value.
_CARRIERS = (cst.Tuple, cst.List, cst.Set, cst.Dict, cst.Element, cst.StarredElement, cst.DictElement,
             cst.StarredDictElement, cst.BooleanOperation, cst.BinaryOperation, cst.ListComp, cst.SetComp,
             cst.DictComp, cst.GeneratorExp, cst.Lambda)


def escapes(fn: FunctionInfo, name: str, an: ModuleAnalysis, depth: int = 0) -> bool:
    """`name`, local to `fn` (or a parameter), outlives the call: directly, through a local alias, or
    through a nested function or lambda that captures it."""
    parents = _Parents()
    fn.node.visit(parents)
    tracked = {name}
    for _ in range(8):
        grown = set(tracked)
        for node in parents.order:
            if isinstance(node, cst.FunctionDef) and node is not fn.node and node.name.value not in grown \
                    and _mentions(node, grown, skip_name=True):
                grown.add(node.name.value)
        for node in parents.order:
            value = _tracked_value(node, grown, parents)
            if value is None:
                continue
            if isinstance(value, cst.FunctionDef):
                if value.decorators:
                    return True  # a decorator receives (and may register) the function
                continue
            outcome = _climb(value, parents, fn, an, depth)
            if outcome is True:
                return True
            if isinstance(outcome, str):
                grown.add(outcome)
        if grown == tracked:
            return False
        tracked = grown
    return True  # aliasing that keeps growing: assume the worst


def _tracked_value(node: cst.CSTNode, tracked: set[str], parents: _Parents) -> cst.CSTNode | None:
    """`node` as a use of a tracked value: a name read, a lambda capturing one, or a nested def."""
    if isinstance(node, cst.Name) and node.value in tracked and _is_read(node, parents):
        return node
    if isinstance(node, cst.Lambda) and _mentions(node.body, tracked):
        return node
    if isinstance(node, cst.FunctionDef) and node.name.value in tracked:
        return node
    return None


def _is_read(node: cst.Name, parents: _Parents) -> bool:
    parent = parents.of(node)
    if isinstance(parent, cst.Attribute):
        return parent.value is node
    if isinstance(parent, cst.Arg):
        return parent.value is node
    if isinstance(parent, cst.Param):
        return parent.default is node
    if isinstance(parent, (cst.AssignTarget, cst.NameItem, cst.FunctionDef, cst.ClassDef,
                           cst.ImportAlias, cst.AsName)):
        return False
    if isinstance(parent, (cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.NamedExpr)):
        return getattr(parent, "target", None) is not node
    return True


def _climb(node: cst.CSTNode, parents: _Parents, fn: FunctionInfo, an: ModuleAnalysis, depth: int) -> bool | str | None:
    """Follow the value up its expression: True when it escapes, a local name it is aliased to, or None."""
    child = node
    parent = parents.of(child)
    while parent is not None:
        if isinstance(parent, (cst.Return, cst.Yield, cst.Decorator)):
            return True
        if isinstance(parent, cst.IfExp):
            if parent.test is child:
                return None
        elif isinstance(parent, _CARRIERS):
            if isinstance(parent, (cst.ListComp, cst.SetComp, cst.GeneratorExp)) and parent.elt is not child:
                return None
            if isinstance(parent, cst.DictComp) and child not in (parent.key, parent.value):
                return None
        elif isinstance(parent, cst.Arg):
            pass
        elif isinstance(parent, cst.Call):
            if parent.func is child:
                return None  # called, not stored
            verdict = _call_keeps(parent, child, fn, an, depth)
            if verdict is not None:
                return verdict
            # a wrapper (`partial(f)`, a class instance built from it) carries it on
        elif isinstance(parent, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
            return _stored(parent, parents, fn)
        elif isinstance(parent, cst.Param):  # a default value: the function holding it carries it
            enclosing = parents.enclosing_def(parent)
            if not isinstance(enclosing, cst.Lambda):
                return None if enclosing is None or enclosing is fn.node else enclosing.name.value
            parent = enclosing
        else:
            return None  # an attribute read, a subscript, a comparison, a statement: used, not kept
        child, parent = parent, parents.of(parent)
    return None


def _call_keeps(call: cst.Call, arg: cst.CSTNode, fn: FunctionInfo, an: ModuleAnalysis, depth: int) -> bool | None:
    """True: the callee keeps or defers its argument. False: it only uses it during the call.
    None: the call's result carries the argument (a wrapper or a constructor), look further up."""
    name = dotted(call.func) or ""
    qual = qualify(name, fn.scope) or name
    last = name.rsplit(".", 1)[-1]
    if qual in DEFERRING_FUNCTIONS or last in ("Thread", "Timer", "Process"):
        return True
    if isinstance(call.func, cst.Attribute) and last in DEFERRING_METHODS:
        return True
    if last in _WRAPPERS or (last[:1].isupper() and last not in ("cast", "TypeVar")):
        return None
    target = an.module_function(name) if isinstance(call.func, cst.Name) else None
    if target is not None and depth < 2 and isinstance(arg, cst.Arg):
        param = _bound_param(call, arg, target)
        return param is not None and escapes(target, param, an, depth + 1)
    return False


def _bound_param(call: cst.Call, arg: cst.Arg, target: FunctionInfo) -> str | None:
    if arg.keyword is not None:
        return arg.keyword.value if any(p.name == arg.keyword.value for p in target.params) else None
    if arg.star:
        return None
    position = [a for a in call.args if a.keyword is None and not a.star].index(arg)
    for param in target.params:
        if param.index == position and not param.star:
            return param.name
    return None


def _stored(stmt: cst.CSTNode, parents: _Parents, fn: FunctionInfo) -> bool | str | None:
    targets: list[cst.BaseExpression]
    if isinstance(stmt, cst.Assign):
        targets = [t.target for t in stmt.targets]
    elif isinstance(stmt, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
        targets = [stmt.target]
    else:
        return None
    alias: str | None = None
    for target in targets:
        if not isinstance(target, cst.Name) or target.value in parents.declared_outer:
            return True  # an attribute, a subscript, a tuple unpacking, a global: kept beyond the call
        alias = target.value
    return alias


def _mentions(node: cst.CSTNode, names: set[str], skip_name: bool = False) -> bool:
    finder = _Finder(names)
    if skip_name and isinstance(node, cst.FunctionDef):
        node.params.visit(finder)
        node.body.visit(finder)
        for deco in node.decorators:
            deco.visit(finder)
    else:
        node.visit(finder)
    return finder.found


class _Finder(cst.CSTVisitor):
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        self.found |= node.value in self.names


class _Parents(cst.CSTVisitor):
    """Parent links, nodes in visit order, and names declared `global`/`nonlocal` in the function."""

    def __init__(self) -> None:
        self.stack: list[cst.CSTNode] = []
        self.parent: dict[int, cst.CSTNode] = {}
        self.order: list[cst.CSTNode] = []
        self.declared_outer: set[str] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.parent[id(node)] = self.stack[-1]
        self.stack.append(node)
        self.order.append(node)
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            self.declared_outer.update(item.name.value for item in node.names)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()

    def of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parent.get(id(node))

    def enclosing_def(self, node: cst.CSTNode) -> cst.FunctionDef | cst.Lambda | None:
        current = self.of(node)
        while current is not None and not isinstance(current, (cst.FunctionDef, cst.Lambda)):
            current = self.of(current)
        return current
