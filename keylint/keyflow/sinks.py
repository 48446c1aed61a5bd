"""Turning the collected candidates into key `Sink`s: subscripts, `in` tests, mapping methods, cache
clients, calls of cached functions, configured sinks (`Settings.sinks`) and file names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from keylint.keyflow import sources
from keylint.keyflow.model import FunctionInfo, Sink, Where
from keylint.keyflow.names import dotted, lookup_scope_chain, qualify, source_text

if TYPE_CHECKING:
    from keylint.keyflow.analysis import ModuleAnalysis

# method -> (operation, min positional args, max positional args)
MAPPING_METHODS: dict[str, tuple[str, int, int]] = {
    "get": ("read", 1, 2),
    "setdefault": ("write", 1, 2),
    "pop": ("delete", 1, 2),
    "__contains__": ("read", 1, 1),
    "__getitem__": ("read", 1, 1),
    "__setitem__": ("write", 2, 2),
    "__delitem__": ("delete", 1, 1),
    "add": ("write", 1, 1),
    "discard": ("delete", 1, 1),
}
_DELETE_METHODS = frozenset({"delete", "unlink", "hdel", "srem", "zrem", "pop", "delete_many", "getdel", "discard", "lpop", "rpop"})
_WRITE_METHODS = frozenset(
    ["set", "add", "setex", "setnx", "psetex", "getset", "hset", "hsetnx", "hmset", "sadd", "zadd", "lpush", "rpush", "incr", "decr", "incrby", "decrby", "hincrby", "zincrby", "append", "prepend", "replace", "cas", "touch", "expire", "expireat", "pexpire", "persist", "set_many", "get_or_set", "increment", "expire_at", "memoize"]
)
_FILENAME_CALLS: dict[str, str] = {
    "open": "first", "io.open": "first", "os.open": "first", "builtins.open": "first", "pathlib.Path": "first",
    "os.path.join": "rest", "shelve.open": "first", "dbm.open": "first", "sqlite3.connect": "first",
}


def _operation_for(method: str) -> str:
    if method in _DELETE_METHODS:
        return "delete"
    if method in _WRITE_METHODS:
        return "write"
    return "read"


def classify_client(an: ModuleAnalysis, receiver: cst.BaseExpression, where: Where, depth: int = 0) -> tuple[str, bool] | None:
    """(api, persistent) when `receiver` is a known cache client, by its constructor or its name."""
    if depth > 3:
        return None
    if isinstance(receiver, cst.Subscript):  # django: caches["default"]
        return classify_client(an, receiver.value, where, depth + 1)
    if isinstance(receiver, cst.Call):
        qual = qualify(dotted(receiver.func), where.scope)
        return sources.CLIENT_CONSTRUCTORS.get(qual or "")
    qual = qualify(dotted(receiver), where.scope)
    if qual in sources.CLIENT_CONSTRUCTORS:
        return sources.CLIENT_CONSTRUCTORS[qual]
    values: list[tuple[cst.BaseExpression, Where]] = []
    if isinstance(receiver, cst.Name):
        owner = lookup_scope_chain(where.scope, receiver.value)
        if owner is not None:
            for binding in owner.bindings[receiver.value][:6]:
                if isinstance(binding.value, cst.BaseExpression) and binding.kind in ("assign", "with", "walrus"):
                    values.append((binding.value, Where(owner, binding.stmt)))
    elif isinstance(receiver, cst.Attribute):
        for store in an.collected.attr_stores.get(receiver.attr.value, [])[:6]:
            values.append((store.value, store.where))
    for value, value_where in values:
        if isinstance(value, (cst.Call, cst.Subscript)) or (isinstance(value, (cst.Name, cst.Attribute)) and depth < 2):
            found = classify_client(an, value, value_where, depth + 1)
            if found is not None:
                return found
    name = (receiver.attr.value if isinstance(receiver, cst.Attribute) else receiver.value if isinstance(receiver, cst.Name) else "").lower()
    if name:
        # a short hint only as a word or prefix: `records`, `words`, `cards` end in "rds" but are not Redis
        if any(hint in name.replace("_", " ").split() or name.startswith(hint) or (name.endswith(hint) and len(hint) > 3)
               for hint in sources.PERSISTENT_HINTS if len(hint) > 2):
            return ("redis" if "redis" in name or "rds" in name else "memcache", True)
        if name in ("mc", "_mc", "memcache"):
            return ("memcache", True)
        if "cache" in name:
            return ("cache", False)
    return None


def _is_import(an: ModuleAnalysis, expr: cst.BaseExpression, where: Where) -> bool:
    if isinstance(expr, cst.Name):
        owner = lookup_scope_chain(where.scope, expr.value)
        return owner is not None and any(b.kind == "import" for b in owner.bindings[expr.value])
    return False


def _key_argument(call: cst.Call, index: int | None = 0, keyword: str | None = None) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in ((keyword,) if keyword else ("key", "name")):
            return arg.value
    positional = [a for a in call.args if a.keyword is None]
    if index is not None and index < len(positional) and not positional[index].star:
        return positional[index].value
    return None


def _is_cached(fn: FunctionInfo) -> bool:
    return any(d in sources.CACHE_DECORATORS for d in fn.decorators)


def build_sinks(an: ModuleAnalysis) -> list[Sink]:
    sinks: list[Sink] = []
    for node, key, operation, where in an.collected.subscripts:
        if _is_sequence(an, node.value, where):
            continue  # positional indexing of a tuple/list table is not a key
        client = classify_client(an, node.value, where) if _might_persist(node.value) else None
        sinks.append(Sink(node, key, "subscript", operation, where, node.value, an.mapping_identity(node.value, where),
                          source_text(node.value, 40), bool(client and client[1]), api=client[0] if client else None))
    for comparison, key, container, where in an.collected.contains:
        sinks.append(Sink(comparison, key, "contains", "read", where, container, an.mapping_identity(container, where),
                          source_text(container, 40), False))
    custom = an.settings.sinks
    for call, where in an.collected.calls:
        func = call.func
        qual = qualify(dotted(func), where.scope)
        if custom:
            for spec in custom:
                if qual == spec.function or (isinstance(func, cst.Attribute) and "." not in spec.function and func.attr.value == spec.function) \
                        or (qual and "." in spec.function and qual.endswith("." + spec.function)):
                    custom_key = _key_argument(call, spec.key_arg, spec.key_kwarg or "\0")
                    if custom_key is not None:
                        receiver = func.value if isinstance(func, cst.Attribute) else func
                        sinks.append(Sink(call, custom_key, "custom", "read", where, receiver, an.mapping_identity(receiver, where),
                                          source_text(func, 40), spec.persistent, method=spec.function, api="custom"))
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            client = None
            if method in sources.CLIENT_METHODS:
                client = classify_client(an, receiver, where)
            if client is not None and call.args:
                client_key = _key_argument(call)
                if client_key is not None and not _is_literal_key(client_key):
                    sinks.append(Sink(call, client_key, "cache-client", _operation_for(method), where, receiver,
                                      an.mapping_identity(receiver, where), source_text(receiver, 40), client[1],
                                      method=method, api=client[0]))
                continue
            shape = MAPPING_METHODS.get(method)
            if shape is not None and not any(a.keyword is not None or a.star for a in call.args) \
                    and shape[1] <= len(call.args) <= shape[2] and not _is_import(an, receiver, where) \
                    and not _own_method(an, receiver, where, method):
                key = call.args[0].value
                if not _is_literal_key(key):
                    sinks.append(Sink(call, key, "mapping-method", shape[0], where, receiver,
                                      an.mapping_identity(receiver, where), source_text(receiver, 40), False, method=method))
                continue
        if qual in _FILENAME_CALLS and call.args:
            parts = [a.value for a in call.args if a.keyword is None and not a.star]
            keys = parts[:1] if _FILENAME_CALLS[qual] == "first" else parts[1:]
            for key in keys:
                if not _is_literal_key(key):
                    sinks.append(Sink(call, key, "filename", "write", where, None, None, f"the file name in {qual}()", True, api="file"))
            continue
        if isinstance(func, (cst.Name, cst.Attribute)) and call.args:
            target = an.call_target(call, where)
            if isinstance(target, FunctionInfo) and _is_cached(target):
                skip = 0
                for arg in call.args:
                    if arg.star or _is_literal_key(arg.value):
                        continue
                    sinks.append(Sink(call, arg.value, "cached-call", "read", where, func, f"func:{target.qualname}",
                                      f"the cache of {target.qualname}()", False, api="lru_cache", function=target))
                del skip
    return sinks


_MAPPING_BASES = ("dict", "Dict", "Mapping", "MutableMapping", "OrderedDict", "defaultdict", "UserDict", "set", "MutableSet", "Counter")


def _own_method(an: ModuleAnalysis, receiver: cst.BaseExpression, where: Where, method: str) -> bool:
    """The receiver is an instance of a module class that defines `method` itself (its `get` is not
    a mapping lookup), unless the class is a mapping/set subclass."""
    if not an.classes or not isinstance(receiver, (cst.Name, cst.Attribute)):
        return False
    type_name = an.type_of(an.trace(receiver, where))
    cls = an.classes.get(type_name or "")
    if cls is None or method not in cls.methods:
        return False
    return not any(base.rsplit(".", 1)[-1] in _MAPPING_BASES for base in cls.bases)


_SEQUENCES = (cst.Tuple, cst.List, cst.ListComp, cst.SimpleString, cst.ConcatenatedString)


def _is_sequence(an: ModuleAnalysis, expr: cst.BaseExpression, where: Where) -> bool:
    """`expr` is a tuple/list/str literal, or a name or attribute only ever bound to one."""
    if isinstance(expr, _SEQUENCES):
        return True
    values: list[cst.CSTNode | None] = []
    if isinstance(expr, cst.Name):
        owner = lookup_scope_chain(where.scope, expr.value)
        if owner is None or where.lookup_env(expr.value) is not None:
            return False
        values = [b.value if b.kind == "assign" else None for b in owner.bindings[expr.value]]
    elif isinstance(expr, cst.Attribute):
        attr = expr.attr.value
        values = [s.value if s.flow.value == "value" else None for s in an.collected.attr_stores.get(attr, [])]
        for cls in an.classes.values():
            if attr in cls.class_attrs:
                scope = next((f.scope.parent for f in an.functions if f.cls is cls), None)
                if scope is None:
                    return False
                values += [b.value if b.kind == "assign" else None for b in scope.bindings.get(attr, [])]
    return bool(values) and all(isinstance(v, _SEQUENCES) for v in values)


def _might_persist(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript, cst.Call))


def _is_literal_key(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)):
        return True
    return isinstance(expr, cst.Name) and expr.value in ("None", "True", "False")
