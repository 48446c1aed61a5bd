"""The `ast` fast path (keylint.screen) never hides a finding: with the screen on, the engine reports
exactly what the full path (every file through libcst and every rule) reports, over every rule's
examples, the fixtures and a sample of the standard library. Plus: its tables still cover the tables
keyflow and the rules use, and it does rule files out (it is not a screen that says yes to all)."""

from __future__ import annotations

import ast
import os
import sysconfig
from pathlib import Path

import pytest

from keylint import screen
from keylint.engine import check_source
from keylint.registry import all_rules
from keylint.settings import Settings, SinkSpec, SourceSpec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_EVERY = 10  # every 10th standard-library file ...
SAMPLE_MAX_BYTES = 120_000  # ... that is small enough to keep the full path quick


def _same(source: str | bytes, path: str, settings: Settings) -> None:
    full = check_source(source, path, settings, screen=False)
    fast = check_source(source, path, settings, screen=True)
    assert fast == full, f"the screen changed the findings of {path}"


def _examples() -> list[object]:
    cases = []
    for code, rule in all_rules().items():
        valid, invalid = rule.examples()
        for kind, examples in (("valid", valid), ("invalid", invalid)):
            for index, example in enumerate(examples):
                cases.append(pytest.param(example.code, id=f"{code}-{kind}-{index}"))
    return cases


@pytest.mark.parametrize("source", _examples())
@pytest.mark.parametrize("select", [("KL",), ("KL1", "KL2"), ("KL3", "KL4", "KL5", "KL6"), ("KL7", "KL8")])
def test_rule_examples_same_with_screen(source: str | bytes, select: tuple[str, ...]) -> None:
    _same(source, "example.py", Settings(select=select))


def test_invalid_examples_pass_the_screen_for_their_own_rule() -> None:
    for code, rule in all_rules().items():
        if code in ("KL001", "KL002"):
            continue
        settings = Settings(select=(code,))
        for example in rule.examples()[1]:
            text = example.code if isinstance(example.code, str) else example.code.decode("utf-8", "replace")
            codes = screen.enabled_codes(settings, "example.py")
            assert codes == (code,)
            assert screen.could_fire(ast.parse(text), settings, codes, text), (code, text)
            # with every rule selected, the rule is still among those the screen lets run
            every = screen.enabled_codes(Settings(), "example.py") or ()
            firing = screen.firing_codes(ast.parse(text), Settings(), every, text)
            assert firing is None or code in firing, (code, text, firing)


def test_the_screen_runs_only_the_rules_that_may_report() -> None:
    source = "import time\n_m = {}\n\ndef f(v):\n    _m[str(time.time())] = v\n"
    every = screen.enabled_codes(Settings(), "m.py") or ()
    assert len(every) > 5
    assert screen.firing_codes(ast.parse(source), Settings(), every, source) == {"KL201"}
    # a suppression directive makes every rule run: KL002 needs all their findings
    for directive in ("# noqa: KL301", "# NOQA: E501, kl301", "# keylint: ignore", "# KEYLINT: IGNORE[KL999]"):
        noted = f"{source}{directive}\n"
        assert screen.firing_codes(ast.parse(noted), Settings(), every, noted) is None, directive
    # ... but only a directive KL002 could report: a bare noqa and other linters' codes are not
    for directive in ("# noqa", "# noqa: C901", "# NOQA: E501,F401"):
        noted = f"{source}{directive}\n"
        assert screen.firing_codes(ast.parse(noted), Settings(), every, noted) == {"KL201"}, directive


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.py")), ids=lambda p: p.name)
def test_fixtures_same_with_screen(path: Path) -> None:
    _same(path.read_bytes(), str(path), Settings())


def _stdlib_sample() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        found.extend(os.path.join(top, name) for name in sorted(files) if name.endswith(".py"))
    return [p for p in found[::SAMPLE_EVERY] if os.path.getsize(p) <= SAMPLE_MAX_BYTES]


@pytest.mark.timeout(900)
def test_stdlib_sample_same_with_screen() -> None:
    sample = _stdlib_sample()
    assert len(sample) > 100
    settings = Settings()
    screened_out = 0
    differ = []
    for path in sample:
        data = Path(path).read_bytes()
        full = check_source(data, path, settings, screen=False)
        fast = check_source(data, path, settings, screen=True)
        if fast != full:
            differ.append((path, [d.code for d in full], [d.code for d in fast]))
        text = data.decode("utf-8", "replace")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        codes = screen.enabled_codes(settings, path)
        assert codes is not None
        screened_out += not screen.could_fire(tree, settings, codes, text)
    assert differ == []
    assert screened_out > len(sample) // 2, "the screen should rule most files out"


