"""The fast path: a conservative `ast` pass that answers "could any selected rule fire in this file?"
before libcst ever sees it (libcst costs ~11x `ast.parse`, and most files have no unstable key).

It runs a coarse version of keyflow's question over CPython's `ast` tree: is there a key sink
(subscript, `in`, mapping/cache method, file name, cached-function call, configured sink) whose key
expression could derive from a source some rule looks for? Values carry a bit mask per rule:
  H ("hot")  a source that fires when it reaches a key (a clock, `id()`, `hash()`, `json.dumps`, ...);
  R ("raw")  a source that fires only once its *text* is taken (a context, an object whose text is an
             address, a timeout, a set): str()/repr()/format()/f-string/`%`/.format turn R into H.
Names, attributes and function returns are merged module-wide (scopes ignored, all call sites bound
to all parameters of every function of that name): coarser than keyflow, so it over-approximates.
KL701 and KL801 are not key-flow rules and get their own structural triggers. A rule code the screen
does not know makes it say yes for every file. `tests/test_screen.py` proves it never drops a finding.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from keylint.settings import Settings

# Codes whose sources this module models; any other enabled code disables the screen.
KNOWN_CODES = ("KL101", "KL102", "KL201", "KL301", "KL302", "KL401", "KL501", "KL601", "KL701", "KL801")
_BIT = {code: 1 << i for i, code in enumerate(KNOWN_CODES)}
_RAW_SHIFT = 16
_HOT = (1 << _RAW_SHIFT) - 1

# --- tables mirrored from keyflow/rules (tests/test_screen.py checks they stay supersets) ---------
CLOCK_FUNCTIONS = frozenset(
    """time.time time.time_ns time.monotonic time.monotonic_ns time.perf_counter time.perf_counter_ns
    time.process_time time.process_time_ns time.thread_time time.clock_gettime time.clock_gettime_ns
    time.localtime time.gmtime time.ctime time.strftime datetime.datetime.now datetime.datetime.utcnow
    datetime.datetime.today datetime.date.today django.utils.timezone.now django.utils.timezone.localtime
    arrow.now arrow.utcnow pendulum.now pendulum.today""".split()
)
PER_CALL_FUNCTIONS = frozenset(
    """uuid.uuid1 uuid.uuid4 uuid.uuid6 uuid.uuid7 os.urandom os.getrandom secrets.token_bytes secrets.token_hex
    secrets.token_urlsafe secrets.randbits secrets.randbelow random.random random.uniform random.getrandbits
    random.randbytes random.gauss random.normalvariate random.lognormvariate random.expovariate
    random.vonmisesvariate random.gammavariate random.betavariate random.paretovariate random.weibullvariate
    random.triangular random.binomialvariate random.randint random.randrange os.getpid threading.get_ident
    threading.get_native_id _thread.get_ident""".split()
)
DUMPERS = frozenset("json.dumps simplejson.dumps ujson.dumps pickle.dumps marshal.dumps cPickle.dumps".split())
CONTEXT_FACTORIES = frozenset(
    """asyncio.timeout asyncio.timeout_at asyncio.create_task asyncio.ensure_future asyncio.current_task
    asyncio.Task asyncio.Future asyncio.wrap_future concurrent.futures.Future contextvars.copy_context
    contextvars.Context threading.Thread threading.Timer threading.current_thread threading.main_thread""".split()
)
CONTEXT_METHODS = frozenset("create_task create_future run_in_executor submit".split())
CONTEXT_TYPE_NAMES = frozenset(  # last components of keyflow's CONTEXT_TYPES
    """ServicerContext RpcContext Context Timeout Task Future Thread Timer HttpRequest Request BaseRequest
    HTTPServerRequest""".split()
)
ADDRESS_FACTORIES = frozenset(
    """object threading.Lock threading.RLock threading.Condition threading.Event threading.Semaphore
    asyncio.Lock asyncio.Event asyncio.Queue""".split()
)
CONTEXT_NAMES = ("ctx", "context", "*_ctx")
DEADLINE_NAMES = (
    "deadline", "*_deadline", "deadline_*", "expires_at", "expire_at", "expiry", "expiration", "expires",
    "remaining", "time_remaining", "remaining_time", "*_remaining", "remaining_*", "ttl_left", "time_left",
    "timeleft", "expiry_time", "expiration_time", "valid_until", "not_after",
)
TIMEOUT_NAMES = ("timeout", "*_timeout", "timeout_*", "ttl", "*_ttl", "time_limit")
DEADLINE_CALLS = frozenset("time_remaining remaining get_deadline deadline when time_left".split())
CACHE_DECORATOR_NAMES = frozenset(  # last components of keyflow's CACHE_DECORATORS and KL701's caches
    "lru_cache cache cached ttl_cache lfu_cache rr_cache fifo_cache mru_cache alru_cache".split()
)
MAPPING_METHODS = frozenset("get setdefault pop __contains__ __getitem__ __setitem__ __delitem__ add discard".split())
_MAPPING_WRITES = frozenset({"setdefault", "__setitem__", "add"})
CLIENT_METHODS = frozenset(
    """get set add delete get_or_set touch incr decr incrby decrby incr_version has_key
    setex setnx psetex getset getdel getex exists expire expireat pexpire ttl pttl persist unlink append
    hget hset hdel hexists hgetall hincrby hkeys hvals hlen hmget hmset hsetnx lpush rpush lpop rpop lrange llen
    sadd srem smembers sismember scard zadd zrem zrange zscore zincrby replace cas gets prepend
    increment expire_at pop memoize set_many get_many delete_many""".split()
)
FILENAME_CALLS = frozenset("open Path join connect".split())  # last components of keyflow's file-name sinks
EXTRA_SINK_METHODS = frozenset("execute executemany blob get_blob Object put_object get_object delete_object".split())
NORMALISERS = frozenset(
    "lower upper casefold strip lstrip rstrip title capitalize normcase normpath abspath realpath normalize".split()
)
_SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference"})
_KEEP_SET_METHODS = frozenset({"copy", "keys", "values", "items"})
_SET_TYPES = frozenset({"set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet"})
_TEXT_CALLS = frozenset({"str", "repr", "format", "ascii"})


def _glob_regex(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [re.escape(p.lower()).replace(r"\*", ".*") for p in patterns if p]
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None


_CONTEXT_RE = _glob_regex(CONTEXT_NAMES)
_DEADLINE_RE = _glob_regex(DEADLINE_NAMES)
_TIMEOUT_RE = _glob_regex(TIMEOUT_NAMES)


@lru_cache(maxsize=1)
def rule_codes() -> tuple[str, ...] | None:
    """Rule codes from the names of the modules in `keylint.rules` (`kl101_...` -> KL101), found
    without importing them (rule modules import libcst); None when a module name does not say."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("keylint.rules")
    if spec is None or not spec.submodule_search_locations:
        return None
    codes = []
    for info in pkgutil.iter_modules(list(spec.submodule_search_locations)):
        match = re.match(r"(kl\d{3})_", info.name)
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


