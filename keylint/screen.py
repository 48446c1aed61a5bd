"""The fast path: a conservative `ast` pass that answers "could any selected rule fire in this file?"
before libcst ever sees it (libcst costs ~11x `ast.parse`, and most files have no unstable key).

It runs a coarse version of keyflow's question over CPython's `ast` tree: is there a key sink
(subscript, `in`, mapping/cache method, file name, cached-function call, configured sink) whose key
expression could derive from a source some rule looks for? Values carry a bit mask per rule:
  H ("hot")  a source that fires when it reaches a key (a clock, `id()`, `hash()`, `json.dumps`, ...);
  R ("raw")  a source that fires only once its *text* is taken (a context, an object whose text is an
             address, a timeout, a set): str()/repr()/format()/f-string/`%`/.format turn R into H.
A name read in a scope may come from any binding of it there or in an enclosing scope; attributes
and function returns are merged by name; every call binds its arguments to the parameters of every
function of that name; each derivation keeps only the bits the rules let through it. Coarser than
keyflow, so it over-approximates (tables: `keylint.screen_tables`; which tables outlive a call and
which receivers may be cache clients: `keylint.screen_owners`).
KL701 and KL801 are not key-flow rules and get their own structural triggers. A rule code the screen
does not know makes it say yes for every file. The answer is per rule (`firing_codes`): the engine
runs only the rules whose bits reach a key. `tests/test_screen.py` proves it never drops a finding.
"""

from __future__ import annotations

import ast
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from keylint.screen_owners import TableOwners
from keylint.screen_shapes import Segments, ShapeFinder, could_mismatch, one_string_token
from keylint.screen_tables import client_possible, glob_regex, name_patterns, tables
from keylint.screen_tables import dotted as _dotted
from keylint.screen_tables import last_name as _last
from keylint.settings import Settings
from keylint.suppress import may_hold_reportable_directives

# Codes whose sources this module models; any other enabled code disables the screen.
KNOWN_CODES = ("KL101", "KL102", "KL201", "KL301", "KL302", "KL401", "KL501", "KL601", "KL701", "KL801")
_BIT = {code: 1 << i for i, code in enumerate(KNOWN_CODES)}
_RAW_SHIFT = 16
_HOT = (1 << _RAW_SHIFT) - 1

_SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference"})
_KEEP_SET_METHODS = frozenset({"copy", "keys", "values", "items"})
_SET_TYPES = frozenset({"set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet"})
_TEXT_CALLS = frozenset({"str", "repr", "format", "ascii"})
_MAPPING_WRITES = frozenset({"setdefault", "__setitem__", "add"})
# keyflow's mapping-method shapes (positional arguments, min and max); names not here take any.
_MAPPING_SHAPES = {"get": (1, 2), "setdefault": (1, 2), "pop": (1, 2), "__contains__": (1, 1), "__getitem__": (1, 1),
                   "__setitem__": (2, 2), "__delitem__": (1, 1), "add": (1, 1), "discard": (1, 1)}


@lru_cache(maxsize=1)
def rule_codes() -> tuple[str, ...] | None:
    """Rule codes from the names of the modules in `keylint.rules` (`kl101_...` -> KL101), found
    without importing them (rule modules import libcst); None when a module name does not say."""
    import importlib.util

    spec = importlib.util.find_spec("keylint.rules")  # rules/__init__.py imports nothing
    if spec is None or not spec.submodule_search_locations:
        return None
    codes = []
    for folder in spec.submodule_search_locations:
        for name in os.listdir(folder):
            stem, dot, ext = name.partition(".")
            if ext != "py" or stem == "__init__" or not stem.isidentifier():
                continue
            match = re.match(r"(kl\d{3})_", stem)
            if match is None:
                return None
            codes.append(match.group(1).upper())
    return tuple(sorted(set(codes)))


def enabled_codes(settings: Settings, path: str) -> tuple[str, ...] | None:
    """The rule codes (KL001 aside) that run on `path`, or None when they cannot be known cheaply."""
    codes = rule_codes()
    if codes is None:
        return None
    return tuple(c for c in codes if c != "KL001" and settings.is_enabled(c, path))


SUPPRESSION_CODE = "KL002"  # unused suppression comments: possible wherever a directive is written


def could_fire(tree: ast.Module, settings: Settings, codes: Sequence[str], text: str | None = None) -> bool:
    """False only when no rule in `codes` can report anything in this module (`text` is its source)."""
    return firing_codes(tree, settings, codes, text) != frozenset()


def firing_codes(tree: ast.Module, settings: Settings, codes: Sequence[str], text: str | None = None) -> frozenset[str] | None:
    """The rules in `codes` that may report something in this module: a rule left out reports
    nothing there. None when the screen cannot narrow them (every rule in `codes` must run)."""
    return screen_module(tree, settings, codes, text)[0]


def screen_module(
    tree: ast.Module, settings: Settings, codes: Sequence[str], text: str | None = None
) -> tuple[frozenset[str] | None, int | None]:
    """`firing_codes`, and an upper bound on the module's `ast` nesting depth when the screen walked
    it (None when it did not): its walk folds at most three `ast` levels into one step (a function's
    argument annotations: FunctionDef, arguments, arg) and leaves out leaves (at most two levels:
    a Name and its context), so the depth is at most three times the walk's."""
    low = text.lower() if text is not None else None  # (once: the screen's client-name hints read it too)
    if SUPPRESSION_CODE in codes:
        if text is None or may_hold_reportable_directives(text, low):
            return None, None  # whether a directive is unused depends on every rule's findings
        codes = [c for c in codes if c != SUPPRESSION_CODE]
    if any(code not in _BIT for code in codes):
        return None, None  # a rule the screen does not model: never hide it
    if not codes:
        return frozenset(), None
    screen = _Screen(settings, codes)
    try:
        return screen.run(tree, text, low), 3 * screen.walk_depth
    except RecursionError:
        return None, None


def _annotation_names(expr: ast.expr | None) -> set[str]:
    """Every identifier an annotation mentions (string annotations included)."""
    found: set[str] = set()
    if expr is None:
        return found
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(re.findall(r"[A-Za-z_]\w*", node.value))
    return found


Var = tuple[int, str] | str  # (scope, name) for a name; "a:attr" for an attribute; "r:<scope>" for returns
MODULE = 0