def test_configured_sources_and_sinks_are_honoured() -> None:
    settings = Settings(
        sources=(SourceSpec(kind="time", function="acme.clock.now"), SourceSpec(kind="context", name="req_state")),
        sinks=(SinkSpec(function="acme.kv.put", key_arg=0, persistent=True),),
    )
    sources = [
        "from acme.clock import now\nfrom acme import kv\n\ndef f(v):\n    kv.put(str(now()), v)\n",
        "_m = {}\n\ndef f(req_state, v):\n    _m[str(req_state)] = v\n",
        "from acme import kv\n\ndef f(text, v):\n    kv.put(str(hash(text)), v)\n",  # KL401: a persistent sink
    ]
    for source in sources:
        _same(source, "cfg.py", settings)
        assert check_source(source, "cfg.py", settings) != []
        assert screen.could_fire(ast.parse(source), settings, screen.enabled_codes(settings, "cfg.py") or (), source)


def test_plain_module_is_ruled_out() -> None:
    source = "import os\n\ndef size(path):\n    table = {}\n    table[path] = os.path.getsize(path)\n    return table[path]\n"
    settings = Settings()
    codes = screen.enabled_codes(settings, "plain.py")
    assert codes is not None and "KL201" in codes
    assert not screen.could_fire(ast.parse(source), settings, codes, source)
    assert screen.could_fire(ast.parse(source + "# noqa: KL201\n"), settings, codes, source + "# noqa: KL201\n")


def test_valid_python_libcst_cannot_parse_still_reaches_libcst() -> None:
    source = "(pars): bool = True\n"  # accepted by `ast`, rejected by libcst 1.9: KL001 either way
    full = check_source(source, "gap.py", Settings(), screen=False)
    assert [d.code for d in full] == ["KL001"]
    _same(source, "gap.py", Settings())


def test_unknown_rule_code_disables_the_screen() -> None:
    assert screen.could_fire(ast.parse("x = 1\n"), Settings(), ("KL999",), "x = 1\n")


def test_rule_codes_found_without_import_match_the_registry() -> None:
    assert screen.rule_codes() == tuple(sorted(all_rules()))


def test_tables_cover_keyflow_and_rules() -> None:
    """The screen mirrors tables it cannot import (they import libcst): they must stay supersets."""
    import importlib

    from keylint.keyflow import sinks, sources

    last = lambda names: {n.rsplit(".", 1)[-1] for n in names}  # noqa: E731
    t = screen.tables()
    assert sources.CLOCK_FUNCTIONS <= t["CLOCK_FUNCTIONS"]
    assert set(sources.CONTEXT_FACTORIES) <= t["CONTEXT_FACTORIES"]
    assert set(sources.CONTEXT_METHODS) <= t["CONTEXT_METHODS"]
    assert last(sources.CONTEXT_TYPES) <= t["CONTEXT_TYPE_NAMES"]
    assert set(sources.CONTEXT_NAMES) <= t["CONTEXT_NAMES"]
    assert set(sources.DEADLINE_NAMES) <= t["DEADLINE_NAMES"]
    assert set(sources.TIMEOUT_NAMES) <= t["TIMEOUT_NAMES"]
    assert set(sources.DEADLINE_CALLS) <= t["DEADLINE_CALLS"]
    assert last(sources.CACHE_DECORATORS) <= t["CACHE_DECORATOR_NAMES"]
    assert sources.CLIENT_METHODS <= t["CLIENT_METHODS"]
    assert set(sinks.MAPPING_METHODS) <= t["MAPPING_METHODS"]
    assert last(sinks._FILENAME_CALLS) <= t["FILENAME_CALLS"]
    assert set(sinks._FILENAME_CALLS) <= t["FILENAME_QUALS"]
    assert set(sources.PERSISTENT_HINTS) <= t["PERSISTENT_HINTS"]
    assert {name.split(".", 1)[0] for name in sources.CLIENT_CONSTRUCTORS} <= t["CLIENT_MODULES"]
    persistent = {name.split(".", 1)[0] for name, (_, kept) in sources.CLIENT_CONSTRUCTORS.items() if kept}
    assert persistent <= t["PERSISTENT_CLIENT_MODULES"]
    assert {name: shape[1:] for name, shape in sinks.MAPPING_METHODS.items()} == screen._MAPPING_SHAPES
    from keylint.keyflow import analysis

    assert analysis._COMMON_METHODS == t["COMMON_METHODS"]  # narrows the screen's call binding: never wider
    kl301 = importlib.import_module("keylint.rules.kl301_address_repr")
    kl401 = importlib.import_module("keylint.rules.kl401_salted_hash")
    kl501 = importlib.import_module("keylint.rules.kl501_order_dependent")
    kl601 = importlib.import_module("keylint.rules.kl601_per_call_value")
    kl701 = importlib.import_module("keylint.rules.kl701_method_cache")
    kl801 = importlib.import_module("keylint.rules.kl801_write_delete_mismatch")
    assert set(kl301._ADDRESS_FACTORIES) <= t["ADDRESS_FACTORIES"]
    assert kl401._SQL_METHODS | kl401._OBJECT_STORE_METHODS <= t["EXTRA_SINK_METHODS"]
    assert kl501._DUMPERS <= t["DUMPERS"]
    assert kl601.UNIQUE_CALLS | kl601.RANGED_CALLS | kl601.PROCESS_CALLS <= t["PER_CALL_FUNCTIONS"]
    assert kl601.RANGED_CALLS == t["RANGED_CALLS"] and kl601.PROCESS_CALLS == t["PROCESS_CALLS"]
    assert kl601._MODULES <= t["PER_CALL_MODULES"] and kl601._HUGE == screen._HUGE_RANGE
    assert kl701._IMPLICIT_CLASS_METHODS == screen._IMPLICIT_CLASS_METHODS
    assert kl701._CLASS_PARAMS == screen._CLASS_PARAMS and kl701._STATIC_OR_CLASS == screen._STATIC_OR_CLASS
    assert kl701._METHOD_CACHES <= t["METHOD_CACHES"]
    assert last(kl701._METHOD_CACHES) <= t["CACHE_DECORATOR_NAMES"]
    assert {n.lstrip(".").rsplit(".", 1)[-1] for n in kl801._NORMALISERS} <= t["NORMALISERS"]
    from keylint.keyflow import timeflow

    assert screen._FINE_DIRECTIVES.pattern == timeflow._FINE_DIRECTIVES.pattern


