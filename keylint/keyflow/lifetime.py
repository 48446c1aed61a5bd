"""How long a key's table lives compared with the object a key was derived from (KL301/KL302).

An identity key (`id(obj)`, or text carrying `obj`'s address) is only wrong once `obj` is gone and a
new object reuses its address. That needs a table that outlives the object and nothing keeping the
object alive or removing the entry when it dies. Additive helpers on top of `ModuleAnalysis`; they
read only what keyflow already collected.
"""

from __future__ import annotations

import libcst as cst

from keylint.keyflow.analysis import ModuleAnalysis
from keylint.keyflow.escape import escapes
from keylint.keyflow.model import FunctionInfo, Sink, Where
from keylint.keyflow.names import dotted, lookup_scope_chain, qualify, source_text

WEAK_TABLES = frozenset({"weakref.WeakKeyDictionary", "weakref.WeakValueDictionary", "weakref.WeakSet"})
_KEEP_METHODS = frozenset({"append", "add", "appendleft", "insert", "extend"})
_DELETES = frozenset({"pop", "discard", "remove", "__delitem__", "popitem"})


def code(node: cst.CSTNode) -> str:
    return source_text(node, 10_000)


def table_owner(sink: Sink, an: ModuleAnalysis) -> str | None:
    """A phrase naming why the table outlives one call, or None when it dies with the call (a local
    that does not escape) or its lifetime is the caller's business (a parameter)."""
    if sink.persistent:
        return "leaves the process"
    if sink.kind == "cached-call":
        return f"{sink.mapping_label} keeps it"
    root = sink.mapping
    while isinstance(root, cst.Subscript):
        root = root.value
    if root is None:
        return None
    if isinstance(root, cst.Attribute):
        if _reset_per_operation(root, an):
            return None
        return _attribute_owner(root, sink, an)
    if isinstance(root, cst.Name):
        owner = lookup_scope_chain(sink.where.scope, root.value)
        if owner is None:
            return None
        if owner.kind in ("module", "class"):
            return f"`{sink.mapping_label}` is module-level" if owner.kind == "module" else f"`{sink.mapping_label}` is a class attribute"
        kinds = {b.kind for b in owner.bindings.get(root.value, [])}
        if "param" in kinds or owner.function is None:
            return None
        if escapes(owner.function, root.value, an):
            return f"`{sink.mapping_label}` outlives the call that fills it"
        return None
    return None


def _attribute_owner(table: cst.Attribute, sink: Sink, an: ModuleAnalysis) -> str | None:
    """Attribute tables outlive their objects when their owner is long-lived: a class attribute,
    an attribute of a module global or an imported module, or `self.x` of a class the module
    instantiates once at module level. Other objects' lifetimes are not visible: None."""
    receiver = table.value
    label = f"`{sink.mapping_label}`"
    if not isinstance(receiver, cst.Name):
        return None
    where = sink.where
    if _is_self(receiver.value, where):
        fn = where.scope.function
        cls = fn.cls if fn is not None else None
        if cls is None:
            return None
        if table.attr.value in cls.class_attrs and _has_class_value(fn, table.attr.value):
            return f"{label} is a class attribute"
        if any(d.rsplit(".", 1)[-1] == "classmethod" for d in (fn.decorators if fn else [])):
            return f"{label} is a class attribute"
        for binding in (b for bs in an.module_scope.bindings.values() for b in bs):
            value = binding.value
            if binding.kind == "assign" and isinstance(value, cst.Call) and dotted(value.func) == cls.name:
                return f"{label} belongs to the module-level `{binding.name}`"
        return None
    owner = lookup_scope_chain(where.scope, receiver.value)
    if owner is not None and owner.kind == "module":
        return f"{label} is module-level"
    return None


def _has_class_value(fn: FunctionInfo | None, name: str) -> bool:
    """The class body gives `name` a value. An annotation alone (`_seen: dict[int, bool]`, often
    with `__slots__`) declares an instance attribute: each instance's table lives with the instance."""
    class_scope = fn.scope.parent if fn is not None else None
    if class_scope is None or class_scope.kind != "class":
        return True
    return bool(class_scope.bindings.get(name))


