"""The screen's table questions, as keyflow answers them: could a container be a cache client
(`sinks.classify_client`), a persistent one, and does a table surely die with the call that fills it
(`lifetime.table_owner` is None)? Answered on the facts `screen._Screen` collected, after its walk;
each answer may only say "no" where keyflow surely does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from keylint.screen_tables import dotted

if TYPE_CHECKING:
    from keylint.screen import _Screen

MODULE = 0  # the module's scope, as `screen.MODULE` (imported there: not importable from it here)


class TableOwners:
    """Sorts the screen's mapping uses into key lists: persistent or plain sinks, reads, and keys of
    tables no owner outlives (KL301 and KL302 do not report those)."""

    def __init__(self, screen: _Screen) -> None:
        self.sc = screen
        self._client_memo: dict[tuple[str, int, bool], bool] = {}
        self._bound: dict[str, list[ast.expr]] | None = None
        self._resets: frozenset[str] | None = None
        self._instances: frozenset[str] | None = None
        self._escaping: dict[int, frozenset[str] | None] = {}
        self._located: dict[tuple[str, int], tuple[str, int]] = {}

    def classify(self) -> None:
        for node, scope in self.sc.client_calls:
            # keyflow: a cache client's key is its first positional argument or `key=`/`name=`
            if isinstance(node.func, ast.Attribute) and self.client_receiver(node.func.value):
                first = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
                keys = [k.value for k in node.keywords if k.arg in ("key", "name")]
                self.sc.sink_keys.extend((k, scope) for k in ([first] if first is not None else []) + keys)
        for container, key, scope, write, subscript in self.sc.table_uses:
            # only a subscript on a persistent client is a persistent sink (`in` tests and mapping
            # methods never are): lifetimes and "reads follow the writes" do not apply to it
            if subscript and self.sc.persistent_client and self.client_receiver(container, persistent=True):
                self.sc.sink_keys.append((key, scope))
            elif self.ownerless(container, scope):
                self.sc.ownerless_keys.append((key, scope))
            elif (local := self.local_table(container, scope)) is not None:
                self.sc.local_keys.append((key, scope, write, *local))
            else:
                (self.sc.sink_keys if write else self.sc.read_keys).append((key, scope))

    def ownerless(self, container: ast.expr, scope: int) -> bool:
        """keyflow's `lifetime.table_owner` is surely None for this container (never for a persistent
        client): its root is neither a name nor an attribute; a name that is a parameter where it is
        bound; an attribute reset to an empty table outside `__init__`, of a receiver that is not a
        name or is bound in a function, or `self.x` of a class that is neither instantiated at module
        level nor gives `x` a class-level value (and not in a class method)."""
        root = container
        while isinstance(root, ast.Subscript):
            root = root.value
        if isinstance(root, ast.Name):
            return self.resolve(root.id, scope) == "param"
        if not isinstance(root, ast.Attribute):
            return True
        if root.attr in self.reset_attrs():
            return True
        receiver = root.value
        if not isinstance(receiver, ast.Name):
            return True
        fn = self.def_scope(scope)
        if fn >= 0 and self.sc.receiver_of(fn) == receiver.id:  # keyflow's `_is_self`
            cls_scope = self.sc.parents[fn]
            names = self.sc.decorator_names(self.sc.method_nodes[fn])
            classmethod = any(n.rsplit(".", 1)[-1] == "classmethod" for found in names for n in found)
            return not (root.attr in self.sc.maybe_bound.get(cls_scope, ()) or cls_scope in self.sc.loose_scopes or classmethod
                        or self.sc.class_of.get(cls_scope, "") in self.module_instances())
        return self.resolve(receiver.id, scope) in ("param", "local")

    def local_table(self, container: ast.expr, scope: int) -> tuple[str, int] | None:
        """The name and def scope of a table that is a local of a def (`stays_local` may then find it
        dies with the call), or None."""
        root = container
        while isinstance(root, ast.Subscript):
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        where, owner = self.locate(root.id, scope)
        return (root.id, owner) if where == "local" else None

    def client_receiver(self, expr: ast.expr, depth: int = 0, persistent: bool = False) -> bool:
        """Could keyflow's `classify_client` take `expr` for a cache client: a client module's
        constructor, a value bound to its name (or stored in its attribute) that could be one, or a
        name hint (`redis_conn`, `_mc`, `page_cache`)? `persistent`: one keyflow marks persistent."""
        if depth > 3:
            return False
        if isinstance(expr, ast.Subscript):  # django: caches["default"]
            return self.client_receiver(expr.value, depth + 1, persistent)
        modules = self.sc.t["PERSISTENT_CLIENT_MODULES" if persistent else "CLIENT_MODULES"]
        if any(q.split(".", 1)[0] in modules for q in self.sc._quals(expr.func if isinstance(expr, ast.Call) else expr)):
            return True
        if isinstance(expr, ast.Name):
            label, name = expr.id, expr.id
        elif isinstance(expr, ast.Attribute):
            label, name = "a:" + expr.attr, expr.attr
        else:
            return False
        memo = (label, depth, persistent)  # a name's answer depends on its label alone (and the depth)
        known = self._client_memo.get(memo)
        if known is None:
            known = self._client_memo[memo] = self._client_values(label, name, depth, persistent)
        return known

    def _client_values(self, label: str, name: str, depth: int, persistent: bool) -> bool:
        for value in self.bound_values().get(label, []):
            for item in (value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]):  # `a, b = x(), y()`
                followed = isinstance(item, (ast.Call, ast.Subscript)) or (isinstance(item, (ast.Name, ast.Attribute)) and depth < 2)
                if followed and self.client_receiver(item, depth + 1, persistent):
                    return True
        return _client_name(name.lower(), self.sc.t["PERSISTENT_HINTS"], persistent)

    def bound_values(self) -> dict[str, list[ast.expr]]:
        """Values bound to each name (in any scope) and stored in each attribute ("a:name")."""
        found = self._bound
        if found is None:
            found = {}
            for var, expr, _ in self.sc.equations:
                found.setdefault(var[1] if isinstance(var, tuple) else var, []).append(expr)
            self._bound = found
        return found

    def def_scope(self, scope: int) -> int:
        """The def a scope's code runs in (keyflow's `where.scope.function`), or -1."""
        while scope >= 0 and scope in self.sc.lambdas:
            scope = self.sc.parents[scope]
        return scope if scope > MODULE and not self.sc.is_class[scope] else -1

    def resolve(self, name: str, scope: int) -> str:
        """Where keyflow's `lookup_scope_chain` surely finds `name`: "param" (a parameter of a def),
        "local" (surely assigned in a def), or "other" (the module, a class, or not sure)."""
        return self.locate(name, scope)[0]

    def locate(self, name: str, scope: int) -> tuple[str, int]:
        """`resolve`, and the scope that binds the name (-1 for "other")."""
        known = self._located.get((name, scope))
        if known is None:
            known = self._located[(name, scope)] = self._locate(name, scope)
        return known

    def _locate(self, name: str, scope: int) -> tuple[str, int]:
        first = True
        while scope >= 0:
            if name in self.sc.globals.get(scope, ()) or name in self.sc.nonlocals.get(scope, ()):
                return "other", -1
            if scope in self.sc.lambdas:  # no keyflow scope: its parameters bind nothing there
                if name in self.sc.maybe_bound.get(scope, ()):
                    return "other", -1  # a walrus: bound in the enclosing def
            elif scope == MODULE or self.sc.is_class[scope]:
                if scope == MODULE or (first and (name in self.sc.maybe_bound.get(scope, ()) or scope in self.sc.loose_scopes)):
                    return "other", -1
            else:
                if name in self.sc.params.get(scope, ()):
                    return "param", scope
                if name in self.sc.assigned.get(scope, ()):
                    return "local", scope
                if name in self.sc.maybe_bound.get(scope, ()) or scope in self.sc.loose_scopes:
                    return "other", -1
            if scope not in self.sc.lambdas:
                first = False  # keyflow's first scope is the def (or class body) a lambda sits in
            scope = self.sc.parents[scope]
        return "other", -1

    def stays_local(self, name: str, scope: int) -> bool:
        """keyflow's `escapes` is surely False for this local of a def: every mention of the name in
        the def is a binding, a container (`t[k]`, `k in t`, `t.get(k)`), or `len(t)`, and no nested
        def, lambda or class mentions it (a capture may outlive the call)."""
        escaping = self._escaping.get(scope)
        if escaping is None:
            escaping = self._escaping[scope] = self._escaping_names(scope)
        return escaping is not None and name not in escaping

    def _escaping_names(self, scope: int) -> frozenset[str] | None:
        """The names a def mentions other than as `stays_local` allows (None: not a def)."""
        from keylint.screen import _CHILD_FIELDS, _child_fields

        node = self.sc.def_nodes.get(scope)
        if node is None:
            return None
        builtin_len = "len" not in self.sc.maybe_bound.get(MODULE, ())
        args = node.args
        found: set[str] = set()
        # the whole def, as keyflow's escape analysis walks it (a decorator mentioning the name escapes)
        todo: list[tuple[ast.AST, bool]] = [(n, False) for n in
                                            (*node.body, *node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d))]
        while todo:
            parent, nested = todo.pop()
            kind = type(parent)
            if kind in _NESTED_SCOPES:
                nested = True
            elif nested and (kind is ast.Global or kind is ast.Nonlocal):
                found.update(parent.names)  # type: ignore[attr-defined]
            for field in _CHILD_FIELDS.get(kind) or _child_fields(kind):
                value: Any = getattr(parent, field, None)
                for child in value if type(value) is list else (value,):
                    child_kind = type(child)
                    if child_kind is ast.Name:
                        if nested or (type(child.ctx) is ast.Load and not _container_use(parent, field, builtin_len)):
                            found.add(child.id)
                    elif isinstance(child, ast.AST):
                        todo.append((child, nested))
        return frozenset(found)

    def reset_attrs(self) -> frozenset[str]:
        """keyflow's `_reset_per_operation`: `x.attr = {}` (or `set()`, `None`...) in a def other than
        `__init__`/`__new__`/`__post_init__`: a table scoped to one operation."""
        found = self._resets
        if found is None:
            names: set[str] = set()
            for var, expr, scope in self.sc.equations:
                if isinstance(var, str) and var.startswith("a:") and not self.sc.is_class[scope]:
                    fn = self.def_scope(scope)
                    if fn >= 0 and self.sc.fn_names.get(fn) not in ("__init__", "__new__", "__post_init__") and _empty_table(expr):
                        names.add(var[2:])
            found = self._resets = frozenset(names)
        return found

    def module_instances(self) -> frozenset[str]:
        """Names of classes a module-level assignment instantiates (`NAME = Class(...)`)."""
        found = self._instances
        if found is None:
            names: set[str] = set()
            for var, expr, scope in self.sc.equations:
                # module level, or a def's `global NAME` (keyflow binds those in the module)
                if isinstance(var, tuple) and (var[0] == MODULE or var[1] in self.sc.globals.get(var[0], ())):
                    for value in (expr.elts if isinstance(expr, (ast.Tuple, ast.List)) else [expr]):
                        if isinstance(value, ast.Call):
                            called = dotted(value.func)
                            if called is not None:
                                names.add(called)
            found = self._instances = frozenset(names)
        return found


_RESET_CALLS = frozenset({"dict", "set", "list", "collections.defaultdict", "defaultdict"})
_NESTED_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})


def _container_use(parent: ast.AST, field: str, builtin_len: bool) -> bool:
    """A read of a table that keyflow's escape analysis does not follow: its subscript, attribute
    (`t.get`), a comparison operand (`k in t`), or the argument of the builtin `len`."""
    if isinstance(parent, (ast.Subscript, ast.Attribute)):
        return field == "value"
    if isinstance(parent, ast.Compare):
        return True
    return builtin_len and isinstance(parent, ast.Call) and field == "args" and isinstance(parent.func, ast.Name) \
        and parent.func.id == "len" and len(parent.args) == 1 and not parent.keywords


def _empty_table(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Dict):
        return not expr.keys
    if isinstance(expr, ast.List):
        return not expr.elts
    if isinstance(expr, ast.Constant):
        return expr.value is None
    return isinstance(expr, ast.Call) and dotted(expr.func) in _RESET_CALLS and len(expr.args) + len(expr.keywords) <= 1


def _client_name(name: str, hints: Iterable[str], persistent: bool = False) -> bool:
    """keyflow's name hints for a cache client (`classify_client`); a plain `cache` is not persistent."""
    if any(hint in name.replace("_", " ").split() or name.startswith(hint) or (name.endswith(hint) and len(hint) > 3)
           for hint in hints if len(hint) > 2):
        return True
    return name in ("mc", "_mc", "memcache") or (not persistent and "cache" in name)