@pytest.mark.parametrize(
    "source",
    [
        # `append` and `set` are cache-client methods, but only on a client: these receivers are lists/sets
        "import time\n\ndef f(parts):\n    parts.append(str(time.time()))\n",
        # `join` is a file-name sink only as os.path.join
        "import time\n\ndef f():\n    return ', '.join([str(time.time())])\n",
        # a mapping method's second argument is the value, not the key
        "import time\n_m = {}\n\ndef f(k):\n    return _m.get(k, time.time())\n",
        # a file name made from a clock or a fresh id: the rules that skip file names
        "import os\nimport time\n\ndef f(d):\n    return open(os.path.join(d, '%d.log' % os.getpid()), 'w')\n",
        "import time\nfrom os import path\n\ndef f(d):\n    return open(path.join(d, str(time.time())), 'w')\n",
        # a thread id in a local cache: KL601 reports process/thread ids only in shared (persistent) ones
        "import threading\n_cache = {}\n\ndef f():\n    return _cache.get(threading.get_ident())\n",
        # KL302: an id looked up in a plain dict (the write is where KL302 reports)
        "_m = {}\n\ndef f(obj):\n    return _m.get(id(obj))\n",
        # KL301/KL302: a table that is the caller's (a parameter) or a call's result; a decorated def
        "class A:\n    pass\n\ndef f(table, obj):\n    table[str(A())] = obj\n    table[id(obj)] = obj\n",
        "def tables():\n    return {}\n\ndef f(obj):\n    tables()[repr(obj)] = 1\n",
        "_m = {}\n\ndef deco(f):\n    return f\n\n@deco\ndef handler():\n    pass\n\ndef register():\n    _m[str(handler)] = 1\n",
        # KL601: a draw from a small range, a value made once at import, one stored on the object
        "import random\n_m = {}\n\ndef f(v):\n    _m[random.randrange(-3, 3)] = v\n",
        "import uuid\n_m = {}\nTOKEN = str(uuid.uuid4())\n\ndef f(v):\n    _m[TOKEN] = v\n    return _m[TOKEN]\n",
        "import uuid\n\nclass C:\n    def __init__(self):\n        self.token = uuid.uuid4()\n        self.m = {}\n\n"
        "    def get(self):\n        return self.m[self.token]\n",
        # KL701: a cache reached through an attribute is not one of its caches by name
        "import functools\n\nclass C:\n    module = functools\n\n    @module.lru_cache\n    def f(self, x):\n        return x\n",
        "import functools\n\nclass C:\n    @staticmethod\n    @functools.cache\n    def make(n):\n        return n\n",
        # KL701: a cache on a class method is keyed by the class
        "import functools\n\nclass C:\n    @classmethod\n    @functools.lru_cache()\n    def make(cls, n):\n        return n\n",
        # keyflow's call binding: a method call skips `self`; nothing binds from `*args` on; a default
        # is not a value a caller passes; `box.put()` on an unknown receiver runs no method (common name)
        "import time\n_m = {}\n\nclass C:\n    def __repr__(self):\n        return 'C'\n\n    def store(self, v):\n"
        "        _m[str(self)] = v\n\ndef f(c):\n    c.store(time.time())\n",
        "import time\n_m = {}\n\ndef g(a, k):\n    _m[str(k)] = a\n\ndef f():\n    args = (1, time.time())\n    g(*args)\n",
        "import time\n_m = {}\n\ndef g(k=time.time()):\n    _m[str(k)] = 1\n",
        "import time\n_m = {}\n\nclass C:\n    def get(self, k):\n        return _m[str(k)]\n\n    def put(self, k):\n"
        "        _m[str(k)] = 1\n\ndef f(box):\n    box.put(time.time())\n",
        # a cache-client method on a receiver keyflow cannot take for a client (no constructor, no hint)
        "import time\nNOTE = 'cache'\n\ndef f(parts):\n    parts.append(str(time.time()))\n",
        # tables whose lifetime keyflow does not see (lifetime.table_owner is None): `self.x` of a class
        # never instantiated at module level, a table reset per operation, an attribute of a local, a
        # caller's table reached from a nested def, a parameter rebound to a fresh set
        "class C:\n    def __init__(self):\n        self.m = {}\n\n    def f(self, obj):\n        self.m[id(obj)] = 1\n",
        "class C:\n    seen = {}\n\n    def start(self):\n        self.seen = {}\n\n    def f(self, obj):\n"
        "        self.seen[id(obj)] = 1\n\nC_ = C()\n",
        "def make():\n    pass\n\ndef f(obj):\n    box = make()\n    box.m[id(obj)] = 1\n",
        "def outer(memo):\n    def inner(o):\n        memo[id(o)] = 1\n    return inner\n",
        "def f(objs, seen=None):\n    if seen is None:\n        seen = set()\n    for o in objs:\n        seen.add(id(o))\n",
        # a field unpacked or iterated from a call's result is a bucket for time (timeflow.is_bucket)
        "import time\n_m = {}\n\ndef f():\n    year, month, *_ = time.gmtime(time.time())\n    _m[str(month)] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    for part in time.localtime():\n        _m[str(part)] = 1\n",
        # KL302 on a lookup: `in` tests and mapping methods are never persistent sinks, even where a
        # persistent client may exist
        "import redis\n_seen = set()\n\ndef f(obj):\n    return id(obj) in _seen\n",
        "import redis\n_seen = {}\n\ndef f(obj):\n    return _seen.get(id(obj))\n",
        # KL701: a bounded cache on a class whose instances hash by value (here through a base)
        "import functools\n\nclass Base:\n    def __hash__(self):\n        return 1\n\nclass V(Base):\n"
        "    @functools.lru_cache()\n    def area(self):\n        return 1\n",
        # KL101: a text of stable fields, though another method writes an attribute it does not show
        # (and one of another object)
        "class Point:\n    def __init__(self, x):\n        self.x = x\n        self.hits = 0\n\n    def touch(self, other):\n"
        "        other.y = 1\n        self.hits += 1\n\n    def __repr__(self):\n        return f'Point({self.x})'\n\n"
        "cache = {}\n\ndef remember(p: Point):\n    cache[repr(p)] = p\n",
        # calls keyflow does not bind to a def: a parameter named like a method, and `self.save()` in a
        # class whose own `save` ignores its argument (another class's `save` uses it)
        "import time\n_m = {}\n\nclass Log:\n    def emit(self, key):\n        _m[str(key)] = 1\n\ndef run(emit):\n"
        "    emit(time.time())\n",
        "import time\n_m = {}\n\nclass A:\n    def save(self, key):\n        _m[str(key)] = 1\n\nclass B:\n"
        "    def save(self, key):\n        pass\n\n    def go(self):\n        self.save(time.time())\n",
        # KL302 on a def's local table that surely dies with the call (containers and len() only)
        "import sys\n\ndef unwrap(func):\n    memo = {id(func): func}\n    while hasattr(func, '__wrapped__'):\n"
        "        func = func.__wrapped__\n        id_func = id(func)\n"
        "        if id_func in memo or len(memo) >= sys.getrecursionlimit():\n            raise ValueError('loop')\n"
        "        memo[id_func] = func\n    return func\n",
        "def count(objs):\n    seen = set()\n    for o in objs:\n        if id(o) not in seen:\n            seen.add(id(o))\n"
        "    return len(seen)\n",
        # KL201: `time.strftime` with a date-only literal format, or formatting a given time, is a bucket
        "import time\n_m = {}\n\ndef f():\n    _m[time.strftime('%Z', time.gmtime())] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    _m[time.strftime('%Y-%m-%d')] = 1\n",
        # keyflow's subscript sinks take one index: `m[a, b]` is two elements in libcst, `m[i:j]` a slice
        "import time\n_m = {}\n\ndef f(v):\n    _m[str(time.time()), v] = 1\n",
        "import time\n\ndef f(s):\n    return s[int(time.time()):]\n",
        "class Places:\n    def __init__(self):\n        self.by_place = {}\n\n    def add(self, file, line):\n"
        "        self.by_place[file, line] = self\n\n    def drop(self, file):\n        self.by_place.pop(file, None)\n",
        # KL401: a salted hash as the key of an in-process table (no persistent client could be here)
        "_m = {}\n\ndef f(text, v):\n    _m[hash(text)] = v\n    results = set()\n    results.add(hash(text))\n"
        "    return hash(text) in _m\n",
    ],
)
def test_sinks_keyflow_never_reports_are_screened_out(source: str) -> None:
    settings = Settings()
    codes = screen.enabled_codes(settings, "plain.py") or ()
    assert "KL201" in codes and "KL601" in codes
    assert check_source(source, "plain.py", settings, screen=False) == []
    assert not screen.could_fire(ast.parse(source), settings, codes, source)