def could_fire(tree: ast.Module, settings: Settings, codes: Sequence[str]) -> bool:
    """False only when no rule in `codes` can report anything in this module."""
    if any(code not in _BIT for code in codes):
        return True  # a rule the screen does not model: never hide it
    if not codes:
        return False
    try:
        return _Screen(settings, codes).run(tree)
    except RecursionError:
        return True


def _last(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _dotted(expr: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


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


class _Screen:
    def __init__(self, settings: Settings, codes: Sequence[str]) -> None:
        on = set(codes)

        def bit(*names: str) -> int:
            return sum(_BIT[c] for c in names if c in on)

        self.codes = on
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
        self.source_names = _glob_regex(s.name for s in settings.sources if s.name)
        self.source_functions = {s.function.rsplit(".", 1)[-1] for s in settings.sources if s.function}
        self.source_types = {s.type.rsplit(".", 1)[-1] for s in settings.sources if s.type}
        self.sink_functions = {s.function.rsplit(".", 1)[-1] for s in settings.sinks}
        # collected facts
        self.aliases: dict[str, set[str]] = {}
        self.equations: list[tuple[str, ast.expr]] = []
        self.var: dict[str, int] = {}
        self.sink_keys: list[ast.expr] = []
        self.def_names: set[str] = set()
        self.class_names: set[str] = set()
        self.cached_functions: set[str] = set()
        self.params: dict[str, list[str]] = {}  # function name -> parameter names
        self.calls: list[tuple[str, list[ast.expr]]] = []
        self.annotated: list[tuple[str, set[str]]] = []  # (var, annotation names)
        self.values: dict[str, list[ast.expr]] = {}  # name -> assigned expressions (KL801 shapes)
        self.returns: dict[str, list[ast.expr]] = {}
        self.mappings: dict[str, list[tuple[bool, ast.expr]]] = {}  # container -> (is_write, key)
        self.method_cache = False
        self._name_memo: dict[str, int] = {}

    # ---- collection ---------------------------------------------------------------------------
    def run(self, tree: ast.Module) -> bool:
        self._collect(tree)
        if self.method_cache and "KL701" in self.codes:
            return True
        if "KL801" in self.codes and self._mismatch_possible():
            return True
        for name, values in self.calls:
            if name in self.cached_functions:
                self.sink_keys.extend(values)  # a cached function's arguments are its cache key
        if not self.sink_keys:
            return False
        self._seed()
        for _ in range(30):
            changed = False
            for var, expr in self.equations:
                value = self.eval(expr)
                old = self.var.get(var, 0)
                if value | old != old:
                    self.var[var] = value | old
                    changed = True
            if not changed:
                break
        else:
            return True  # did not settle: be safe
        return any(self.eval(key) & self.sink_mask for key in self.sink_keys)

    def _collect(self, tree: ast.Module) -> None:
        stack: list[tuple[ast.AST, str | None, bool]] = [(tree, None, False)]  # (node, function, in class body)
        while stack:
            node, fn, in_class = stack.pop()
            kind = type(node)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                self._function(node, in_class)  # type: ignore[arg-type]
                for child in ast.iter_child_nodes(node):
                    stack.append((child, node.name, False))  # type: ignore[attr-defined]
                continue
            if kind is ast.ClassDef:
                assert isinstance(node, ast.ClassDef)
                self.class_names.add(node.name)
                self.def_names.discard(node.name)
                for child in node.body:
                    stack.append((child, fn, True))
                for child in [*node.bases, *node.keywords, *node.decorator_list]:
                    stack.append((child, fn, False))
                continue
            if kind is ast.Lambda:
                assert isinstance(node, ast.Lambda)
                self.params.setdefault("<lambda>", []).extend(a.arg for a in _all_args(node.args))
            self._statement(node, fn, in_class)
            for child in ast.iter_child_nodes(node):
                stack.append((child, fn, in_class and kind in _BLOCKS))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> None:
        self.def_names.add(node.name)
        args = _all_args(node.args)
        self.params.setdefault(node.name, []).extend(a.arg for a in args)
        decorators = {_last(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list}
        for decorator in node.decorator_list:
            qual = self._quals(decorator.func if isinstance(decorator, ast.Call) else decorator)
            decorators |= {q.rsplit(".", 1)[-1] for q in qual}
        if decorators & CACHE_DECORATOR_NAMES:
            self.cached_functions.add(node.name)
            if in_class:
                self.method_cache = True
        if in_class and args and "staticmethod" not in decorators:
            self.equations.append(("n:" + args[0].arg, _RAW_OBJECT))
        if node.returns is not None:
            self.annotated.append(("r:" + node.name, _annotation_names(node.returns)))
        defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        for arg in args:
            if arg.annotation is not None:
                self.annotated.append(("n:" + arg.arg, _annotation_names(arg.annotation)))
        for default in defaults:
            for arg in args:
                self.equations.append(("n:" + arg.arg, default))
        if node.args.kwarg is not None:
            self.equations.append(("n:" + node.args.kwarg.arg, _UNORDERED))

    def _statement(self, node: ast.AST, fn: str | None, in_class: bool) -> None:
        kind = type(node)
        if kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            for target in node.targets:
                self._bind(target, node.value, in_class)
        elif kind is ast.AugAssign:
            assert isinstance(node, ast.AugAssign)
            self._bind(node.target, node.value, in_class)
            if isinstance(node.target, ast.Subscript):
                self._mapping_use(node.target.value, node.target.slice, write=False)
        elif kind is ast.AnnAssign:
            assert isinstance(node, ast.AnnAssign)
            if node.value is not None:
                self._bind(node.target, node.value, in_class)
            names = _annotation_names(node.annotation)
            for var in _target_vars(node.target, in_class):
                self.annotated.append((var, names))
        elif kind is ast.For or kind is ast.AsyncFor or kind is ast.comprehension:
            self._bind(node.target, node.iter, False)  # type: ignore[attr-defined]
        elif kind is ast.withitem:
            assert isinstance(node, ast.withitem)
            if node.optional_vars is not None:
                self._bind(node.optional_vars, node.context_expr, False)
        elif kind is ast.NamedExpr:
            assert isinstance(node, ast.NamedExpr)
            self._bind(node.target, node.value, False)
        elif kind is ast.Return:
            assert isinstance(node, ast.Return)
            if node.value is not None and fn is not None:
                self.equations.append(("r:" + fn, node.value))
                self.returns.setdefault(fn, []).append(node.value)
        elif kind is ast.Import or kind is ast.ImportFrom:
            self._import(node)  # type: ignore[arg-type]
        elif kind is ast.Subscript:
            assert isinstance(node, ast.Subscript)
            self.sink_keys.append(node.slice)
            self._mapping_use(node.value, node.slice, write=isinstance(node.ctx, ast.Store))
        elif kind is ast.Compare:
            assert isinstance(node, ast.Compare)
            operands = [node.left, *node.comparators]
            for index, op in enumerate(node.ops):
                if type(op) is ast.In or type(op) is ast.NotIn:
                    self.sink_keys.append(operands[index])
                    self._mapping_use(operands[index + 1], operands[index], write=False)
        elif kind is ast.Call:
            self._call(node)  # type: ignore[arg-type]

    def _call(self, node: ast.Call) -> None:
        name = _last(node.func)
        if name is None:
            return
        values = [a.value if isinstance(a, ast.Starred) else a for a in node.args] + [k.value for k in node.keywords]
        self.calls.append((name, values))
        method = isinstance(node.func, ast.Attribute)
        if (
            (method and (name in MAPPING_METHODS or name in CLIENT_METHODS or name in EXTRA_SINK_METHODS
                         or name.endswith("_object") or name.startswith("upload_")))
            or name in FILENAME_CALLS or name in self.sink_functions
        ):
            self.sink_keys.extend(values)
        if method and name in MAPPING_METHODS and node.args:
            assert isinstance(node.func, ast.Attribute)
            self._mapping_use(node.func.value, node.args[0], write=name in _MAPPING_WRITES)

    def _bind(self, target: ast.expr, value: ast.expr, in_class: bool) -> None:
        for var in _target_vars(target, in_class):
            self.equations.append((var, value))
            if var.startswith("n:"):
                self.values.setdefault(var[2:], []).append(value)

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

    def _mapping_use(self, container: ast.expr, key: ast.expr, write: bool) -> None:
        if isinstance(container, ast.Name):
            label = "n:" + container.id
        elif isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name):
            label = "a:" + container.attr
        else:
            return
        self.mappings.setdefault(label, []).append((write, key))

    # ---- seeding sources ----------------------------------------------------------------------
    def _seed(self) -> None:
        interesting = self.class_names | CONTEXT_TYPE_NAMES | self.source_types
        for var, names in self.annotated:
            if names & interesting:
                self.var[var] = self.var.get(var, 0) | self.object_raw
            if names & _SET_TYPES:
                self.var[var] = self.var.get(var, 0) | self.unordered
        for name, values in self.calls:
            for param_owner in (name, "__init__") if name in self.class_names else (name,):
                for param in self.params.get(param_owner, ()):
                    for value in values:
                        self.equations.append(("n:" + param, value))

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
            if _CONTEXT_RE is not None and _CONTEXT_RE.match(lowered):
                value |= self.context_raw
            if _DEADLINE_RE is not None and _DEADLINE_RE.match(lowered):
                value |= self.deadline
            if _TIMEOUT_RE is not None and _TIMEOUT_RE.match(lowered):
                value |= self.timeout_raw
            if self.source_names is not None and self.source_names.match(lowered):
                value |= self.configured
            self._name_memo[name] = value
        return value

    def eval(self, node: ast.expr, depth: int = 0) -> int:
        if depth > 60:
            return self.sink_mask | (self.sink_mask << _RAW_SHIFT)  # too deep to follow: assume the worst
        kind = type(node)
        if kind is ast.Constant:
            return 0
        if kind is ast.Name:
            assert isinstance(node, ast.Name)
            value = self.var.get("n:" + node.id, 0) | self._name_source(node.id)
            if node.id in self.def_names:
                value |= self.address_raw
            return value
        if kind is _RawObject:
            return self.object_raw
        if kind is _Unordered:
            return self.unordered
        d = depth + 1
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            return self.var.get("a:" + node.attr, 0) | self._name_source(node.attr) | (self.eval(node.value, d) & _HOT)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            return self._eval_call(node, d)
        if kind is ast.JoinedStr:
            assert isinstance(node, ast.JoinedStr)
            return _to_hot(sum_or(self.eval(v, d) for v in node.values))
        if kind is ast.FormattedValue:
            assert isinstance(node, ast.FormattedValue)
            spec = self.eval(node.format_spec, d) if node.format_spec is not None else 0
            return _to_hot(self.eval(node.value, d) | spec)
        if kind is ast.BinOp:
            assert isinstance(node, ast.BinOp)
            both = self.eval(node.left, d) | self.eval(node.right, d)
            op = type(node.op)
            if op is ast.Add:
                return both
            if op is ast.Mod:
                return _to_hot(both)
            if op in _SET_OPS:
                return (both & _HOT) | (both & self.unordered)
            return both & _HOT
        if kind in _PLAIN_SEQUENCES:
            return sum_or(self.eval(e, d) for e in node.elts)  # type: ignore[attr-defined]
        if kind is ast.Set:
            assert isinstance(node, ast.Set)
            return self.unordered | sum_or(self.eval(e, d) for e in node.elts)
        if kind is ast.Dict:
            assert isinstance(node, ast.Dict)
            return sum_or(self.eval(e, d) for e in [*node.keys, *node.values] if e is not None)
        if kind is ast.Starred or kind is ast.Await or kind is ast.NamedExpr:
            return self.eval(node.value, d)  # type: ignore[attr-defined]
        if kind is ast.IfExp:
            assert isinstance(node, ast.IfExp)
            return self.eval(node.body, d) | self.eval(node.orelse, d) | (self.eval(node.test, d) & _HOT)
        if kind is ast.BoolOp:
            assert isinstance(node, ast.BoolOp)
            return sum_or(self.eval(v, d) for v in node.values)
        if kind is ast.Lambda:
            return self.address_raw
        if kind in _COMPREHENSIONS:
            parts: list[ast.expr] = [node.elt] if kind is not ast.DictComp else [node.key, node.value]  # type: ignore[attr-defined]
            value = sum_or(self.eval(p, d) for p in parts)
            for generator in node.generators:  # type: ignore[attr-defined]
                value |= sum_or(self.eval(e, d) for e in [generator.iter, *generator.ifs]) & _HOT
            return value | (self.unordered if kind is ast.SetComp else 0)
        # Subscript, UnaryOp, Compare, Slice, Yield, ...: derived values keep only hot bits
        return sum_or(self.eval(child, d) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)) & _HOT

    def _eval_call(self, node: ast.Call, d: int) -> int:
        func = node.func
        name = _last(func)
        args = [a.value if isinstance(a, ast.Starred) else a for a in node.args] + [k.value for k in node.keywords]
        values = sum_or(self.eval(a, d) for a in args)
        result = values & _HOT
        receiver = 0
        if isinstance(func, ast.Attribute):
            receiver = self.eval(func.value, d)
            result |= receiver & _HOT
        elif not isinstance(func, ast.Name):
            result |= self.eval(func, d) & _HOT
        if name is None:
            return result
        quals = self._quals(func)
        if quals & CLOCK_FUNCTIONS or (name == "time" and not args and isinstance(func, ast.Attribute)):
            result |= self.clock
        if name in DEADLINE_CALLS and not args:
            result |= self.deadline
        if quals & PER_CALL_FUNCTIONS:
            result |= self.per_call
        if quals & DUMPERS:
            result |= self.order_hot | _to_hot(values)
        if quals & CONTEXT_FACTORIES or (isinstance(func, ast.Attribute) and name in CONTEXT_METHODS):
            result |= self.context_raw
        if quals & ADDRESS_FACTORIES:
            result |= self.address_raw
        if name in self.class_names or name in CONTEXT_TYPE_NAMES or name in self.source_types:
            result |= self.object_raw
        if name in self.source_functions:
            result |= self.configured
        if name in self.def_names:
            result |= self.var.get("r:" + name, 0)
        if isinstance(func, ast.Name):
            if name in _TEXT_CALLS:
                result |= _to_hot(values)
            elif name == "id":
                result |= self.id_hot
            elif name == "hash":
                result |= self.hash_hot
            elif name in ("tuple", "list", "sorted"):
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
            elif name == "join":
                result |= values | _to_hot(values & self.unordered)
            elif name in _SET_METHODS:
                result |= self.unordered
            elif name in _KEEP_SET_METHODS:
                result |= receiver & self.unordered
        return result

    # ---- KL801: one mapping written under a built key and read or deleted elsewhere -----------
    def _mismatch_possible(self) -> bool:
        for uses in self.mappings.values():
            if any(not write for write, _ in uses) and any(write and self._structured(key, set()) for write, key in uses):
                return True
        return False

    def _structured(self, expr: ast.expr, seen: set[str], depth: int = 0) -> bool:
        """Could this key's shape be a template, a tuple or a normalised value (KL801's `shape_of`)?"""
        if depth > 30:
            return True
        kind = type(expr)
        if kind in (ast.Tuple, ast.JoinedStr, ast.BinOp):
            return True
        if kind is ast.Constant:
            return False
        if kind is ast.Name:
            assert isinstance(expr, ast.Name)
            if expr.id in seen:
                return False
            seen.add(expr.id)
            return any(self._structured(v, seen, depth + 1) for v in self.values.get(expr.id, ()))
        if kind is ast.Call:
            assert isinstance(expr, ast.Call)
            name = _last(expr.func)
            if name is None:
                return False
            if name in ("format", "join") or name in NORMALISERS:
                return True
            key = "()" + name
            if key in seen:
                return False
            seen.add(key)
            return any(self._structured(v, seen, depth + 1) for v in self.returns.get(name, ()))
        if kind in (ast.IfExp, ast.BoolOp, ast.Await, ast.NamedExpr, ast.Starred):
            return any(self._structured(c, seen, depth + 1) for c in ast.iter_child_nodes(expr) if isinstance(c, ast.expr))
        return False


class _RawObject(ast.expr):
    """Placeholder expression: an object whose text may change or be an address (`self`)."""


class _Unordered(ast.expr):
    """Placeholder expression: a value whose items come in no stable order (`**kwargs`)."""


_RAW_OBJECT = _RawObject()
_UNORDERED = _Unordered()
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler,
           getattr(ast, "TryStar", ast.Try), getattr(ast, "Match", ast.If), getattr(ast, "match_case", ast.If))