def _reset_per_operation(table: cst.Attribute, an: ModuleAnalysis) -> bool:
    """`self.seen = set()` again in a method other than `__init__` (`setUp`, `start_tree`, `reset`):
    the table is scoped to one operation on objects that live through it."""
    for store in an.collected.attr_stores.get(table.attr.value, []):
        fn = store.where.scope.function
        if fn is None or fn.name in ("__init__", "__new__", "__post_init__"):
            continue
        value = store.value
        if (isinstance(value, (cst.Dict, cst.Set, cst.List)) and not getattr(value, "elements", ())) or (
            isinstance(value, cst.Call) and dotted(value.func) in ("dict", "set", "list", "collections.defaultdict", "defaultdict")
            and not value.args[1:]
        ) or (isinstance(value, cst.Name) and value.value == "None"):
            return True
    return False


def _is_self_attr(expr: cst.BaseExpression, where: Where) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and _is_self(expr.value.value, where)


def _is_self(name: str, where: Where) -> bool:
    fn = where.scope.function
    return fn is not None and fn.cls is not None and bool(fn.params) and fn.params[0].name == name


def is_weak_table(sink: Sink, an: ModuleAnalysis) -> bool:
    """The table is a `WeakKeyDictionary`/`WeakValueDictionary`/`WeakSet` (by its assignment)."""
    mapping = sink.mapping
    if mapping is None:
        return False
    values: list[tuple[cst.BaseExpression, Where]] = []
    if isinstance(mapping, cst.Name):
        owner = lookup_scope_chain(sink.where.scope, mapping.value)
        if owner is not None:
            values = [(b.value, Where(owner, b.stmt)) for b in owner.bindings.get(mapping.value, []) if isinstance(b.value, cst.BaseExpression)]
    elif isinstance(mapping, cst.Attribute):
        values = [(s.value, s.where) for s in an.collected.attr_stores.get(mapping.attr.value, [])]
    for value, where in values:
        if isinstance(value, cst.Call) and qualify(dotted(value.func), where.scope) in WEAK_TABLES:
            return True
    return False


def holds_object(value: cst.BaseExpression | None, obj: str, an: ModuleAnalysis, where: Where, depth: int = 0) -> bool:
    """Does the stored value keep the object (source text `obj`) alive: the object itself, a
    collection holding it, or an instance constructed from it?"""
    if value is None or depth > 4:
        return False
    if code(value) == obj:
        return True
    if isinstance(value, (cst.Tuple, cst.List, cst.Set)):
        return any(holds_object(e.value, obj, an, where, depth + 1) for e in value.elements)
    if isinstance(value, cst.Dict):
        return any(holds_object(e.value, obj, an, where, depth + 1) for e in value.elements if isinstance(e, cst.DictElement))
    if isinstance(value, cst.Call):
        name = dotted(value.func) or ""
        constructs = name.rsplit(".", 1)[-1][:1].isupper() or name in an.classes or name in ("dict", "list", "tuple")
        qual = qualify(name, where.scope) or ""
        if qual in ("weakref.ref", "weakref.proxy", "weakref.WeakMethod") and value.args and code(value.args[0].value) == obj:
            return True  # the entry can tell that its object died
        if constructs and not qual.startswith("weakref."):
            return any(holds_object(a.value, obj, an, where, depth + 1) for a in value.args)
    return False


def stored_value(sink: Sink) -> cst.BaseExpression | None:
    """The value a write sink stores: `m[k] = v`, `m.setdefault(k, v)`, `m.__setitem__(k, v)`."""
    if sink.operation != "write":
        return None
    if sink.kind == "subscript":
        anchor = sink.statement
        if isinstance(anchor, cst.SimpleStatementLine):
            for small in anchor.body:
                if isinstance(small, cst.Assign) and any(t.target is sink.node for t in small.targets):
                    return small.value
                if isinstance(small, cst.AnnAssign) and small.target is sink.node:
                    return small.value
        return None
    if isinstance(sink.node, cst.Call) and sink.method in ("setdefault", "__setitem__") and len(sink.node.args) > 1:
        return sink.node.args[1].value
    return None


def kept_alive_in_function(obj: str, where: Where, an: ModuleAnalysis) -> bool:
    """The function doing the write also keeps `obj` in some container (a keep-alive list:
    `keep.append(obj)`, `_keep_alive(obj, memo)`)."""
    fn = where.scope.function
    if fn is None:
        return False
    for call, call_where in an.collected.calls:
        if call_where.scope.function is not fn:
            continue
        func = call.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
        if name in _KEEP_METHODS or "keep_alive" in name.lower() or "keepalive" in name.lower():
            if any(code(a.value) == obj for a in call.args):
                return True
    return False