@pytest.mark.parametrize(
    "source",
    [
        "import time\n\ndef f(redis_conn, v):\n    redis_conn.set(str(time.time()), v)\n",
        "import time\nimport redis\nr = redis.Redis()\n\ndef f(v):\n    r.set(str(time.time()), v)\n",
        "import os.path as osp\n\ndef f(d, v):\n    return open(osp.join(d, str(hash(v))))\n",
        # arguments bound the way keyflow binds them: by a unique method name, through `self`, to a
        # static method, by keyword, to a constructor
        "import time\n_m = {}\n\nclass C:\n    def __repr__(self):\n        return 'C'\n\n    def store(self, v):\n"
        "        _m[str(v)] = 1\n\ndef f(c):\n    c.store(time.time())\n",
        "import time\n_m = {}\n\nclass C:\n    def get(self, k):\n        _m[str(k)] = 1\n\n    def run(self):\n"
        "        self.get(time.time())\n",
        "import time\n_m = {}\n\nclass C:\n    @staticmethod\n    def put(k):\n        _m[str(k)] = 1\n\ndef f():\n"
        "    C.put(time.time())\n",
        "import time\n_m = {}\n\ndef g(a, *, key):\n    _m[str(key)] = a\n\ndef f():\n    g(1, key=time.time())\n",
        "import time\n_m = {}\n\nclass C:\n    def __init__(self, k):\n        _m[str(k)] = 1\n\ndef f():\n    C(time.time())\n",
        # `self.m()` runs a base class's method; `Class.m()`; a unique method name on any receiver
        "import time\n_m = {}\n\nclass Base:\n    def save(self, key):\n        _m[str(key)] = 1\n\nclass Child(Base):\n"
        "    def go(self):\n        self.save(time.time())\n",
        "import time\n_m = {}\n\nclass Base:\n    @staticmethod\n    def save(key):\n        _m[str(key)] = 1\n\ndef go():\n"
        "    Base.save(time.time())\n",
        "import time\n_m = {}\n\nclass Base:\n    def stash_it(self, key):\n        _m[str(key)] = 1\n\ndef go(obj):\n"
        "    obj.stash_it(time.time())\n",
        # a def's local table that escapes: returned, captured, aliased into a kept list, stored on
        # self, passed to a module function named `len`
        "def index(objs):\n    seen = {}\n    for o in objs:\n        seen[id(o)] = 1\n    return seen\n",
        "def make(objs):\n    seen = {}\n    for o in objs:\n        seen[id(o)] = 1\n    def check(o):\n"
        "        return id(o) in seen\n    return check\n",
        "_keep = []\n\ndef f(objs):\n    seen = {}\n    for o in objs:\n        seen[id(o)] = 1\n    box = seen\n"
        "    _keep.append(box)\n",
        "class C:\n    def f(self, objs):\n        seen = {}\n        for o in objs:\n            seen[id(o)] = 1\n"
        "        self.seen = seen\n",
        "def len(x):\n    _keep.append(x)\n\n_keep = []\n\ndef f(objs):\n    seen = {}\n    for o in objs:\n"
        "        seen[id(o)] = 1\n    len(seen)\n",
        # KL801: the culprit write may be a plain one (`token`) while another write is structured
        "class Sessions:\n    def __init__(self):\n        self._live = {}\n\n    def login(self, user, token, s):\n"
        "        self._live[f'{user}:{token}'] = s\n\n    def relogin(self, token, s):\n        self._live[token] = s\n\n"
        "    def logout(self, token):\n        self._live.pop(f'{token}:x', None)\n",
        # tables that outlive their objects: `self.x` of a module-level instance (also one made under
        # `global`), a class attribute; a lambda's parameter is no keyflow binding (`_m` is the global)
        "class C:\n    def __init__(self):\n        self.m = {}\n\n    def f(self, obj):\n        self.m[id(obj)] = 1\n\n"
        "INSTANCE = C()\n",
        "class C:\n    def __init__(self):\n        self.m = {}\n\n    def f(self, obj):\n        self.m[id(obj)] = 1\n\n"
        "inst = None\n\ndef setup():\n    global inst\n    inst = C()\n",
        "class C:\n    m = {}\n\n    def f(self, obj):\n        self.m[id(obj)] = 1\n",
        "_m = {}\n\ndef f(obj):\n    g = lambda _m: _m.setdefault(str(object()), 1)\n    return g\n",
        # cache clients keyflow recognises: a stored constructor, a tuple assignment, django's
        # `caches[...]`, a name hint
        "import redis\nimport time\n\nclass S:\n    def __init__(self):\n        self.conn = redis.Redis()\n\n"
        "    def f(self, v):\n        self.conn.set(str(time.time()), v)\n",
        "import redis\nimport time\nr, other = redis.Redis(), 1\n\ndef f(v):\n    r.set(str(time.time()), v)\n",
        "import time\nfrom django.core.cache import caches\n\ndef f(v):\n    caches['default'].set(str(time.time()), v)\n",
        "import time\n\ndef f(v):\n    page_cache = make()\n    page_cache.set(str(time.time()), v)\n\ndef make():\n"
        "    return {}\n",
        # time unpacked from a tuple display (zipped, not an item of a result), from formatting, or iterated
        # from a list display still changes the key
        "import time\n_m = {}\n\ndef f():\n    a, b = time.time(), 1\n    _m[str(a)] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    a, b = str(time.time()), 1\n    _m[a] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    for a in [time.time()]:\n        _m[str(a)] = 1\n",
        # a lookup on a persistent store (a constructor, a name hint) reports an id
        "import shelve\n_db = shelve.open('x')\n\ndef f(obj):\n    return _db[str(id(obj))]\n",
        "import time\n\ndef f(redis_store, obj):\n    return redis_store[str(id(obj))]\n",
        # one index that is a tuple, parenthesised however, or one element with a trailing comma
        "import time\n_m = {}\n\ndef f(v):\n    _m[(str(time.time()), v)] = 1\n",
        "import time\n_m = {}\n\ndef f(v):\n    _m[str(time.time()),] = 1\n",
        "import time\n_m = {}\n\ndef f(v):\n    _m[ (str(time.time()), v) ] = 1\n",
        "import time\n_m = {}\n\ndef f(v):\n    _m[(\n        str(time.time()), v)] = 1\n",
        "import time\n_m = {}\n\ndef f(v):\n    _m['é', (str(time.time()), v)] = 1\n    _m[('é', str(time.time()))] = 1\n",
        "class Places:\n    def __init__(self):\n        self.by_place = {}\n\n    def add(self, file, line):\n"
        "        self.by_place[(file, line)] = self\n\n    def drop(self, file):\n        self.by_place.pop(file, None)\n",
        # KL201: a strftime format finer than a minute; one libcst does not read as a literal (an
        # implicit concatenation), so no bucket
        "import time\n_m = {}\n\ndef f():\n    _m[time.strftime('%S', time.gmtime())] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    _m[time.strftime('%Y' '-%m')] = 1\n",
        "import time\n_m = {}\n\ndef f():\n    _m[time.strftime(('%Y'\n                     '-%m'), time.gmtime())] = 1\n",
        # KL401 on a persistent store's key (a subscript and a client method) and a configured sink
        "import shelve\n_db = shelve.open('x')\n\ndef f(text, v):\n    _db[str(hash(text))] = v\n",
        "import redis\nr = redis.Redis()\n\ndef f(text, v):\n    r.set(str(hash(text)), v)\n",
        # KL701 on a value class still reports an unbounded cache
        "import functools\n\nclass Base:\n    def __hash__(self):\n        return 1\n\nclass V(Base):\n"
        "    @functools.lru_cache(maxsize=None)\n    def area(self):\n        return 1\n",
        "import functools\n\nclass Base:\n    def __hash__(self):\n        return 1\n\nclass V(Base):\n"
        "    @functools.cache\n    def area(self):\n        return 1\n",
    ],
)
def test_client_and_file_name_sinks_still_reach_the_rules(source: str) -> None:
    settings = Settings()
    full = check_source(source, "keys.py", settings, screen=False)
    assert len(full) == 1 and full[0].code in ("KL201", "KL301", "KL302", "KL401", "KL701", "KL801")
    assert check_source(source, "keys.py", settings) == full


