"""KL701 method-cache: `functools.lru_cache`/`cache` (and `cachetools.cached`, `async_lru.alru_cache`) on an
instance method, whose cache keys every entry by `self`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import libcst as cst

from keylint.diagnostics import Edit, Fix
from keylint.keyflow import ClassInfo, FunctionInfo, ModuleAnalysis
from keylint.keyflow.names import dotted, qualify
from keylint.keyflow.uses import use_index
from keylint.rule import Finding, Invalid, NodeEdit, NodeFix, Rule, Valid

_STD_CACHES = frozenset({"functools.lru_cache", "functools.cache"})
_METHOD_CACHES = _STD_CACHES | frozenset({
    "cachetools.cached", "cachetools.func.lru_cache", "cachetools.func.ttl_cache", "cachetools.func.lfu_cache",
    "cachetools.func.rr_cache", "cachetools.func.fifo_cache", "cachetools.func.mru_cache", "async_lru.alru_cache",
})
_IMPLICIT_CLASS_METHODS = frozenset({"__new__", "__init_subclass__", "__class_getitem__"})
_CLASS_PARAMS = frozenset({"cls", "mcs", "mcls", "metacls", "klass"})  # a first parameter that receives the class
_STATIC_OR_CLASS = frozenset({"staticmethod", "classmethod", "builtins.staticmethod", "builtins.classmethod"})
_METACLASS_BASES = frozenset({"type", "abc.ABCMeta", "ABCMeta", "enum.EnumMeta", "enum.EnumType", "EnumMeta"})


class MethodCache(Rule):
    code = "KL701"
    name = "method-cache"
    summary = "`functools.lru_cache`/`cache` on an instance method keys its cache by `self` and keeps instances alive"
    what = (
        "Checks for `functools.lru_cache`, `functools.cache`, `cachetools.cached` (without a `key=` that "
        "could leave `self` out), the `cachetools.func` caches and `async_lru.alru_cache` applied to an "
        "instance method. Not reported: static and class methods (also a first parameter named `cls`, "
        "or a `classproperty`-style decorator), methods of enum classes and "
        "metaclasses, classes only instantiated at module level (a fixed set of instances that live "
        "as long as the module anyway), and bounded caches on value types (a `NamedTuple`, a frozen "
        "dataclass, a class defining `__hash__`): equal instances share entries by design and the bound "
        "caps what is kept. `functools.cache` (unbounded) on a value type is still reported."
    )
    why = (
        "The cache belongs to the function, which lives as long as the class; every entry's key holds "
        "`self` and the arguments. Each instance the method is called on, a per-request handler, a "
        "connection, a parsed document, stays alive in the cache after the program dropped it: with "
        "`functools.cache` forever, with `lru_cache` until enough newer calls evict it. Equal instances "
        "also share entries, so `__eq__`/`__hash__` decide which results you get. A per-instance cache "
        "(`functools.cached_property` for a method without arguments, or a dict stored on the instance) "
        "is freed with its instance.\n\n"
        "Fix safety: the suggested `cached_property` fix is unsafe. It stores the result per instance "
        "(equal instances no longer share it), drops `cache_clear()`, and turns `obj._m()` into "
        "`obj._m`; it is offered only for a private method whose every use is a call on `self` in this "
        "module (the calls are rewritten too), or for a method already wrapped in `@property`."
    )
    example = '''\
import functools

class ReportRequest:
    def __init__(self, db, user_id):
        self.db = db
        self.user_id = user_id

    @functools.lru_cache(maxsize=None)
    def _permissions(self):  # every ReportRequest ever made stays in this cache
        return self.db.load_permissions(self.user_id)

    def can_view(self, report):
        return report.acl in self._permissions()
'''
    use_instead = '''\
import functools

class ReportRequest:
    def __init__(self, db, user_id):
        self.db = db
        self.user_id = user_id

    @functools.cached_property
    def _permissions(self):  # computed once per instance, freed with it
        return self.db.load_permissions(self.user_id)

    def can_view(self, report):
        return report.acl in self._permissions
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('import functools\n\nclass Parser:\n    @staticmethod\n    @functools.lru_cache(maxsize=256)\n    def compile(pattern):\n        return pattern\n', "staticmethod"),
        Valid('import functools\n\nclass Codec:\n    @classmethod\n    @functools.cache\n    def table(cls):\n        return {}\n', "classmethod"),
        Valid('import enum\nimport functools\n\nclass Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n\n    @functools.cache\n    def label(self):\n        return self.name.title()\n', "enum members live forever anyway"),
        Valid('import functools\n\nclass _Registry:\n    @functools.lru_cache(maxsize=None)\n    def lookup(self, name):\n        return name.upper()\n\nregistry = _Registry()\n', "a module-level singleton"),
        Valid('import functools\n\n@functools.lru_cache(maxsize=128)\ndef parse(text):\n    return text.split()\n\nclass Doc:\n    def words(self):\n        return parse(self.text)\n', "a module function"),
        Valid('import functools\n\nclass Doc:\n    def __init__(self, text):\n        self.text = text\n\n    @functools.cached_property\n    def words(self):\n        return self.text.split()\n', "cached_property is per instance"),
        Valid('import cachetools\n\nclass Rates:\n    def __init__(self, api):\n        self.api = api\n\n    @cachetools.cachedmethod(lambda self: self._cache)\n    def rate(self, currency):\n        return self.api.get(currency)\n', "cachetools.cachedmethod: a per-instance cache"),
        Valid('import cachetools\nfrom cachetools.keys import hashkey\n\nclass Client:\n    @cachetools.cached(cache=cachetools.TTLCache(64, 30), key=lambda self, name: hashkey(name))\n    def resolve(self, name):\n        return name\n', "a key function that leaves self out"),
        Valid('import functools\n\nclass Meta(type):\n    @functools.lru_cache(maxsize=None)\n    def fields(cls):\n        return list(vars(cls))\n', "metaclass: the instances are classes"),
        Valid('import functools\n\ndef make_handler():\n    @functools.lru_cache(maxsize=32)\n    def handle(key):\n        return key\n    return handle\n', "a nested function is not a method"),
        Valid('import functools\n\nclass Tools:\n    @functools.lru_cache(maxsize=8)\n    def __new__(cls, name):\n        return super().__new__(cls)\n', "__new__ receives the class"),
        Valid('from functools import lru_cache\n\ndef lru_cache_clear():\n    pass\n\nclass Settings:\n    def value(self):\n        return lru_cache_clear()\n', "no decorator at all"),
        Valid('import functools\n\nclass Config:\n    @functools.lru_cache()\n    def get(self, key):\n        return key\n\nDEFAULT = Config()\nSTRICT = Config()\n', "only module-level instances"),
        Valid('import functools\n\nclass Address:\n    def __init__(self, ip):\n        self._ip = ip\n\n    def __hash__(self):\n        return hash(self._ip)\n\n    @property\n    @functools.lru_cache()\n    def is_private(self):\n        return self._ip.startswith("10.")\n', "bounded memo on a value type (ipaddress)"),
        Valid('import functools\nfrom typing import NamedTuple\n\nclass Color(NamedTuple):\n    r: int\n    g: int\n    b: int\n\n    @functools.lru_cache(maxsize=1024)\n    def downgrade(self, system):\n        return self\n', "bounded memo on a NamedTuple (rich)"),
        Valid('import functools\nfrom django.utils.functional import classproperty\n\nclass Expression:\n    @classproperty\n    @functools.lru_cache(maxsize=128)\n    def _constructor_signature(cls):\n        return cls.__init__\n', "a class property: the receiver is a class (Django)"),
        Valid('import functools\n\nclass Lookups:\n    @functools.cache\n    def get_class_lookups(cls):\n        return {}\n\n    get_lookups = classmethod(get_class_lookups)\n', "first parameter `cls`: wrapped as a class method later (Django)"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import functools\nfrom dataclasses import dataclass\n\n@dataclass(frozen=True)\nclass Point:\n    x: int\n    y: int\n\n    @functools.cache\n    def scaled(self, k):\n        return Point(self.x * k, self.y * k)\n', line=9, note="value type, but unbounded"),
        Invalid('import functools\n\nclass ReportRequest:\n    def __init__(self, db, user_id):\n        self.db = db\n        self.user_id = user_id\n\n    @functools.lru_cache(maxsize=None)\n    def _permissions(self):\n        return self.db.load(self.user_id)\n\n    def can_view(self, report):\n        return report.acl in self._permissions()\n', line=8, column=5,
                expected_fix='import functools\n\nclass ReportRequest:\n    def __init__(self, db, user_id):\n        self.db = db\n        self.user_id = user_id\n\n    @functools.cached_property\n    def _permissions(self):\n        return self.db.load(self.user_id)\n\n    def can_view(self, report):\n        return report.acl in self._permissions\n'),
        Invalid('from functools import cache\n\nclass Doc:\n    def __init__(self, text):\n        self.text = text\n\n    @property\n    @cache\n    def words(self):\n        return self.text.split()\n', line=8,
                expected_fix='from functools import cache, cached_property\n\nclass Doc:\n    def __init__(self, text):\n        self.text = text\n\n    @cached_property\n    def words(self):\n        return self.text.split()\n'),
        Invalid('import functools\n\nclass Conn:\n    @functools.lru_cache(maxsize=64)\n    def query(self, sql):\n        return sql\n', line=4, note="arguments: no fix offered"),
        Invalid('from functools import lru_cache\n\nclass Page:\n    @lru_cache\n    def render(self):\n        return "<p>"\n', line=4, note="public method: callers may be outside, no fix"),
        Invalid('import cachetools\n\nclass Geo:\n    @cachetools.cached(cache={})\n    def lookup(self, ip):\n        return ip\n', line=4),
        Invalid('from async_lru import alru_cache\n\nclass Api:\n    @alru_cache(maxsize=32)\n    async def user(self, uid):\n        return uid\n', line=4),
        Invalid('import functools\n\nclass Handler:\n    @functools.cache\n    def _settings(self):\n        return {}\n\n    def run(self):\n        return self._settings().get("x")\n\ndef serve():\n    return Handler().run()\n', line=4,
                expected_fix='import functools\n\nclass Handler:\n    @functools.cached_property\n    def _settings(self):\n        return {}\n\n    def run(self):\n        return self._settings.get("x")\n\ndef serve():\n    return Handler().run()\n', note="instantiated per call"),
        Invalid('import functools\n\nclass Base:\n    @functools.lru_cache(maxsize=None)\n    def _key(self):\n        return id(self)\n\n    def a(self):\n        return self._key()\n\n    def b(self):\n        return self._key.cache_info()\n', line=4, note="cache_info used: no fix"),
        Invalid('import functools\n\nclass Slotted:\n    __slots__ = ("x",)\n\n    @functools.lru_cache(maxsize=None)\n    def _double(self):\n        return self.x * 2\n\n    def get(self):\n        return self._double()\n', line=6, note="__slots__: cached_property cannot work, no fix"),
        Invalid('import functools\n\nclass Stream:\n    @functools.lru_cache(maxsize=None)\n    async def _meta(self):\n        return {}\n\n    async def get(self):\n        return await self._meta()\n', line=4, note="async: cached_property would cache a coroutine, no fix"),
        Invalid('import functools\nimport abc\n\nclass Model(abc.ABC):\n    @functools.lru_cache(maxsize=1024)\n    def score(self, row):\n        return row\n', line=5),
        Invalid('import cachetools.func\n\nclass Quotes:\n    @cachetools.func.ttl_cache(maxsize=100, ttl=60)\n    def price(self, symbol):\n        return symbol\n', line=4),
        Invalid('import functools\n\nclass Config:\n    @functools.lru_cache()\n    def get(self, key):\n        return key\n\nDEFAULT = Config()\n\ndef load(path):\n    return Config()\n', line=4, note="also created in a function: not a singleton"),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        for fn in analysis.functions:
            cls = fn.cls
            if cls is None or fn.scope.parent is None or fn.scope.parent.cls is not cls or fn.name in _IMPLICIT_CLASS_METHODS:
                continue  # not a method body directly in the class
            decorator = _cache_decorator(fn, analysis)
            if decorator is None or _exempt(fn, cls, analysis):
                continue
            yield Finding(node=decorator, message=_message(fn, cls, decorator, analysis),
                          fix=self._fix(fn, cls, decorator, analysis), statement=decorator)

    # ---- the fix --------------------------------------------------------------------------------
    def _fix(self, fn: FunctionInfo, cls: ClassInfo, decorator: cst.Decorator, analysis: ModuleAnalysis) -> NodeFix | Fix | None:
        qual = _decorator_name(decorator, analysis)
        if qual not in _STD_CACHES or fn.node.asynchronous is not None or "__slots__" in cls.class_attrs:
            return None
        params = fn.node.params
        if len(params.params) + len(params.posonly_params) != 1 or isinstance(params.star_arg, (cst.Param, cst.ParamStar)) \
                or params.kwonly_params or params.star_kwarg is not None:
            return None
        others = [d for d in fn.node.decorators if d is not decorator]
        if any(other.methods.get(fn.name) is not None for other in analysis.classes.values() if other is not cls):
            return None  # overridden or overriding elsewhere in the module: a property would not fit
        spelled = _cached_property_spelling(analysis)
        if spelled is None:
            return None
        name, import_edit = spelled
        if others:
            if len(others) == 1 and _decorator_name(others[0], analysis) in ("property", "builtins.property"):
                return _property_fix(fn, others[0], decorator, name, import_edit, analysis)
            return None
        if not fn.name.startswith("_") or fn.name.startswith("__"):
            return None  # callers outside this module would break
        calls = _self_calls(fn, cls, analysis)
        if calls is None:
            return None
        edits = [NodeEdit(decorator.decorator, name)] + [NodeEdit(call, analysis.module.code_for_node(call.func)) for call in calls]
        if import_edit is not None:
            edits.append(import_edit)
        message = (f"Use `{name}` (unsafe: the result is kept per instance, `cache_clear()` goes away, and "
                   f"`{fn.name}()` becomes the attribute `{fn.name}` at its {len(calls)} call(s) here)")
        return NodeFix("unsafe", message, tuple(edits))


def _cache_decorator(fn: FunctionInfo, analysis: ModuleAnalysis) -> cst.Decorator | None:
    found = None
    for decorator in fn.node.decorators:
        name = _decorator_name(decorator, analysis)
        if name in _STATIC_OR_CLASS:
            return None
        if name in _METHOD_CACHES and found is None:
            expr = decorator.decorator
            if name == "cachetools.cached" and isinstance(expr, cst.Call) and any(
                a.keyword is not None and a.keyword.value == "key" for a in expr.args
            ):
                continue  # a key function may leave `self` out
            found = decorator
    return found


def _decorator_name(decorator: cst.Decorator, analysis: ModuleAnalysis) -> str | None:
    expr = decorator.decorator
    target = expr.func if isinstance(expr, cst.Call) else expr
    return qualify(dotted(target), analysis.module_scope)


def _exempt(fn: FunctionInfo, cls: ClassInfo, analysis: ModuleAnalysis) -> bool:
    if fn.params and fn.params[0].name in _CLASS_PARAMS:
        return True  # called on the class (`classproperty`, `classmethod(f)` later, a descriptor)
    if any("class" in (_decorator_name(d, analysis) or "").rsplit(".", 1)[-1].lower() for d in fn.node.decorators):
        return True  # `@classproperty`, `@class_or_instance_method`: the receiver is a class
    if cls.is_enum or any(base in _METACLASS_BASES for base in cls.bases):
        return True
    decorator = _cache_decorator(fn, analysis)
    bounded = decorator is not None and _maxsize(decorator, _decorator_name(decorator, analysis)) != "unbounded"
    if bounded and _is_value_type(cls, analysis):
        return True  # bounded memo keyed by value: equal instances share entries by design
    family = _subclasses(cls, analysis) | {cls.name}
    built = [where for name in family for call, where in analysis.calls_named(name)
             if analysis.call_target(call, where) is analysis.classes.get(name)]
    return bool(built) and all(where.scope.kind == "module" for where in built)


def _is_value_type(cls: ClassInfo, analysis: ModuleAnalysis, depth: int = 0) -> bool:
    """Instances compare and hash by value: a NamedTuple, a frozen dataclass, a class (or module base)
    defining `__hash__`."""
    if cls.frozen or "__hash__" in cls.methods:
        return True
    if any(base.rsplit(".", 1)[-1] in ("NamedTuple", "namedtuple") for base in cls.bases):
        return True
    if isinstance(cls.node, cst.ClassDef) and any(
        isinstance(arg.value, cst.Call) and (dotted(arg.value.func) or "").rsplit(".", 1)[-1] == "namedtuple" for arg in cls.node.bases
    ):
        return True
    return depth < 8 and any(
        _is_value_type(analysis.classes[base], analysis, depth + 1) for base in cls.bases if base in analysis.classes and base != cls.name
    )


def _subclasses(cls: ClassInfo, analysis: ModuleAnalysis) -> set[str]:
    found: set[str] = set()
    todo = [cls.name]
    while todo:
        current = todo.pop()
        for other in analysis.classes.values():
            if current in other.bases and other.name not in found:
                found.add(other.name)
                todo.append(other.name)
    return found


def _maxsize(decorator: cst.Decorator, qual: str | None) -> str:
    """'unbounded' or the bound as text."""
    expr = decorator.decorator
    if qual == "functools.cache":
        return "unbounded"
    if not isinstance(expr, cst.Call):
        return "128"
    for arg in expr.args:
        if arg.keyword is not None and arg.keyword.value not in ("maxsize", "cache"):
            continue
        value = arg.value
        if isinstance(value, cst.Name) and value.value == "None":
            return "unbounded"
        if isinstance(value, cst.Integer):
            return value.value
        if isinstance(value, (cst.Dict, cst.Call)) and qual == "cachetools.cached":
            if isinstance(value, cst.Dict):
                return "unbounded"
            sizes = [a.value for a in value.args if isinstance(a.value, cst.Integer)]
            return sizes[0].value if sizes else "bounded"
        return "bounded"
    return "128"


def _message(fn: FunctionInfo, cls: ClassInfo, decorator: cst.Decorator, analysis: ModuleAnalysis) -> str:
    qual = _decorator_name(decorator, analysis) or "cache"
    shown = analysis.label(decorator.decorator, 40)
    size = _maxsize(decorator, qual)
    args = ", with the arguments," if len(fn.params) > 1 else ""
    if size == "unbounded":
        held = f"keeps every `{cls.name}` it was ever called on alive{args} for the life of the process"
    elif size == "bounded":
        held = f"keeps the `{cls.name}` instances of its newest calls alive{args} after the program dropped them"
    else:
        held = f"keeps the `{cls.name}` instances of its last {size} calls alive{args} after the program dropped them"
    if len(fn.params) > 1 or fn.node.asynchronous is not None:
        hint = "keep the cache on the instance (a dict set in `__init__`, or `cachetools.cachedmethod`)"
    elif "__slots__" in cls.class_attrs:
        hint = "store the result in a slot of the instance"
    else:
        hint = "use `functools.cached_property`"
    return f"`@{shown}` on method `{fn.qualname}()` keys its cache by `self`, so it {held}; {hint}"


def _cached_property_spelling(analysis: ModuleAnalysis) -> tuple[str, NodeEdit | None] | None:
    """How to name `functools.cached_property` here, and the import edit needed, if any."""
    bindings = analysis.module_scope.bindings
    for name, entries in bindings.items():
        if any(b.kind == "import" and b.qualname == "functools.cached_property" for b in entries):
            return name, None
    for name, entries in bindings.items():
        if any(b.kind == "import" and b.qualname == "functools" for b in entries):
            return f"{name}.cached_property", None
    if "cached_property" in bindings:
        return None  # the name means something else here
    for statement in analysis.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.ImportFrom) and dotted(small.module or cst.Name("_")) == "functools" \
                    and not small.relative and isinstance(small.names, (list, tuple)):
                names = sorted({analysis.module.code_for_node(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for alias in small.names} | {"cached_property"})
                return "cached_property", NodeEdit(small, f"from functools import {', '.join(names)}")
    return None


def _self_calls(fn: FunctionInfo, cls: ClassInfo, analysis: ModuleAnalysis) -> list[cst.Call] | None:
    """Every use of the method in the module as `self.<name>()` without arguments inside the class, or
    None when some use is anything else (another receiver, `.cache_clear()`, a reference)."""
    index = use_index(analysis)
    calls = []
    for attr in index.attrs.get(fn.name, []):
        call = index.parent.get(id(attr))
        if not (isinstance(call, cst.Call) and call.func is attr and not call.args):
            return None
        method = index.enclosing_function(attr)
        info = analysis.collected.function_of_node.get(id(method)) if method is not None else None
        if info is None or info.cls is not cls or not info.params or not isinstance(attr.value, cst.Name) \
                or attr.value.value != info.params[0].name:
            return None
        calls.append(call)
    return calls


def _property_fix(fn: FunctionInfo, prop: cst.Decorator, decorator: cst.Decorator, name: str,
                  import_edit: NodeEdit | None, analysis: ModuleAnalysis) -> Fix | None:
    """`@property` + `@lru_cache` -> `@cached_property`: the property keeps its call sites. Deleting a
    whole decorator line needs positions, so this builds a ready `Fix`."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    positions = MetadataWrapper(analysis.module, unsafe_skip_copy=True).resolve(PositionProvider)
    cache_span = positions.get(decorator)
    prop_span = positions.get(prop.decorator)
    if cache_span is None or prop_span is None or cache_span.start.line != cache_span.end.line:
        return None
    line = cache_span.start.line
    edits = [
        Edit(prop_span.start.line, prop_span.start.column + 1, prop_span.end.line, prop_span.end.column + 1, name),
        Edit(line, 1, line + 1, 1, ""),
    ]
    if import_edit is not None:
        span = positions.get(import_edit.node)
        if span is None:
            return None
        edits.append(Edit(span.start.line, span.start.column + 1, span.end.line, span.end.column + 1, import_edit.content))
    edits.sort(key=lambda e: (e.line, e.column))
    message = f"Use `{name}` (unsafe: the result is kept per instance and `cache_clear()` goes away)"
    return Fix("unsafe", message, tuple(edits))