def held_by_sibling_write(sink: Sink, obj: str, an: ModuleAnalysis) -> bool:
    """Another write in the same function under the same key text stores the object
    (`id_to_obj[ident] = (obj, ...)` next to `id_to_refcount[ident] = 0`)."""
    fn = sink.where.scope.function
    key = code(sink.key)
    for other in an.sinks:
        if other is sink or other.operation != "write" or other.where.scope.function is not fn or code(other.key) != key:
            continue
        if holds_object(stored_value(other), obj, an, other.where):
            return True
    return False


def removed_in_same_call(sink: Sink, an: ModuleAnalysis) -> bool:
    """The same function also deletes from the same table (`add` ... `finally: discard`): the entry
    lives only while the call runs (recursion guards in repr/encoders)."""
    fn = sink.where.scope.function
    if fn is None or sink.mapping is None:
        return False
    label = code(sink.mapping)
    for other in an.sinks:
        if other is sink or other.where.scope.function is not fn or other.mapping is None:
            continue
        if other.operation == "delete" and code(other.mapping) == label:
            return True
    for call, call_where in an.collected.calls:  # `seen.remove(k)` / `del`-like helpers
        func = call.func
        if call_where.scope.function is fn and isinstance(func, cst.Attribute) and func.attr.value in _DELETES \
                and code(func.value) == label:
            return True
    return False


def finalizer_cleans(sink: Sink, an: ModuleAnalysis) -> bool:
    """A `weakref.finalize(obj, ...)` or `weakref.ref(obj, callback)` in the module removes entries
    from this table: its arguments name the table (`table.pop`, `self._m.__delitem__`) or its
    callback is a function of this module that deletes from the table."""
    if sink.mapping is None:
        return False
    label = code(sink.mapping)
    target_id = sink.mapping_id
    deleters = _functions_deleting_from(sink.mapping, target_id, an)
    for call, where in an.collected.calls:
        qual = qualify(dotted(call.func), where.scope)
        if qual not in ("weakref.finalize", "weakref.ref", "weakref.proxy", "weakref.WeakMethod"):
            continue
        for arg in call.args[1:]:
            value = arg.value
            while isinstance(value, cst.Attribute):
                if code(value) == label or (target_id is not None and an.mapping_identity(value, where) == target_id):
                    return True
                value = value.value
            name = value.value if isinstance(value, cst.Name) else None
            if name is not None and (name == label or name in deleters):
                return True
            if isinstance(arg.value, cst.Attribute) and arg.value.attr.value in deleters:
                return True
            if isinstance(arg.value, (cst.Lambda,)) and label in code(arg.value):
                return True
    return False


def _functions_deleting_from(table: cst.BaseExpression, target_id: str | None, an: ModuleAnalysis) -> set[str]:
    label = code(table)
    attr = table.attr.value if isinstance(table, cst.Attribute) else None
    names: set[str] = set()
    for sink in an.sinks:
        mapping = sink.mapping
        if sink.operation == "delete" and mapping is not None and sink.where.scope.function is not None:
            if code(mapping) == label or (target_id is not None and sink.mapping_id == target_id) or (
                attr is not None and isinstance(mapping, cst.Attribute) and mapping.attr.value == attr
            ):  # `local.dicts.pop(key)` in a callback cleans `self.dicts`
                names.add(sink.where.scope.function.name)
    return names


def long_lived_object(expr: cst.BaseExpression, sink: Sink, an: ModuleAnalysis) -> bool:
    """The object lives at least as long as the table: `self` keyed in its own table, a module-level
    function, class or import, a class (`type(x)`, `x.__class__`)."""
    where = sink.where
    if isinstance(expr, cst.Call) and dotted(expr.func) == "type":
        return True
    if isinstance(expr, cst.Attribute) and expr.attr.value == "__class__":
        return True
    if isinstance(expr, cst.Name):
        if _is_self(expr.value, where):
            return _is_self_attr(sink.mapping, where) if sink.mapping is not None else False
        owner = lookup_scope_chain(where.scope, expr.value)
        return owner is not None and owner.kind == "module"  # module globals live as long as the module
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        owner = lookup_scope_chain(where.scope, expr.value.value)
        return owner is not None and owner.kind == "module" and any(
            b.kind == "import" for b in owner.bindings.get(expr.value.value, []))  # `mod.func`
    return False