def test_the_screens_depth_bound_is_never_below_the_real_depth() -> None:
    from keylint.parsing import nesting_depth

    sources = [path.read_text() for path in sorted(FIXTURES.glob("*.py"))] + [
        "def f(a: 'x' = (1,), *, b: list[dict[str, int]] = {}) -> int:\n    return (lambda q=[[1]]: q)()\n",
        "class C(B, metaclass=M):\n    @d(1)\n    def m(self, x: Optional[List[int]] = None): pass\n",
        "x = " + "(" * 60 + "1" + ")" * 60 + "\n",
        "y = " + "-" * 90 + "1\n",
        "import a.b as c\nfrom d import (e as f, g)\nglobal h\n",
        "z = " + ".".join(["a"] * 300) + "\n",  # an attribute chain the walk counts without visiting
        "w = f(a.b.c)[x.y].z." + ".".join(["q"] * 40) + "(k.l)\n",
    ]
    sources += [Path(p).read_text("utf-8", "replace") for p in _stdlib_sample()[:80]]
    every = tuple(c for c in screen.enabled_codes(Settings(), "m.py") or () if c != "KL002")  # KL002 skips the walk
    checked = 0
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        _, bound = screen.screen_module(tree, Settings(), every, source)
        assert bound is not None and bound >= nesting_depth(tree), source[:80]
        checked += 1
    assert checked > 50