class _Screen:
    def __init__(self, settings: Settings, codes: Sequence[str]) -> None:
        on = set(codes)

        def bit(*names: str) -> int:
            return sum(_BIT[c] for c in names if c in on)

        self.codes = on
        self.settings = settings
        self.t = tables()
        self._filename_calls = self.t["FILENAME_CALLS"]
        self._client_methods = self.t["CLIENT_METHODS"]
        self._mapping_methods = self.t["MAPPING_METHODS"]
        self._extra_sink_methods = self.t["EXTRA_SINK_METHODS"]
        self.sink_mask = bit(*KNOWN_CODES)  # H bits that matter at a sink
        self.clock = bit("KL201")
        self.deadline = bit("KL102")
        self.timeout_raw = bit("KL102") << _RAW_SHIFT
        self.context_raw = bit("KL101") << _RAW_SHIFT
        self.address_raw = bit("KL301") << _RAW_SHIFT
        self.object_raw = self.context_raw | self.address_raw
        self.id_hot = bit("KL302")
        self.hash_hot = bit("KL401")
        self.order_hot = bit("KL501")
        self.unordered = bit("KL501") << _RAW_SHIFT
        self.per_call = bit("KL601")
        self.configured = self.sink_mask if (settings.sources or settings.sinks) else 0
        self._masks()
        self.source_names = glob_regex(s.name for s in settings.sources if s.name)
        self.source_functions = {s.function.rsplit(".", 1)[-1] for s in settings.sources if s.function}
        self.source_types = {s.type.rsplit(".", 1)[-1] for s in settings.sources if s.type}
        self.sink_functions = {s.function.rsplit(".", 1)[-1] for s in settings.sinks}
        # scopes: 0 is the module; functions, lambdas and class bodies get their own
        self.parents: list[int] = [-1]
        self.is_class: list[bool] = [False]
        self.globals: dict[int, set[str]] = {}
        self.nonlocals: dict[int, set[str]] = {}
        self._chains: dict[int, tuple[int, ...]] = {}
        # collected facts
        self.aliases: dict[str, set[str]] = {}
        self.equations: list[tuple[Var, ast.expr, int]] = []
        self.var: dict[Var, int] = {}
        self.sink_keys: list[tuple[ast.expr, int]] = []
        self.hash_keys: list[tuple[ast.expr, int]] = []  # sinks only KL401 reports on
        # file names: only KL301, KL401 and KL501 report there (a timestamped or unique file name is
        # usually the point; KL101/KL102/KL201/KL302/KL601 return early on a "filename" sink)
        self.file_keys: list[tuple[ast.expr, int]] = []
        self.file_calls: list[tuple[ast.Call, int]] = []
        # reads and deletes of a mapping (`m[k]`, `k in m`, `m.get(k)`, `m.pop(k)`): KL302 reports them
        # only on a persistent store (elsewhere the write is where a stale entry is made)
        self.read_keys: list[tuple[ast.expr, int]] = []
        # keys of a container no table outlives (a parameter of the same function, a call's result):
        # KL301 and KL302 report only where the table outlives the call (lifetime.table_owner)
        self.ownerless_keys: list[tuple[ast.expr, int]] = []
        # (key, scope, is a write, table name, its def's scope): keys of a def's local table, ownerless
        # where the table surely stays in the call (`TableOwners.stays_local`, asked after the fixpoint)
        self.local_keys: list[tuple[ast.expr, int, bool, str, int]] = []
        self._owners_memo: dict[tuple[int, int], list[int]] = {}  # (id of a call's func, scope) -> the defs it runs
        # (container, key, scope, is a write, is a subscript): keyflow's sinks on a mapping
        self.table_uses: list[tuple[ast.expr, ast.expr, int, bool, bool]] = []
        self.client_calls: list[tuple[ast.Call, int]] = []  # `x.set(...)`-like calls: keys if `x` may be a client
        self.lambdas: set[int] = set()  # lambda scopes (keyflow gives a lambda no scope of its own)
        self.assigned: dict[int, set[str]] = {}  # scope -> names an assignment, loop or `with` surely binds
        self.maybe_bound: dict[int, set[str]] = {}  # scope -> names anything may bind (assigned ones too)
        self.loose_scopes: set[int] = set()  # scopes binding names the walk does not record (import, except, match)
        self.client_module = False  # set by run(): could any receiver here be a cache client?
        self.persistent_client = False  # ... one keyflow marks persistent?
        self.per_call_modules = False  # ... does it import a module of KL601's sources?
        self.process_keys = False  # ... may a process or thread id reach a shared store?
        self.def_names: set[str] = set()
        self.class_names: set[str] = set()
        self.cached_functions: set[str] = set()
        self.functions: dict[str, list[int]] = {}  # function name -> its scopes
        self.params: dict[int, list[str]] = {}  # function scope -> parameter names
        self.fn_names: dict[int, str] = {}
        self.first_param: dict[int, str] = {}  # method scope -> its `self`
        self._scope_now = MODULE
        self.class_of: dict[int, str] = {}  # class-body scope -> class name
        self.class_raw: dict[str, int] = {}  # class name -> raw bits of its instances
        self.text_classes: list[ast.ClassDef] = []  # classes with a text of their own (KL101 asks about them)
        self.class_bases: dict[str, list[str | None]] = {}
        self.call_nodes: list[tuple[ast.Call, int, str]] = []
        self.positional: dict[int, list[str]] = {}  # function scope -> positional parameters in order
        self.varargs: dict[int, str] = {}
        self.varkw: dict[int, str] = {}
        self.class_inits: dict[str, list[int]] = {}  # class name -> its __init__ scopes
        self.method_nodes: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}  # method scope -> its def
        self.def_nodes: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}  # def scope -> its def
        self.annotated: list[tuple[Var, set[str]]] = []  # (var, annotation names)
        self.values: dict[tuple[int, str], list[ast.expr]] = {}  # (scope, name) -> bound expressions (KL801)
        self.scope_returns: dict[int, list[ast.expr]] = {}
        self.defaults: dict[tuple[int, str], tuple[ast.expr, int]] = {}
        self.returns: dict[str, list[ast.expr]] = {}  # function name -> returned expressions
        self.mappings: dict[str, list[tuple[bool, ast.expr, int]]] = {}  # container -> (is_write, key, scope)
        self.method_cache = False
        self.libcst_gap = False
        self.decorated: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool, int]] = []  # (def, in a class, its scope)
        self.class_nodes: dict[str, list[ast.ClassDef]] = {}
        self._name_memo: dict[str, int] = {}
        self._reads: set[Var] | None = None  # while set, eval() records every variable it reads
        self.walk_depth = 0  # the deepest step of _collect's walk (the module is 1)
        self._source: Segments | None = None  # the module's text, when the caller gave it

    # ---- collection ---------------------------------------------------------------------------
    def run(self, tree: ast.Module, text: str | None = None, low: str | None = None) -> frozenset[str] | None:
        """`low`: `text.lower()`, when the caller has it."""
        self._source = Segments(text) if text is not None else None
        if low is None and text is not None:
            low = text.lower()
        self.client_module = low is None or client_possible(low, lowered=True)
        self.persistent_client = self.client_module and (low is None or client_possible(low, persistent=True, lowered=True))
        self._collect(tree)
        self._text_classes()
        owners = TableOwners(self)  # (a local: stored on the screen it would make a reference cycle)
        owners.classify()
        modules = self.t["PER_CALL_MODULES"]
        self.per_call_modules = bool(self.per_call) and (
            any(s.kind == "random" for s in self.settings.sources)
            or any(q.split(".", 1)[0] in modules for quals in self.aliases.values() for q in quals)
        )
        # KL601 reports a process or thread id only in a read of a shared cache (a client, a configured sink)
        self.process_keys = bool(self.sink_functions) or self.persistent_client
        if self.per_call and not self.process_keys:
            self.through_stored = ~self.per_call
        if self.libcst_gap:
            return None  # the full path reports libcst's failure to parse: so must this one
        self._cache_decorators()
        found: set[str] = set()
        if self.method_cache and "KL701" in self.codes:
            found.add("KL701")
        if "KL801" in self.codes and self._mismatch_possible():
            found.add("KL801")
        for node, scope, name in self.call_nodes:
            if name in self.cached_functions:
                self.sink_keys.extend((v, scope) for v in _call_values(node))  # a cached function's arguments are its key
        self._file_names()
        if self.sink_keys or self.read_keys or self.ownerless_keys or self.local_keys or self.hash_keys or self.file_keys:
            self._seed()
            bits = self._settle(owners)
            found.update(code for code in self.codes if _BIT[code] & bits)
        return frozenset(found)

    def _settle(self, owners: TableOwners) -> int:
        """The rule bits that reach a key. Solves the equations a key depends on (others cannot
        change any key) by a worklist: an equation is re-evaluated only when a variable it reads has
        grown. Bits only grow, so this ends; a budget still guards against pathological modules
        (then: every rule's bit)."""
        # KL401 reports only where the key leaves the process: a persistent client's or a configured
        # persistent sink's key, a file name, or its own SQL/object-store keys (hash_keys)
        sink_mask = self.sink_mask
        if not (self.persistent_client or any(sink.persistent for sink in self.settings.sinks)):
            sink_mask &= ~self.hash_hot
        keys = [(k, s, sink_mask) for k, s in self.sink_keys] + [(k, s, self.hash_hot) for k, s in self.hash_keys]
        read_mask = sink_mask & ~self.id_hot  # KL302 reports a non-persistent table where it is written
        keys += [(k, s, read_mask) for k, s in self.read_keys]
        ownerless_mask = read_mask & ~self.address_hot
        keys += [(k, s, ownerless_mask) for k, s in self.ownerless_keys]
        file_mask = self.address_hot | self.hash_hot | self.order_hot
        keys += [(k, s, file_mask) for k, s in self.file_keys]
        local = len(keys)
        keys += [(k, s, sink_mask if write else read_mask) for k, s, write, _, _ in self.local_keys]
        by_var: dict[Var, list[int]] = {}
        for index, (var, _, _) in enumerate(self.equations):
            by_var.setdefault(var, []).append(index)
        reads: set[Var] = set()
        self._reads = reads
        for key, scope, _ in keys:
            self.eval(key, scope)
        readers: dict[Var, list[int]] = {}
        needed: list[int] = []
        seen: set[Var] = set()
        frontier = list(reads)
        while frontier:
            var = frontier.pop()
            if var in seen:
                continue
            seen.add(var)
            for index in by_var.get(var, ()):
                needed.append(index)
                reads = self._reads = set()
                _, expr, scope = self.equations[index]
                self.eval(expr, scope)
                for read in reads:
                    readers.setdefault(read, []).append(index)
                    if read not in seen:
                        frontier.append(read)
        self._reads = None
        work = deque(needed)
        queued = set(needed)
        budget = 30 * len(needed) + 100
        while work:
            index = work.popleft()
            queued.discard(index)
            budget -= 1
            if budget < 0:
                return self.sink_mask | self.hash_hot  # did not settle: be safe
            var, expr, scope = self.equations[index]
            value = self.eval(expr, scope)
            old = self.var.get(var, 0)
            if value | old != old:
                self.var[var] = value | old
                for reader in readers.get(var, ()):
                    if reader not in queued:
                        queued.add(reader)
                        work.append(reader)
        found = sum_or(self._key_bits(key, scope) & mask for key, scope, mask in keys[:local])
        lifetime_bits = self.id_hot | self.address_hot
        for (key, scope, mask), (_, _, _, name, owner) in zip(keys[local:], self.local_keys):
            bits = self._key_bits(key, scope) & mask
            if bits & lifetime_bits & ~found and owners.stays_local(name, owner):
                bits &= ownerless_mask  # the table dies with the call after all (asked only when it matters)
            found |= bits
        return found

    def _key_bits(self, key: ast.expr, scope: int) -> int:
        value = self.eval(key, scope)
        if type(key) is ast.Attribute and self.id_hot:  # a key that is an attribute: its id counts (KL302)
            value |= (self.var.get("a:" + key.attr, 0) | self.eval(key.value, scope)) & self.id_hot
        return value

    def _file_names(self) -> None:
        """keyflow's file-name sinks are qualified calls (`open`, `os.path.join`, `sqlite3.connect`...):
        `", ".join(parts)` or `sock.connect(addr)` are not, unless an import makes them so."""
        wanted = self.t["FILENAME_QUALS"]
        for node, scope in self.file_calls:
            if self._quals(node.func) & wanted:
                self.file_keys.extend((a, scope) for a in node.args if not isinstance(a, ast.Starred))

    def _cache_decorators(self) -> None:
        for node, in_class, outer in self.decorated:
            quals = [self._quals(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
            names = {_last(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
            names |= {q.rsplit(".", 1)[-1] for found in quals for q in found}
            if names & self.t["CACHE_DECORATOR_NAMES"]:
                self.cached_functions.add(node.name)
                if in_class and self._method_cache(node, quals, self.class_of.get(outer)):
                    self.method_cache = True

    def _method_cache(self, node: ast.FunctionDef | ast.AsyncFunctionDef, quals: list[set[str]], cls: str | None) -> bool:
        """KL701's trigger: a decorator that may be one of its caches by qualified name (not
        `self.module.lru_cache`), on a method whose receiver is not the class. KL701 exempts
        implicit class methods, a first parameter named like a class, static and class method
        decorators, and a decorator whose name says `class` (`classproperty`); `quals` holds each
        decorator's possible qualified names, and an exemption needs every one of them to agree."""
        if node.name in _IMPLICIT_CLASS_METHODS:
            return False
        positional = [*node.args.posonlyargs, *node.args.args]
        if positional and positional[0].arg in _CLASS_PARAMS:
            return False
        for found in quals:
            if found and (found <= _STATIC_OR_CLASS or all("class" in q.rsplit(".", 1)[-1].lower() for q in found)):
                return False
        caches = [(d, found) for d, found in zip(node.decorator_list, quals) if found & self.t["METHOD_CACHES"]]
        if not caches:
            return False
        # KL701 exempts a bounded cache on a class whose instances hash by value (equal ones share entries)
        return not (cls is not None and all(_bounded(d, found) for d, found in caches) and self._value_class(cls))

    def _value_class(self, name: str, depth: int = 0) -> bool:
        """KL701's `_is_value_type`, surely: every class of this name defines `__hash__`, is a
        NamedTuple, or has a module base (by plain name) that is a value class."""
        nodes = self.class_nodes.get(name, [])
        return bool(nodes) and depth < 8 and all(
            any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "__hash__" for s in node.body)
            or any((_dotted(b.func if isinstance(b, ast.Call) else b) or "").rsplit(".", 1)[-1] in ("NamedTuple", "namedtuple")
                   for b in node.bases)
            or any(isinstance(b, ast.Name) and b.id != name and self._value_class(b.id, depth + 1) for b in node.bases)
            for node in nodes
        )

    def _scope(self, parent: int, is_class: bool) -> int:
        self.parents.append(parent)
        self.is_class.append(is_class)
        return len(self.parents) - 1

    def _chain(self, scope: int) -> tuple[int, ...]:
        """The scopes a name read in `scope` may come from (class bodies only for their own reads)."""
        chain = self._chains.get(scope)
        if chain is None:
            found = [scope]
            parent = self.parents[scope]
            while parent >= 0:
                if not self.is_class[parent]:
                    found.append(parent)
                parent = self.parents[parent]
            chain = self._chains[scope] = tuple(found)
        return chain

    def _collect(self, tree: ast.Module) -> None:
        # (node, scope, function scope for `return`, directly in a class body, walk depth)
        stack: list[tuple[ast.AST, int, int, bool, int]] = [(tree, MODULE, -1, False, 1)]
        push, pop = stack.append, stack.pop
        handlers, opens_scope, blocks = _HANDLERS, _SCOPE_KINDS, _BLOCKS
        child_fields, not_pushed = _CHILD_FIELDS, _NOT_PUSHED
        attribute, name = ast.Attribute, ast.Name
        deepest = 1
        while stack:
            node, scope, fn, in_class, depth = pop()
            if depth > deepest:
                deepest = depth
            kind = type(node)
            if kind in opens_scope:
                self._enter(node, scope, fn, in_class, depth + 1, stack)
                continue
            handler = handlers.get(kind)
            if handler is not None:
                self._scope_now = scope
                handler(self, node, scope, fn, in_class)
            block = in_class and kind in blocks
            fields = child_fields.get(kind)
            if fields is None:
                fields = _child_fields(kind)
            for field in fields:
                value: Any = getattr(node, field, None)
                for item in value if type(value) is list else (value,):
                    item_kind = type(item)
                    if item_kind in not_pushed:
                        continue
                    if item_kind is attribute:
                        # `a.b.c` holds nothing the walk looks at: count its depth, do not visit it
                        inner, length = item.value, 1
                        while type(inner) is attribute:
                            inner, length = inner.value, length + 1
                        if type(inner) is name:
                            if depth + length > deepest:
                                deepest = depth + length  # its last attribute's walk depth
                            continue
                    push((item, scope, fn, block, depth + 1))
        self.walk_depth = deepest

    def _enter(self, node: ast.AST, scope: int, fn: int, in_class: bool, below: int,
               stack: list[tuple[ast.AST, int, int, bool, int]]) -> None:
        """A def, lambda or class opens a scope (its parts outside it stay in `scope`); `global` and
        `nonlocal` say where names live."""
        kind = type(node)
        if kind is ast.Global or kind is ast.Nonlocal:
            table = self.globals if kind is ast.Global else self.nonlocals
            table.setdefault(scope, set()).update(node.names)  # type: ignore[attr-defined]
            return
        if kind is ast.ClassDef:
            assert isinstance(node, ast.ClassDef)
            self.class_names.add(node.name)
            self.class_nodes.setdefault(node.name, []).append(node)
            self.maybe_bound.setdefault(scope, set()).add(node.name)
            inner = self._scope(scope, True)
            self.class_of[inner] = node.name
            self._class_kind(node)
            stack.extend((child, inner, -1, True, below) for child in node.body)
            stack.extend((child, scope, fn, False, below) for child in [*node.bases, *node.keywords, *node.decorator_list])
            return
        inner = self._scope(scope, False)
        if kind is ast.Lambda:
            self.lambdas.add(inner)
        else:
            self.maybe_bound.setdefault(scope, set()).add(node.name)  # type: ignore[attr-defined]
        self._function(node, scope, inner, in_class)  # type: ignore[arg-type]
        args: ast.arguments = node.args  # type: ignore[attr-defined]
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if kind is not ast.Lambda:
            outer += [*node.decorator_list, *(a.annotation for a in _all_args(args) if a.annotation)]  # type: ignore[attr-defined]
            if node.returns is not None:  # type: ignore[attr-defined]
                outer.append(node.returns)  # type: ignore[attr-defined]
            body: list[ast.AST] = list(node.body)  # type: ignore[attr-defined]
        else:
            body = [node.body]  # type: ignore[attr-defined]
        stack.extend((child, scope, fn, False, below) for child in outer)
        stack.extend((child, inner, inner, False, below) for child in body)

    def _class_kind(self, node: ast.ClassDef) -> None:
        """KL101 looks at instances whose own text method (or generated repr) shows state that changes
        after construction or reads a clock (judged once the imports are known: `_text_classes`);
        KL301 at instances printing the default `<... object at 0x...>` (no text method anywhere up
        the chain)."""
        methods = [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        text_methods = any(m.name in _TEXT_METHODS for m in methods) or any(
            isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id in _TEXT_METHODS for t in s.targets)
            for s in node.body
        )
        bits = 0
        if self.context_raw and (node.decorator_list or any(m.name in _TEXT_METHODS for m in _class_methods(node))):
            self.text_classes.append(node)  # only asked when it can matter: KL101 selected, a text of its own
        if not text_methods:
            # A class decorator may add a repr (dataclass) or not (anything else, misspelt ones
            # included): only the rule knows, so the screen keeps the default-text assumption.
            bits |= self.address_raw  # narrowed in _seed: every base must print the default text too
        self.class_raw[node.name] = self.class_raw.get(node.name, 0) | bits
        self.class_bases[node.name] = [_last(b) if isinstance(b, (ast.Name, ast.Attribute)) else None for b in node.bases]

    def _text_classes(self) -> None:
        for node in self.text_classes:
            if self._text_unstable(node):
                self.class_raw[node.name] |= self.context_raw

    def _text_unstable(self, node: ast.ClassDef) -> bool:
        """keyflow's `text_is_unstable`, never narrower: a text method (or a method it calls through
        `self`) reads the clock or a `self` attribute that a method other than the initialisers writes
        or mutates; with no text method, a decorated class (a dataclass's generated repr) with any
        such attribute. Wider than keyflow: every first parameter is `self`, nested functions count
        for their method, `self.x.y = v` writes `x`, and a memoising text method is not exempted."""
        methods: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for method in _class_methods(node):
            methods.setdefault(method.name, []).append(method)
        writers = [method for name, defs in methods.items() if name not in _INIT_METHODS for method in defs]
        text = [method for name in _TEXT_METHODS for method in methods.get(name, ())]
        if not text:
            return any(_writes_self(method, None) for method in writers)  # the generated repr shows fields
        clocks = self.t["CLOCK_FUNCTIONS"]
        shown: set[str] = set()  # the `self` attributes the text methods read (they or what they call)
        seen: set[int] = set()
        while text:
            method = text.pop()
            if id(method) in seen:
                continue
            seen.add(id(method))
            receiver = _receiver(method)
            reads: set[str] = set()
            for inner in _inner_nodes(method):
                kind = type(inner)
                if kind is ast.Attribute:
                    value = inner.value  # type: ignore[attr-defined]
                    if type(value) is ast.Name and value.id == receiver:
                        reads.add(inner.attr)  # type: ignore[attr-defined]
                elif kind is ast.Call:
                    func = inner.func  # type: ignore[attr-defined]
                    if _last(func) in _CLOCK_NAMES or self._quals(func) & clocks:
                        return True
            for called in reads - shown:
                text.extend(methods.get(called, ()))
            shown |= reads
        return bool(shown) and any(_writes_self(method, shown) for method in writers)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, outer: int, inner: int, in_class: bool) -> None:
        args = _all_args(node.args)
        self.params[inner] = [a.arg for a in args]
        self.positional[inner] = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
        if node.args.vararg is not None:
            self.varargs[inner] = node.args.vararg.arg
        if node.args.kwarg is not None:
            self.varkw[inner] = node.args.kwarg.arg
        if isinstance(node, ast.Lambda):
            return
        if not in_class and not node.decorator_list:
            # KL301 takes a function's text as an address only for an undecorated def outside a class
            # body (a decorated one or a method prints something the rule cannot know)
            self.def_names.add(node.name)
        self.functions.setdefault(node.name, []).append(inner)
        self.fn_names[inner] = node.name
        self.def_nodes[inner] = node
        if self.is_class[outer]:  # keyflow's methods: defs whose enclosing scope is a class body
            self.method_nodes[inner] = node
        decorators = {_last(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
        if node.decorator_list:
            # Aliases (`from functools import lru_cache as memo`) are resolved once the whole module
            # is collected: the walk may meet the def before the import.
            self.decorated.append((node, in_class, outer))
        if in_class and node.name == "__init__" and outer in self.class_of:
            self.class_inits.setdefault(self.class_of[outer], []).append(inner)
        if in_class and args and "staticmethod" not in decorators:
            self.first_param[inner] = args[0].arg
            self.equations.append(((inner, args[0].arg), _RawObject(self.class_of.get(outer, "")), inner))
        if node.returns is not None:
            self.annotated.append((f"r:{inner}", _annotation_names(node.returns)))
        for arg in args:
            if arg.annotation is not None:
                self.annotated.append(((inner, arg.arg), _annotation_names(arg.annotation)))
        positional = [*node.args.posonlyargs, *node.args.args]
        for arg, default in zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults):
            self.defaults[(inner, arg.arg)] = (default, outer)
        for arg, kw_default in zip(node.args.kwonlyargs, node.args.kw_defaults):
            if kw_default is not None:
                self.defaults[(inner, arg.arg)] = (kw_default, outer)
        if node.args.kwarg is not None:
            self.equations.append(((inner, node.args.kwarg.arg), _UNORDERED, inner))

    # ---- what the walk records, by node kind (see _HANDLERS) ----------------------------------
    def _on_assign(self, node: ast.Assign, scope: int, fn: int, in_class: bool) -> None:
        for target in node.targets:
            self._bind(target, node.value, scope, in_class)

    def _on_aug_assign(self, node: ast.AugAssign, scope: int, fn: int, in_class: bool) -> None:
        self._bind(node.target, node.value, scope, in_class)
        if isinstance(node.target, ast.Subscript):
            self._mapping_use(node.target.value, node.target.slice, write=False)

    def _on_ann_assign(self, node: ast.AnnAssign, scope: int, fn: int, in_class: bool) -> None:
        if not node.simple and isinstance(node.target, ast.Name):
            self.libcst_gap = True  # `(name): int = 1`: valid Python libcst cannot parse (KL001)
        if node.value is not None:
            self._bind(node.target, node.value, scope, in_class)
        elif isinstance(node.target, ast.Name):
            self.maybe_bound.setdefault(scope, set()).add(node.target.id)  # `x: int` makes `x` local
        names = _annotation_names(node.annotation)
        for var in self._target_vars(node.target, scope, in_class):
            self.annotated.append((var, names))

    def _on_loop(self, node: ast.For | ast.AsyncFor | ast.comprehension, scope: int, fn: int, in_class: bool) -> None:
        self._bind(node.target, _Element(node.iter), scope, False, sure=type(node) is not ast.comprehension)

    def _on_with_item(self, node: ast.withitem, scope: int, fn: int, in_class: bool) -> None:
        if node.optional_vars is not None:
            self._bind(node.optional_vars, node.context_expr, scope, False)

    def _on_named_expr(self, node: ast.NamedExpr, scope: int, fn: int, in_class: bool) -> None:
        self._bind(node.target, node.value, scope, False, sure=False)
        parent = self.parents[scope]  # in a comprehension the target lives in the enclosing scope
        if parent >= 0:
            self._bind(node.target, node.value, parent, False, sure=False)

    def _on_return(self, node: ast.Return, scope: int, fn: int, in_class: bool) -> None:
        if node.value is not None and fn >= 0:
            self.equations.append((f"r:{fn}", node.value, scope))
            self.returns.setdefault(self.fn_names.get(fn, ""), []).append(node.value)
            self.scope_returns.setdefault(fn, []).append(node.value)

    def _on_import(self, node: ast.Import | ast.ImportFrom, scope: int, fn: int, in_class: bool) -> None:
        self._import(node)
        self.loose_scopes.add(scope)

    def _on_loose_binding(self, node: ast.AST, scope: int, fn: int, in_class: bool) -> None:
        self.loose_scopes.add(scope)  # `except E as name`, `case Point(x=name)`: bindings not recorded

    def _on_subscript(self, node: ast.Subscript, scope: int, fn: int, in_class: bool) -> None:
        key = self._subscript_key(node.slice)
        if key is None:
            return  # keyflow's subscript sinks take one index: not `m[a, b]` (two elements in libcst), not `m[i:j]`
        self.table_uses.append((node.value, key, scope, isinstance(node.ctx, ast.Store), True))
        self._mapping_use(node.value, key, write=isinstance(node.ctx, ast.Store))

    def _subscript_key(self, index: ast.expr) -> ast.expr | None:
        """The key libcst sees in `m[index]`: None for a slice or several elements; `a` for `m[a,]`."""
        kind = type(index)
        if kind is ast.Slice:
            return None
        if kind is not ast.Tuple or self._source is None:
            return index
        # `ast` makes `m[a, b]` and `m[(a, b)]` one Tuple; only the unparenthesised one is several
        # elements in libcst. A tuple whose text opens with `(` may be either (`m[(a), b]`): kept.
        lines = self._source.lines
        line = lines[index.lineno - 1] if index.lineno <= len(lines) else ""
        if line.encode()[index.col_offset:index.col_offset + 1] in (b"(", b""):
            return index
        elements = index.elts  # type: ignore[attr-defined]
        if len(elements) == 1 and type(elements[0]) is not ast.Starred:
            return elements[0]  # type: ignore[no-any-return]
        return None if len(elements) > 1 else index

    def _on_compare(self, node: ast.Compare, scope: int, fn: int, in_class: bool) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            if type(op) is ast.In or type(op) is ast.NotIn:
                self.table_uses.append((operands[index + 1], operands[index], scope, False, False))
                self._mapping_use(operands[index + 1], operands[index], write=False)

    def _on_call(self, node: ast.Call, scope: int, fn: int, in_class: bool) -> None:
        func = node.func
        kind = type(func)
        if kind is ast.Attribute:
            name = func.attr  # type: ignore[attr-defined]
        elif kind is ast.Name:
            name = func.id  # type: ignore[attr-defined]
        else:
            return
        self.call_nodes.append((node, scope, name))
        if name in self.sink_functions:  # configured sinks: any argument may be the key
            self.sink_keys.extend((v, scope) for v in _call_values(node))
        if name in self._filename_calls:
            self.file_calls.append((node, scope))  # the callee's import is resolved once all are seen
        if kind is not ast.Attribute:
            return
        if name in self._client_methods:
            # keyflow: a cache client's key is its first positional argument or `key=`/`name=`
            if self.client_module:
                self.client_calls.append((node, scope))  # the receiver is judged once the module is collected
        if name in self._mapping_methods and node.args:
            shape = _MAPPING_SHAPES.get(name)
            if shape is None or (not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)
                                 and shape[0] <= len(node.args) <= shape[1]):
                # keyflow's mapping methods: the first argument
                self.table_uses.append((func.value, node.args[0], scope, name in _MAPPING_WRITES, False))  # type: ignore[attr-defined]
            self._mapping_use(func.value, node.args[0], write=name in _MAPPING_WRITES)  # type: ignore[attr-defined]
        if name in self._extra_sink_methods or name.endswith("_object") or name.startswith("upload_"):
            self.hash_keys.extend((v, scope) for v in _call_values(node))  # KL401's own SQL and object-store sinks

    def _bind(self, target: ast.expr, value: ast.expr, scope: int, in_class: bool, sure: bool = True) -> None:
        """`sure`: keyflow binds the names in `scope` too (not a comprehension's or walrus's target)."""
        flowing = _Unpacked(value) if isinstance(target, (ast.Tuple, ast.List)) and self._unpacks_call(value) else value
        for var in self._target_vars(target, scope, in_class):
            self.equations.append((var, flowing, scope))
            if isinstance(var, tuple):
                self.values.setdefault(var, []).append(value)
                self.maybe_bound.setdefault(var[0], set()).add(var[1])
                if sure:
                    self.assigned.setdefault(var[0], set()).add(var[1])

    def _target_vars(self, target: ast.expr, scope: int, in_class: bool) -> list[Var]:
        """Variables a binding target writes: (scope, name) for names (class-body names are attributes
        too), "a:attr" for attributes; subscript targets write no variable."""
        found: list[Var] = []
        stack = [target]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Name):
                found.append((scope, node.id))
                if in_class:
                    found.append("a:" + node.id)
            elif isinstance(node, ast.Attribute):
                found.append("a:" + node.attr)
            elif isinstance(node, (ast.Tuple, ast.List)):
                stack.extend(node.elts)
            elif isinstance(node, ast.Starred):
                stack.append(node.value)
        return found

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.aliases.setdefault(alias.asname, set()).add(alias.name)
                else:
                    head = alias.name.split(".", 1)[0]
                    self.aliases.setdefault(head, set()).add(head)
            return
        if node.level or not node.module:
            return
        for alias in node.names:
            self.aliases.setdefault(alias.asname or alias.name, set()).add(f"{node.module}.{alias.name}")

    def _unpacks_call(self, value: ast.expr) -> bool:
        """keyflow's `is_bucket`: an item unpacked (or iterated) from a call or method call's result
        is a field of it (`year, month, *_ = time.gmtime(t)`), no longer a changing time. Not for
        the calls keyflow traces otherwise: formatting, `.join`, a module class, a sanitizer."""
        if type(value) is not ast.Call or self.settings.sanitizers:
            return False
        func = value.func
        if isinstance(func, ast.Name):
            return func.id not in _TEXT_CALLS and func.id != "map" and func.id not in self.class_names
        return not (isinstance(func, ast.Attribute) and func.attr in ("format", "join"))

    def _mapping_use(self, container: ast.expr, key: ast.expr, write: bool) -> None:
        # keyflow's mapping identities: a module global, or `self.x` / `Class.x`
        if isinstance(container, ast.Name):
            label = "n:" + container.id  # kept only if the module binds it (see _mismatch_possible)
        elif isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name) and (
            # `self` of the method or of any enclosing method (a lambda or nested def reads it freely)
            any(self.first_param.get(s) == container.value.id for s in self._chain(self._scope_now))
            or container.value.id in self.class_names
            or container.value.id[:1].isupper()  # a class defined later in the module
        ):
            label = "a:" + container.attr
        else:
            return
        self.mappings.setdefault(label, []).append((write, key, self._scope_now))

    # ---- seeding sources ----------------------------------------------------------------------
    def _seed(self) -> None:
        # `global`/`nonlocal` names are written where they live
        if self.globals or self.nonlocals:
            moved: list[tuple[Var, ast.expr, int]] = []
            for var, expr, scope in self.equations:
                if isinstance(var, tuple):
                    owner, name = var
                    if name in self.globals.get(owner, ()):
                        var = (MODULE, name)
                    elif name in self.nonlocals.get(owner, ()):
                        moved.extend(((s, name), expr, scope) for s in self._chain(owner)[1:])
                moved.append((var, expr, scope))
            self.equations = moved
        for _ in range(len(self.class_bases)):  # a base with its own text (or unknown) gives it to subclasses
            changed = False
            for name, bases in self.class_bases.items():
                if self.class_raw[name] & self.address_raw and any(
                    b is None or (b != "object" and not self.class_raw.get(b, 0) & self.address_raw) for b in bases
                ):
                    self.class_raw[name] &= ~self.address_raw
                    changed = True
            if not changed:
                break
        external = self.t["CONTEXT_TYPE_NAMES"] | self.source_types
        for var, names in self.annotated:
            bits = self.context_raw if names & external else 0
            for name in names & self.class_names:
                bits |= self.class_raw[name]
            if bits:
                self.var[var] = self.var.get(var, 0) | bits
            if names & _SET_TYPES:
                self.var[var] = self.var.get(var, 0) | self.unordered
        self._bind_calls()

    def _bind_calls(self) -> None:
        """keyflow's `arguments_for`: a call binds its arguments to the parameters of the functions it
        may run. A method skips `self` (a static one does not); arguments from the first `*x` on, and
        `**kw`, bind nothing; a keyword binds only the parameter of its name. `obj.m(...)` runs a
        method `m` when `obj` is a method's first parameter or a class, or else only when `m` is a
        non-dunder, uncommon name defined once in the module (keyflow's `call_sites`)."""
        functions, inits = self.functions, self.class_inits
        for call, scope, callee in self.call_nodes:
            if callee not in functions and callee not in inits:
                continue
            func = call.func
            owners = self._call_owners(func, callee, scope)
            if isinstance(func, ast.Name):
                # a method reached by a plain name (from its class body) is called as a plain function
                targets: list[tuple[int, tuple[int, ...]]] = [(o, (0, 1) if o in self.method_nodes else (0,)) for o in owners]
                targets += [(o, (1,)) for o in inits.get(callee, ())]
            else:
                targets = [(o, self._shifts(o)) for o in owners]
            for owner, shifts in targets:
                params = self.params[owner]
                positional = self.positional[owner]
                for index, arg in enumerate(call.args):
                    if isinstance(arg, ast.Starred):
                        break  # keyflow binds no position at or after a `*x`
                    for shift in shifts:
                        if index + shift < len(positional):
                            self.equations.append(((owner, positional[index + shift]), _Passed(arg), scope))
                for keyword in call.keywords:
                    if keyword.arg is not None and keyword.arg in params:
                        self.equations.append(((owner, keyword.arg), _Passed(keyword.value), scope))

    def _shifts(self, owner: int) -> tuple[int, ...]:
        """Positional arguments skip a method's receiver, unless a decorator may make it static."""
        node = self.method_nodes.get(owner)
        if node is None:
            return (0,)
        if any(n.endswith("staticmethod") for names in self.decorator_names(node) for n in names):
            return (0, 1)
        return (1,)

    def _call_owners(self, func: ast.expr, name: str, scope: int) -> list[int]:
        """The defs a call spelt `name` may run (its parameters bound, its returns the value): a plain
        name, a def its scope sees (`min(a, b)` is not a `def min` method); `obj.m`, `_method_owners`."""
        owners = self.functions.get(name, [])
        if owners and isinstance(func, ast.Name):
            return [o for o in owners if self._visible(o, scope)]
        if owners and isinstance(func, ast.Attribute):
            return self._method_owners(func, owners, scope)
        return owners

    def _method_owners(self, func: ast.Attribute, owners: list[int], scope: int) -> list[int]:
        """The defs `obj.m(...)` may run, as keyflow's `call_target`/`call_sites` take them: on a
        method's first parameter or a class, `m` of that class or a module base (any enclosing
        method's class: wider than keyflow's innermost one); else, and also, `m` when it is a
        non-dunder, uncommon method name defined once in the module."""
        memo = (id(func), scope)
        known = self._owners_memo.get(memo)
        if known is None:
            known = self._owners_memo[memo] = self._find_method_owners(func, owners, scope)
        return known

    def _find_method_owners(self, func: ast.Attribute, owners: list[int], scope: int) -> list[int]:
        name = func.attr
        by_name = len(owners) == 1 and not name.startswith("__") and name not in self.t["COMMON_METHODS"]
        found = [o for o in owners if by_name and o in self.method_nodes]
        receiver = func.value
        if not isinstance(receiver, ast.Name):
            return found
        classes = {receiver.id} if receiver.id in self.class_names else set()
        for s in self._chain(scope):
            if self.receiver_of(s) == receiver.id:
                classes.add(self.class_of.get(self.parents[s], ""))
        if not classes:
            return found
        family = self._ancestors(classes)
        return [o for o in owners if o in found or (o in self.method_nodes and self.class_of.get(self.parents[o]) in family)]

    def _ancestors(self, classes: set[str]) -> set[str]:
        """These classes and their bases defined in the module (by name, every class of a name)."""
        family = set(classes)
        todo = list(classes)
        while todo:
            for node in self.class_nodes.get(todo.pop(), ()):
                for base in node.bases:
                    name = _last(base)
                    if name is not None and name not in family:
                        family.add(name)
                        todo.append(name)
        return family

    def _visible(self, function: int, scope: int) -> bool:
        """Can a plain name read in `scope` be this def (keyflow's `lookup_scope_chain`)? A method
        only from the body of its class."""
        return function not in self.method_nodes or self.parents[function] in self._chain(scope)

    def receiver_of(self, scope: int) -> str | None:
        """keyflow's `fn.params[0]` of a method (static ones too): the name `self.m()` calls go through."""
        params = self.params[scope] if scope in self.method_nodes else None
        return params[0] if params else None

    def decorator_names(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[set[str]]:
        """Each decorator's possible qualified names, and the name it is spelt with."""
        found = []
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            found.append(self._quals(target) | {_last(target) or ""})
        return found

    # ---- evaluation ---------------------------------------------------------------------------
    def _quals(self, expr: ast.expr) -> set[str]:
        dotted = _dotted(expr)
        if dotted is None:
            return set()
        head, dot, rest = dotted.partition(".")
        found = {dotted}
        for qual in self.aliases.get(head, ()):
            found.add(qual + dot + rest)
        return found

    def _name_source(self, name: str) -> int:
        value = self._name_memo.get(name)
        if value is None:
            lowered = name.lower()
            value = 0
            context_re, deadline_re, timeout_re = name_patterns()
            if context_re is not None and context_re.match(lowered):
                value |= self.context_raw
            if deadline_re is not None and deadline_re.match(lowered):
                value |= self.deadline
            if timeout_re is not None and timeout_re.match(lowered):
                value |= self.timeout_raw
            if self.source_names is not None and self.source_names.match(lowered):
                value |= self.configured
            self._name_memo[name] = value
        return value

    # What survives each kind of derivation (the rules' path checks, coarsened):
    #   call argument  KL101 (already text), KL601; clocks/ids/hashes/orderings only through the
    #                  calls each rule lets through (PROPAGATE_TIME, KEEPS_ID, CARRIES, DIGESTS), all
    #                  through a module helper
    #   method         receiver: + clocks, hashes (+ orderings and addresses through DIGEST_METHODS)
    #   operator       all but ids, orderings and addresses; `//` ends clocks, bounding ops end KL601
    #   attribute      of the value: + ids, hashes, orderings (+ clocks through FINE_ATTRS)
    #   subscript      its container: KL101, KL601
    def _masks(self) -> None:
        self.keep_always = self.context_raw >> _RAW_SHIFT | self.per_call | self.configured
        self.through_stored = ~0  # narrowed by run(): KL601 ignores fresh values stored on an object
        self.bucketed = self.clock | self.deadline | self.timeout_raw  # time_reaches ends at these
        self.time_bits = self.clock | self.deadline
        self.address_hot = self.address_raw >> _RAW_SHIFT

    def _strftime_not_a_clock(self, node: ast.Call, quals: set[str]) -> bool:
        """KL201 takes `time.strftime` for a clock only with one argument that is not a literal
        date-only format (`time.strftime("%Y-%m-%d")` is a bucket, `strftime(fmt, t)` formats `t`)."""
        if quals & self.t["CLOCK_FUNCTIONS"] != {"time.strftime"} or self.settings.sources:
            return False
        # libcst counts keyword, `*` and `**` arguments alike
        return len(node.args) + len(node.keywords) != 1 or self._date_only_format(node)

    def _date_only_format(self, node: ast.Call) -> bool:
        """The first argument is one literal string token (libcst's SimpleString: not `"%Y" "%M"`)
        with no directive finer than a minute: keyflow's `spec_is_bucket`."""
        spec = node.args[0] if node.args else None
        if not (isinstance(spec, ast.Constant) and isinstance(spec.value, str)):
            return False
        if "%" not in spec.value or _FINE_DIRECTIVES.search(spec.value) or self._source is None:
            return False
        segment = self._source.segment(spec)
        return segment is not None and one_string_token(segment)

    def _per_call(self, node: ast.Call, quals: set[str], scope: int) -> int:
        """KL601's sources as its rule takes them: fresh values only made inside a function (once at
        import is reused), a ranged draw only from a literal huge range, `getrandbits` from 20 bits
        on; process/thread ids only where a shared (client or configured) sink may exist; all only in
        a module that imports one of their modules."""
        t = self.t
        if not self.per_call_modules:
            return 0
        if quals & t["PROCESS_CALLS"]:
            return self.per_call if self.process_keys else 0
        if scope == MODULE or self.is_class[scope]:
            return 0
        if quals & t["RANGED_CALLS"] and not quals & (t["PER_CALL_FUNCTIONS"] - t["RANGED_CALLS"]):
            if node.keywords:
                return self.per_call  # the rule reads the last argument in source order: keep it simple
            bound = _literal_int(node.args[-1]) if node.args else None
            return self.per_call if bound is not None and abs(bound) >= _HUGE_RANGE else 0
        if "random.getrandbits" in quals and len(quals & t["PER_CALL_FUNCTIONS"]) == 1 and node.args:
            bits = _literal_int(node.args[0])
            return self.per_call if bits is None or bits >= 20 else 0
        return self.per_call

    def eval(self, node: ast.expr, scope: int, depth: int = 0) -> int:
        if depth > 60:
            return self.sink_mask | (self.sink_mask << _RAW_SHIFT)  # too deep to follow: assume the worst
        kind = type(node)
        if kind is ast.Constant:
            return 0
        if kind is ast.Name:
            assert isinstance(node, ast.Name)
            name = node.id
            var = self.var
            value = self._name_source(name)
            reads = self._reads
            for owner in self._chain(scope):
                value |= var.get((owner, name), 0)
                if reads is not None:
                    reads.add((owner, name))
            if name in self.def_names:
                value |= self.address_raw
            return value
        d = depth + 1
        if kind is _Element:  # an item of an iterable: not itself a set, and an ordering ends here
            value = self.eval(node.value, scope, d) & ~(self.unordered | self.order_hot)  # type: ignore[attr-defined]
            return value & ~self.bucketed if self._unpacks_call(node.value) else value  # type: ignore[attr-defined]
        if kind is _Unpacked:
            return self.eval(node.value, scope, d) & ~self.bucketed  # type: ignore[attr-defined]
        if kind is _RawObject:
            return self.class_raw.get(node.cls, self.object_raw)  # type: ignore[attr-defined]
        if kind is _Passed:  # KL302 drops an id taken in a caller: its object's lifetime is not visible
            return self.eval(node.value, scope, d) & ~self.id_hot  # type: ignore[attr-defined]
        if kind is _Unordered:
            return self.unordered
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            # KL302 drops an id read through an attribute (taken elsewhere) unless the key is that
            # attribute itself: `root_attribute` adds it back for a key
            member = self.keep_always | self.hash_hot | self.order_hot
            if node.attr in self.t["FINE_ATTRS"]:
                member |= self.time_bits
            receiver = self.eval(node.value, scope, d) & _HOT & member
            if self._reads is not None:
                self._reads.add("a:" + node.attr)
            stored = self.var.get("a:" + node.attr, 0) & self.through_stored & ~self.id_hot
            return stored | self._name_source(node.attr) | receiver
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            return self._eval_call(node, scope, d)
        if kind is ast.JoinedStr:
            assert isinstance(node, ast.JoinedStr)
            return _to_hot(sum_or(self.eval(v, scope, d) for v in node.values))
        if kind is ast.FormattedValue:
            assert isinstance(node, ast.FormattedValue)
            return _to_hot(self.eval(node.value, scope, d))
        if kind is ast.BinOp:
            assert isinstance(node, ast.BinOp)
            both = self.eval(node.left, scope, d) | self.eval(node.right, scope, d)
            op = type(node.op)
            if op is ast.Add:
                return both
            left = node.left
            if op is ast.Mod and isinstance(left, (ast.Constant, ast.JoinedStr)) and not isinstance(getattr(left, "value", ""), (int, float, complex)):
                return _to_hot(both)  # `"..." % x`: x's text
            keep = _HOT & ~(self.id_hot | self.order_hot | self.address_hot)
            if _OP_SYMBOLS.get(op) in self.t.get("BOUNDING_OPS", ()):
                keep &= ~self.per_call
            if op is ast.FloorDiv:
                keep &= ~self.time_bits
            found = both & keep
            if op in _SET_OPS:
                found |= both & self.unordered
            return found
        if kind is ast.UnaryOp:
            assert isinstance(node, ast.UnaryOp)
            return self.eval(node.operand, scope, d) & _HOT & ~(self.id_hot | self.order_hot | self.address_hot)
        if kind in _PLAIN_SEQUENCES:
            return sum_or(self.eval(e, scope, d) for e in node.elts)  # type: ignore[attr-defined]
        if kind is ast.Set:
            assert isinstance(node, ast.Set)
            return self.unordered | sum_or(self.eval(e, scope, d) for e in node.elts)
        if kind is ast.Dict:
            assert isinstance(node, ast.Dict)
            return sum_or(self.eval(e, scope, d) for e in [*node.keys, *node.values] if e is not None)
        if kind is ast.Starred or kind is ast.Await or kind is ast.NamedExpr:
            return self.eval(node.value, scope, d)  # type: ignore[attr-defined]
        if kind is ast.IfExp:
            assert isinstance(node, ast.IfExp)
            return self.eval(node.body, scope, d) | self.eval(node.orelse, scope, d)
        if kind is ast.BoolOp:
            assert isinstance(node, ast.BoolOp)
            return sum_or(self.eval(v, scope, d) for v in node.values)
        if kind is ast.Lambda:
            return self.address_raw
        if kind in _COMPREHENSIONS:
            parts: list[ast.expr] = [node.elt] if kind is not ast.DictComp else [node.key, node.value]  # type: ignore[attr-defined]
            value = sum_or(self.eval(p, scope, d) for p in parts)
            for generator in node.generators:  # type: ignore[attr-defined]
                value |= self.eval(generator.iter, scope, d) & self.unordered  # the iteration order
            return value | (self.unordered if kind is ast.SetComp else 0)
        if kind is ast.Subscript:
            assert isinstance(node, ast.Subscript)
            return self.eval(node.value, scope, d) & self.keep_always
        return 0  # comparisons, slices, yields...: keyflow follows nothing through them

    def _eval_call(self, node: ast.Call, scope: int, d: int) -> int:
        func = node.func
        name = _last(func)
        args = _call_values(node)
        values = sum_or(self.eval(a, scope, d) for a in args)
        quals = self._quals(func) if name is not None else set()
        owners = self._call_owners(func, name, scope) if name is not None else []
        helper = bool(owners)
        t = self.t
        if helper:
            keep = _HOT  # a module helper: its parameters are bound, its returns are the value
        else:
            keep = self.keep_always
            if quals & t["PROPAGATE_TIME"]:
                keep |= self.time_bits
            if quals & t["KEEPS_ID"]:
                keep |= self.id_hot
            hashlib = any(q.startswith("hashlib.") for q in quals)
            if quals & t["CARRIES"] or hashlib:
                keep |= self.hash_hot
            if quals & t["DIGESTS"] or hashlib:
                keep |= self.order_hot | self.address_hot
            if quals & t.get("BOUNDING_CALLS", frozenset()):
                keep &= ~self.per_call
            if quals & t.get("BUCKET_CALLS", frozenset()):
                keep &= ~self.time_bits
        result = values & keep
        receiver = 0
        if isinstance(func, ast.Attribute):
            receiver = self.eval(func.value, scope, d)
            method_keep = self.keep_always | self.time_bits | self.hash_hot
            if name in t.get("COARSE_METHODS", ()):
                method_keep &= ~self.time_bits
            if name in t["DIGEST_METHODS"]:
                method_keep |= self.order_hot | self.address_hot
            as_method = (values & self.keep_always) | (receiver & _HOT & method_keep)
            dotted = _dotted(func)
            if dotted is not None and dotted.split(".", 1)[0] in self.aliases:
                result |= as_method  # `module.function(...)` (or a value shadowing the import)
            else:
                result = as_method | (result if helper else 0)
        elif not isinstance(func, ast.Name):
            result |= self.eval(func, scope, d) & self.keep_always
        if name is None:
            return result
        if quals == {"time.strftime"} and self._date_only_format(node):
            result &= ~self.bucketed  # keyflow's `is_bucket`: the time formatted here is a date
        if quals & t["CLOCK_FUNCTIONS"] or (name == "time" and not args and isinstance(func, ast.Attribute)):
            if not self._strftime_not_a_clock(node, quals):
                result |= self.clock
        if name in t["DEADLINE_CALLS"] and not args:
            result |= self.deadline
        if quals & t["PER_CALL_FUNCTIONS"]:
            result |= self._per_call(node, quals, scope)
        if quals & t["DUMPERS"]:
            result |= self.order_hot | (values & self.unordered and self.order_hot)
        if quals & t["CONTEXT_FACTORIES"] or (isinstance(func, ast.Attribute) and name in t["CONTEXT_METHODS"]):
            result |= self.context_raw
        if quals & t["ADDRESS_FACTORIES"]:
            result |= self.address_raw
        if name in self.class_names:
            result |= self.class_raw[name]
        if name in t["CONTEXT_TYPE_NAMES"] or name in self.source_types:
            result |= self.context_raw
        if name in self.source_functions:
            result |= self.configured
        for owner in owners:
            result |= self.var.get(f"r:{owner}", 0)
            if self._reads is not None:
                self._reads.add(f"r:{owner}")
        if isinstance(func, ast.Name):
            if name in _TEXT_CALLS:
                result |= _to_hot(values)
            elif name == "id":
                result |= self.id_hot
            elif name == "hash":
                result |= self.hash_hot
            elif name in ("tuple", "list"):
                result |= _to_hot(values & self.unordered)
            elif name in ("set", "frozenset"):
                result |= self.unordered
            elif name == "dict":
                result |= values & self.unordered
            elif name == "map" and args and _last(args[0]) in ("str", "repr"):
                result |= _to_hot(values)
        else:
            if name == "format":
                result |= _to_hot(values | receiver)
            elif name == "join":  # the items reach the text (an ordering of them is the source)
                result |= (values & ~self.order_hot) | _to_hot(values & self.unordered)
            elif name in _SET_METHODS:
                result |= self.unordered
            elif name in _KEEP_SET_METHODS:
                result |= receiver & self.unordered
        return result

    # ---- KL801: one mapping written under a built key and read or deleted by a related one ----
    def _mismatch_possible(self) -> bool:
        """KL801 needs a module global or `self.x` mapping written under a built key (a template, a
        tuple, a normalised value) and read or deleted under a key of a mismatching shape."""
        module_names = {var[1] for var, _, _ in self.equations if isinstance(var, tuple) and var[0] == MODULE}
        candidates = []
        for label, uses in self.mappings.items():
            if label.startswith("n:") and label[2:] not in module_names:
                continue  # a local container has no identity beyond one call
            reads = [(key, scope) for write, key, scope in uses if not write]
            writes = [(key, scope) for write, key, scope in uses if write]
            if reads and writes:
                candidates.append((writes, reads))
        if not candidates:
            return False
        if self._source is None:
            return True
        finder = ShapeFinder(self._source, self.values, self.params, self.first_param, self._chain, self.globals,
                             self.functions, self.scope_returns, self.defaults, self.aliases)
        return any(could_mismatch(finder, writes, reads) for writes, reads in candidates)


class _RawObject(ast.expr):
    """Placeholder expression: an instance of module class `cls` (`self`), "" when unknown."""

    def __init__(self, cls: str = "") -> None:
        super().__init__()
        self.cls = cls


class _Wrapped(ast.expr):
    """Placeholder expression: `value` reached in a way that changes which bits pass (a subclass each)."""

    def __init__(self, value: ast.expr) -> None:
        super().__init__()
        self.value = value


class _Element(_Wrapped):
    """An item of the iterable `value` (a `for` or comprehension target)."""


class _Passed(_Wrapped):
    """The argument `value` bound to a parameter by a call."""


class _Unpacked(_Wrapped):
    """An item unpacked from the call `value` (`a, b = f()`)."""


class _Unordered(ast.expr):
    """Placeholder expression: a value whose items come in no stable order (`**kwargs`)."""


_TEXT_METHODS = frozenset({"__repr__", "__str__", "__format__"})
_IMPLICIT_CLASS_METHODS = frozenset({"__new__", "__init_subclass__", "__class_getitem__"})  # KL701's
_CLASS_PARAMS = frozenset({"cls", "mcs", "mcls", "metacls", "klass"})  # KL701's class-receiver names
_STATIC_OR_CLASS = frozenset({"staticmethod", "classmethod", "builtins.staticmethod", "builtins.classmethod"})
_INIT_METHODS = frozenset({"__init__", "__post_init__", "__new__", "__setstate__", "__init_subclass__"})
_MUTATORS = frozenset(
    "append extend insert remove pop popleft appendleft clear update add discard setdefault sort reverse".split()
)
_CLOCK_NAMES = frozenset(
    """time time_ns monotonic monotonic_ns perf_counter perf_counter_ns process_time process_time_ns thread_time
    clock_gettime clock_gettime_ns localtime gmtime ctime now utcnow today""".split()
)


# keyflow.timeflow's `_FINE_DIRECTIVES`: a strftime format without these is a bucket (tests check it)
_FINE_DIRECTIVES = re.compile(r"%[SfXTcsNR]|%-?[SfX]")


def _inner_nodes(root: ast.AST) -> Iterator[ast.AST]:
    """Every node under `root` (itself included) but the leaves `_NOT_PUSHED` holds: `ast.walk`
    without names, constants and contexts."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        for field in _CHILD_FIELDS.get(type(node)) or _child_fields(type(node)):
            value: Any = getattr(node, field, None)
            if type(value) is list:
                stack.extend(item for item in value if type(item) not in _NOT_PUSHED)
            elif type(value) not in _NOT_PUSHED:
                stack.append(value)


def _class_methods(node: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The defs of a class body, those under its `if`/`try`/`with`/loops/`match` included (keyflow's
    methods: defs whose scope is the class body)."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    todo: list[ast.AST] = list(node.body)
    while todo:
        statement = todo.pop()
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(statement)
        elif not isinstance(statement, ast.ClassDef):
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                todo.extend(getattr(statement, field, ()))
    return found


def _receiver(method: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    positional = [*method.args.posonlyargs, *method.args.args]
    return positional[0].arg if positional else None


def _writes_self(method: ast.FunctionDef | ast.AsyncFunctionDef, attributes: set[str] | None) -> bool:
    """Does the method assign, delete or mutate a `self` attribute (one of `attributes`; None: any)?
    keyflow's `self_writes`, widened: an attribute or subscript store or delete, or a mutator call,
    whose chain reaches `self.x`."""
    receiver = _receiver(method)
    if receiver is None:
        return False
    for node in _inner_nodes(method):
        kind = type(node)
        if kind is ast.Attribute or kind is ast.Subscript:
            if type(node.ctx) is ast.Load:  # type: ignore[attr-defined]
                continue
            chain = node
        elif kind is ast.Call and type(node.func) is ast.Attribute and node.func.attr in _MUTATORS:  # type: ignore[attr-defined]
            chain = node.func.value  # type: ignore[attr-defined]
        else:
            continue
        while type(chain) is ast.Attribute or type(chain) is ast.Subscript:
            value = chain.value  # type: ignore[attr-defined]
            if type(chain) is ast.Attribute and type(value) is ast.Name and value.id == receiver:
                if attributes is None or chain.attr in attributes:  # type: ignore[attr-defined]
                    return True
                break
            chain = value
    return False


_UNORDERED = _Unordered()
_BLOCKS = frozenset({ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler,
                     getattr(ast, "TryStar", ast.Try), getattr(ast, "Match", ast.If), getattr(ast, "match_case", ast.If)})
# Node kinds `_Screen._enter` takes: they open a scope or say where names live
_SCOPE_KINDS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Global, ast.Nonlocal})
_PLAIN_SEQUENCES = (ast.Tuple, ast.List)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_SET_OPS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)
# What the walk records of each node kind (a kind not here is only walked through); node kinds with
# nothing below that matters; fields never holding one.
_HANDLERS: dict[type, Callable[[_Screen, Any, int, int, bool], None]] = {
    ast.Call: _Screen._on_call, ast.Assign: _Screen._on_assign, ast.Subscript: _Screen._on_subscript,
    ast.Compare: _Screen._on_compare, ast.Return: _Screen._on_return, ast.comprehension: _Screen._on_loop,
    ast.For: _Screen._on_loop, ast.AsyncFor: _Screen._on_loop, ast.withitem: _Screen._on_with_item,
    ast.AugAssign: _Screen._on_aug_assign, ast.AnnAssign: _Screen._on_ann_assign,
    ast.NamedExpr: _Screen._on_named_expr, ast.Import: _Screen._on_import, ast.ImportFrom: _Screen._on_import,
    ast.ExceptHandler: _Screen._on_loose_binding, ast.Match: _Screen._on_loose_binding,
}
_LEAVES = frozenset({ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.alias, ast.Pass, ast.Break, ast.Continue,
                     *ast.operator.__subclasses__(), *ast.boolop.__subclasses__(), *ast.cmpop.__subclasses__(),
                     *ast.unaryop.__subclasses__()})
# What a field may hold that is not a node to visit: leaves, and the plain values of unskipped fields
# (an `except ... as name` str, a `None` default, a `**` key); any other plain value has no fields.
_NOT_PUSHED = _LEAVES | {type(None), str, int, bytes, bool, float, complex, type(...)}
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops", "type_comment", "type_ignores", "names", "id", "attr", "arg", "module",
                             "level", "kind", "conversion", "is_async", "simple"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    """The fields of a node kind that may hold a node to visit (memoised in `_CHILD_FIELDS`); a str
    or int never gets here: `_NOT_PUSHED` holds them."""
    fields = _CHILD_FIELDS[kind] = tuple(f for f in getattr(kind, "_fields", ()) if f not in _SKIPPED_FIELDS)
    return fields
_OP_SYMBOLS = {ast.Mod: "%", ast.FloorDiv: "//", ast.BitAnd: "&", ast.RShift: ">>", ast.LShift: "<<"}


def sum_or(values: Iterable[int]) -> int:
    result = 0
    for value in values:
        result |= value
    return result


def _call_values(node: ast.Call) -> list[ast.expr]:
    """A call's argument values, positional (unstarred) then keyword."""
    return [a.value if isinstance(a, ast.Starred) else a for a in node.args] + [k.value for k in node.keywords]


def _to_hot(value: int) -> int:
    """A value's text: raw sources become hot, raw bits themselves are gone (text is a str)."""
    return (value | (value >> _RAW_SHIFT)) & _HOT


_HUGE_RANGE = 2**20  # KL601's `_HUGE`: a draw from a smaller range is sampling, not a fresh id


def _literal_int(expr: ast.expr) -> int | None:
    """KL601's `_eval_int` over `ast`: int literals and `**`, `*`, `-`, `<<` of them."""
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    if isinstance(expr, ast.BinOp):
        left, right = _literal_int(expr.left), _literal_int(expr.right)
        if left is None or right is None:
            return None
        op = type(expr.op)
        if op is ast.Pow and 0 <= right <= 256:
            return int(left**right)
        if op is ast.Mult:
            return left * right
        if op is ast.Sub:
            return left - right
        if op is ast.LShift and 0 <= right <= 256:
            return left << right
    return None


def _all_args(args: ast.arguments) -> list[ast.arg]:
    found = [*args.posonlyargs, *args.args]
    if args.vararg is not None:
        found.append(args.vararg)
    found.extend(args.kwonlyargs)
    if args.kwarg is not None:
        found.append(args.kwarg)
    return found


def _bounded(decorator: ast.expr, quals: set[str]) -> bool:
    """KL701's `_maxsize` is surely not "unbounded": not `functools.cache`, and no `maxsize=None` or
    `cache={}` (the first positional or `maxsize`/`cache` argument decides)."""
    if "functools.cache" in quals:
        return False
    if not isinstance(decorator, ast.Call):
        return True
    relevant = [*decorator.args, *(k.value for k in decorator.keywords if k.arg in (None, "maxsize", "cache"))]
    if not relevant:
        return True
    first = relevant[0]
    return not (isinstance(first, ast.Constant) and first.value is None) and not isinstance(first, ast.Dict)