_PLAIN_SEQUENCES = (ast.Tuple, ast.List)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_SET_OPS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)


def sum_or(values: Iterable[int]) -> int:
    result = 0
    for value in values:
        result |= value
    return result


def _to_hot(value: int) -> int:
    """A value's text: raw sources become hot, raw bits themselves are gone (text is a str)."""
    return (value | (value >> _RAW_SHIFT)) & _HOT


def _all_args(args: ast.arguments) -> list[ast.arg]:
    found = [*args.posonlyargs, *args.args]
    if args.vararg is not None:
        found.append(args.vararg)
    found.extend(args.kwonlyargs)
    if args.kwarg is not None:
        found.append(args.kwarg)
    return found


def _target_vars(target: ast.expr, in_class: bool) -> list[str]:
    """Variables a binding target writes: `n:name` for names, `a:attr` for attributes (class-body
    names are attributes too); subscript targets write no variable."""
    found: list[str] = []
    stack = [target]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            found.append("n:" + node.id)
            if in_class:
                found.append("a:" + node.id)
        elif isinstance(node, ast.Attribute):
            found.append("a:" + node.attr)
        elif isinstance(node, (ast.Tuple, ast.List)):
            stack.extend(node.elts)
        elif isinstance(node, ast.Starred):
            stack.append(node.value)
    return found