HOSTS = ("colorsys.py", "fnmatch.py", "shlex.py")  # small real modules: a plain one, a cached one, a class


def _embedded_cases() -> list[object]:
    cases = []
    for code, rule in all_rules().items():
        if code in ("KL001", "KL002"):
            continue
        for index, example in enumerate(rule.examples()[1]):
            cases.append(pytest.param(code, index, id=f"{code}-{index}"))
    return cases


@pytest.mark.parametrize(("code", "index"), _embedded_cases())
def test_invalid_examples_inside_real_modules_same_with_screen(code: str, index: int) -> None:
    """Each INVALID example appended to (and prepended to) real modules: the surrounding code
    (its names, imports, classes, calls) must not make the screen drop the example's finding."""
    example = all_rules()[code].examples()[1][index]
    text = example.code if isinstance(example.code, str) else example.code.decode("utf-8", "replace")
    root = Path(sysconfig.get_paths()["stdlib"])
    for host in HOSTS:
        module = (root / host).read_text("utf-8")
        for source in (module + "\n\n" + text, text + "\n\n" + module):
            full = check_source(source, host, Settings(), screen=False)
            assert check_source(source, host, Settings(), screen=True) == full, (code, index, host)


def test_kl801_shape_comparisons_match_the_rule() -> None:
    """The screen's copies of KL801's `mismatch` and `compatible` (on tuples, without libcst) give
    the rule's answers on every pair of a set of shapes."""
    import importlib
    from itertools import product

    from keylint import screen_shapes
    from keylint.screen_shapes import Shape

    kl801 = importlib.import_module("keylint.rules.kl801_write_delete_mismatch")
    leaf_a: Shape = ("leaf", "a", ())
    leaf_b: Shape = ("leaf", "b", ())
    lit: Shape = ("lit", "'x'", ())
    opaque: Shape = ("opaque", "", ())
    shapes: list[Shape] = [leaf_a, leaf_b, lit, opaque]
    shapes += [("text", "{}:{}", (leaf_a, leaf_b)), ("text", "{}-{}", (leaf_a, leaf_b)), ("text", "{}:{}", (leaf_b, leaf_a)),
               ("tuple", "", (leaf_a, leaf_b)), ("tuple", "", (leaf_b, leaf_a)), ("tuple", "", (leaf_a, lit)),
               ("tuple", "", (leaf_a,)), ("norm", ".lower", (leaf_a,)), ("norm", ".upper", (leaf_a,)),
               ("norm", ".lower", (opaque,)), ("norm", ".lower", (("tuple", "", (leaf_a, leaf_b)),))]

    def rule_shape(shape: Shape) -> object:
        return kl801.Shape(shape[0], shape[1], tuple(rule_shape(p) for p in shape[2]))

    for write, read in product(shapes, repeat=2):
        w, r = rule_shape(write), rule_shape(read)
        assert screen_shapes.mismatch(write, read) == (kl801.mismatch(w, r) is not None), (write, read)
        assert screen_shapes.compatible(write, read) == kl801.compatible(w, r), (write, read)


def test_short_client_hints_are_found_as_their_patterns_say() -> None:
    """`_short_hint` scans with str.find what these look-behind patterns describe."""
    import random
    import re

    from keylint.screen_tables import _client_words, _short_hint

    for persistent in (False, True):
        _, short = _client_words(persistent)
        parts = [rf"(?<![a-z0-9]){re.escape(w)}" for w in short] + [r"(?<![a-z0-9_])_?mc(?![a-z0-9_])"]
        pattern = re.compile("|".join(parts))
        rnd = random.Random(3)
        texts = ["", "mc", "_mc", "__mc", "x_mc", "mc_", "mc1", "(mc)", "rds", "xrds", "_rds", "é" + "rds", "a.mc.b"]
        texts += ["".join(rnd.choice("rdsmc_ x1é.(") for _ in range(rnd.randint(0, 9))) for _ in range(20000)]
        for text in texts:
            assert _short_hint(text, short) == (pattern.search(text) is not None), text


@pytest.mark.parametrize(
    "source",
    [
        # the text method shows a mutated attribute through a helper method
        "class Job:\n    def __init__(self, name):\n        self.name = name\n        self.state = 'new'\n\n"
        "    def start(self):\n        self.state = 'running'\n\n    def _label(self):\n        return self.state\n\n"
        "    def __repr__(self):\n        return f'Job({self.name}, {self._label()})'\n\nregistry = {}\n\n"
        "def track(job: Job):\n    registry[repr(job)] = job\n",
        # mutated by a mutator call
        "class Bag:\n    def __init__(self):\n        self.items = []\n\n    def add(self, x):\n        self.items.append(x)\n\n"
        "    def __str__(self):\n        return ','.join(self.items)\n\nseen = {}\n\ndef f(b: Bag):\n    seen[str(b)] = 1\n",
        # a text method defined under an `if` of the class body is still one of its methods
        "import sys\n\nclass Job:\n    def __init__(self):\n        self.state = 'new'\n\n    def start(self):\n"
        "        self.state = 'run'\n\n    if sys.version_info > (3,):\n        def __repr__(self):\n"
        "            return self.state\n\nseen = {}\n\ndef f(j: Job):\n    seen[repr(j)] = 1\n",
        # a dataclass's generated repr shows a field a method writes
        "from dataclasses import dataclass\n\n@dataclass\nclass Conn:\n    host: str\n    state: str = 'idle'\n\n"
        "    def open(self):\n        self.state = 'open'\n\nseen = {}\n\ndef f(c: Conn):\n    seen[str(c)] = 1\n",
    ],
)
def test_classes_whose_text_changes_still_reach_kl101(source: str) -> None:
    settings = Settings()
    full = check_source(source, "texts.py", settings, screen=False)
    assert [d.code for d in full] == ["KL101"]
    assert check_source(source, "texts.py", settings) == full


def test_the_screens_mutators_cover_keyflows() -> None:
    from keylint.keyflow import collect

    assert collect._MUTATORS <= screen._MUTATORS


def test_a_screened_module_is_freed_without_the_cycle_collector() -> None:
    """No reference cycle keeps a `_Screen` (and the whole `ast` tree it points into) alive after
    the screen answers: with the CLI's high gen-0 threshold, trees left to the collector pile up
    and every collection rescans them (this once made `ast.parse` twice as slow)."""
    import gc

    sources = [path.read_text() for path in sorted(FIXTURES.glob("*.py"))] + [
        "class Sessions:\n    def __init__(self):\n        self._live = {}\n\n    def login(self, user, token, s):\n"
        "        self._live[f'{user}:{token}'] = s\n\n    def logout(self, token):\n        self._live.pop(token, None)\n",
        "def count(objs):\n    seen = set()\n    for o in objs:\n        seen.add(id(o))\n    return len(seen)\n",
    ]
    codes = screen.enabled_codes(Settings(), "m.py") or ()
    gc.collect()
    gc.disable()
    try:
        before = sum(1 for o in gc.get_objects() if isinstance(o, screen._Screen))
        for source in sources:
            screen.screen_module(ast.parse(source), Settings(), [c for c in codes if c != "KL002"], source)
        assert sum(1 for o in gc.get_objects() if isinstance(o, screen._Screen)) == before
    finally:
        gc.enable()
