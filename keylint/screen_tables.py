"""The tables the screen matches against: clocks, per-call values, context types, cache APIs, and
what each rule lets a value pass through. Copies of keyflow's and the rules' tables (their modules
import libcst, which the screen must not), widened at run time by what those modules hold today:
their source is read with `ast`, so a rule that grows a table widens the screen without an edit here.
`tests/test_screen.py` checks the result still covers the imported tables.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

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
RANGED_CALLS = frozenset("random.randint random.randrange secrets.randbelow".split())
PROCESS_CALLS = frozenset("os.getpid threading.get_ident threading.get_native_id _thread.get_ident".split())
PER_CALL_MODULES = frozenset("uuid os secrets random threading _thread".split())
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
CLIENT_METHODS = frozenset(
    """get set add delete get_or_set touch incr decr incrby decrby incr_version has_key
    setex setnx psetex getset getdel getex exists expire expireat pexpire ttl pttl persist unlink append
    hget hset hdel hexists hgetall hincrby hkeys hvals hlen hmget hmset hsetnx lpush rpush lpop rpop lrange llen
    sadd srem smembers sismember scard zadd zrem zrange zscore zincrby replace cas gets prepend
    increment expire_at pop memoize set_many get_many delete_many""".split()
)
FILENAME_CALLS = frozenset("open Path join connect".split())  # last components of keyflow's file-name sinks
FILENAME_QUALS = frozenset(
    "open io.open os.open builtins.open pathlib.Path os.path.join shelve.open dbm.open sqlite3.connect".split()
)
# What a cache client's receiver must show for keyflow's `classify_client` to say yes: a constructor's
# module (its qualified name starts with one) or a hint in a name (`redis_conn`, `_mc`, `page_cache`).
CLIENT_MODULES = frozenset(
    "redis aioredis pymemcache memcache pylibmc bmemcached diskcache aiocache shelve dbm django cachetools".split()
)
PERSISTENT_HINTS = ("redis", "memcache", "memcached", "mc", "diskcache", "shelf", "shelve", "rds")
PERSISTENT_CLIENT_MODULES = frozenset(  # the modules of the constructors keyflow marks persistent
    "redis aioredis pymemcache memcache pylibmc bmemcached diskcache aiocache shelve dbm django".split()
)
EXTRA_SINK_METHODS = frozenset("execute executemany blob get_blob Object put_object get_object delete_object".split())
NORMALISERS = frozenset(
    "lower upper casefold strip lstrip rstrip title capitalize normcase normpath abspath realpath normalize".split()
)
# Calls and attributes a value passes through and still counts (keep-lists: a rule's own copy is added
# to these; the narrowing lists BUCKET_CALLS, COARSE_METHODS, BOUNDING_* are only ever read from it).
PROPAGATE_TIME = frozenset(
    """str repr format int float hash abs bytes tuple list decimal.Decimal json.dumps pickle.dumps hashlib.md5
    hashlib.sha1 hashlib.sha256 hashlib.blake2b zlib.crc32 base64.b64encode time.strftime time.localtime
    time.gmtime datetime.datetime.fromtimestamp datetime.datetime.utcfromtimestamp time.ctime time.asctime""".split()
)
FINE_ATTRS = frozenset({"microsecond", "second", "nanosecond", "minute", "timestamp"})
KEEPS_ID = frozenset({"str", "repr", "hex", "format", "int", "oct"})
CARRIES = frozenset(
    """str repr format hex oct abs int bytes zlib.crc32 zlib.adler32 struct.pack base64.b64encode
    base64.urlsafe_b64encode base64.b32encode""".split()
)
DIGESTS = frozenset(
    """hash str bytes repr format zlib.crc32 zlib.adler32 base64.b64encode base64.urlsafe_b64encode binascii.hexlify
    uuid.uuid3 uuid.uuid5""".split()
)
DIGEST_METHODS = frozenset({"encode", "hexdigest", "digest"})
METHOD_CACHES = frozenset(  # KL701's caches, qualified
    """functools.lru_cache functools.cache cachetools.cached cachetools.func.lru_cache cachetools.func.ttl_cache
    cachetools.func.lfu_cache cachetools.func.rr_cache cachetools.func.fifo_cache cachetools.func.mru_cache
    async_lru.alru_cache""".split()
)


# Where the tables above come from: read from the modules' source with `ast` (importing them would
# import libcst), merged with the copies above, so a rule that grows a table widens the screen too.
_TABLE_SOURCES: dict[str, dict[str, tuple[str, bool]]] = {  # module -> table -> (variable, last component only)
    "keylint.keyflow.sources": {
        "CLOCK_FUNCTIONS": ("CLOCK_FUNCTIONS", False), "CONTEXT_FACTORIES": ("CONTEXT_FACTORIES", False),
        "CONTEXT_METHODS": ("CONTEXT_METHODS", False), "CONTEXT_TYPE_NAMES": ("CONTEXT_TYPES", True),
        "CONTEXT_NAMES": ("CONTEXT_NAMES", False), "DEADLINE_NAMES": ("DEADLINE_NAMES", False),
        "TIMEOUT_NAMES": ("TIMEOUT_NAMES", False), "DEADLINE_CALLS": ("DEADLINE_CALLS", False),
        "CACHE_DECORATOR_NAMES": ("CACHE_DECORATORS", True), "CLIENT_METHODS": ("CLIENT_METHODS", False),
        "PERSISTENT_HINTS": ("PERSISTENT_HINTS", False), "CLIENT_CONSTRUCTORS": ("CLIENT_CONSTRUCTORS", False),
    },
    "keylint.keyflow.sinks": {
        "MAPPING_METHODS": ("MAPPING_METHODS", False), "FILENAME_CALLS": ("_FILENAME_CALLS", True),
        "FILENAME_QUALS": ("_FILENAME_CALLS", False),
    },
    "keylint.keyflow.analysis": {"COMMON_METHODS": ("_COMMON_METHODS", False)},  # narrows: never copied here
    "keylint.keyflow.timeflow": {  # BUCKET_CALLS / COARSE_METHODS only narrow: never copied here
        "PROPAGATE_TIME": ("_PROPAGATE", False), "FINE_ATTRS": ("_FINE_ATTRS", False),
        "BUCKET_CALLS": ("_BUCKET_CALLS", False), "COARSE_METHODS": ("_COARSE_METHODS", False),
    },
    "keylint.rules.kl301_address_repr": {"ADDRESS_FACTORIES": ("_ADDRESS_FACTORIES", False), "DIGESTS": ("_DIGESTS", False)},
    "keylint.rules.kl302_id_key": {"KEEPS_ID": ("_KEEPS_ID", False)},
    "keylint.rules.kl401_salted_hash": {
        "EXTRA_SINK_METHODS": ("_SQL_METHODS", False), "EXTRA_SINK_METHODS+": ("_OBJECT_STORE_METHODS", False),
        "CARRIES": ("_CARRIES", False),
    },
    "keylint.rules.kl501_order_dependent": {
        "DUMPERS": ("_DUMPERS", False), "DIGESTS+": ("_DIGESTS", False), "DIGEST_METHODS": ("_DIGEST_METHODS", False),
    },
    "keylint.rules.kl601_per_call_value": {
        "PER_CALL_FUNCTIONS": ("UNIQUE_CALLS", False), "PER_CALL_FUNCTIONS+": ("RANGED_CALLS", False),
        "PER_CALL_FUNCTIONS++": ("PROCESS_CALLS", False), "RANGED_CALLS": ("RANGED_CALLS", False),
        "PROCESS_CALLS": ("PROCESS_CALLS", False), "PER_CALL_MODULES": ("_MODULES", False),
        "BOUNDING_CALLS": ("_BOUNDING_CALLS", False), "BOUNDING_OPS": ("_BOUNDING_OPS", False),
    },
    "keylint.rules.kl701_method_cache": {
        "CACHE_DECORATOR_NAMES+": ("_METHOD_CACHES", True), "METHOD_CACHES": ("_METHOD_CACHES", False),
    },
    "keylint.rules.kl801_write_delete_mismatch": {"NORMALISERS": ("_NORMALISERS", True)},
}


def dotted(expr: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def last_name(expr: ast.expr) -> str | None:
    """The name a call or decorator is spelt with: `c` of `a.b.c`, `f` of `f`."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


@lru_cache(maxsize=1)
def tables() -> dict[str, frozenset[str]]:
    """The screen's tables: the copies in this module, widened by what the modules hold today."""
    found: dict[str, set[str]] = {
        name: set(value) for name, value in globals().items()
        if name.isupper() and isinstance(value, (frozenset, tuple)) and all(isinstance(v, str) for v in value)
    }
    for module, wanted in _TABLE_SOURCES.items():
        values = _module_tables(module)
        for table, (variable, last_only) in wanted.items():
            items = values.get(variable, set())
            if last_only:
                items = {item.lstrip(".").rsplit(".", 1)[-1] for item in items}
            found.setdefault(table.rstrip("+"), set()).update(items)
    return {name: frozenset(items) for name, items in found.items()}


def _module_tables(module: str) -> dict[str, set[str]]:
    """Top-level string tables of a module, evaluated from its source without importing it."""
    path = _module_file(module)
    try:
        if path is None:
            return {}
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    known: dict[str, set[str]] = {}
    for stmt in tree.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else getattr(stmt, "target", None)
        value = getattr(stmt, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.expr):
            items = _strings(value, known)
            if items is not None:
                known[target.id] = items
    return known


def _module_file(module: str) -> str | None:
    """A keylint module's source file, found without importing it or its package (keyflow's
    `__init__` imports libcst)."""
    import importlib.util

    package, _, name = module.rpartition(".")
    if package == "keylint.rules":
        spec = importlib.util.find_spec("keylint.rules")  # rules/__init__.py imports nothing
        folders = list(spec.submodule_search_locations or []) if spec else []
    else:
        import keylint

        folders = [os.path.join(os.path.dirname(keylint.__file__), *package.split(".")[1:])]
    for folder in folders:
        candidate = os.path.join(folder, name + ".py")
        if os.path.isfile(candidate):
            return candidate
    return None


def _strings(node: ast.expr, known: dict[str, set[str]]) -> set[str] | None:
    """The strings a table expression holds (literals, `"a b".split()`, frozenset/tuple/dict keys,
    `|`/`+` of tables), or None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        parts = [_strings(e, known) for e in node.elts]
        return set().union(*parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    if isinstance(node, ast.Dict):
        keys = [_strings(k, known) if k is not None else None for k in node.keys]
        return set().union(*keys) if all(k is not None for k in keys) else None  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return known.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitOr, ast.Add)):
        left, right = _strings(node.left, known), _strings(node.right, known)
        return left | right if left is not None and right is not None else None
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "split" and not node.args \
                and isinstance(func.value, ast.Constant) and isinstance(func.value.value, str):
            return set(func.value.value.split())
        if isinstance(func, ast.Name) and func.id in ("frozenset", "set", "tuple", "list", "dict") and len(node.args) <= 1:
            return _strings(node.args[0], known) if node.args else set()
    return None


def glob_regex(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [re.escape(p.lower()).replace(r"\*", ".*") for p in patterns if p]
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None




@lru_cache(maxsize=2)
def _client_words(persistent: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hints found anywhere, and three-letter hints found only at a word's start."""
    found = tables()
    if persistent:
        heads = set(found["PERSISTENT_CLIENT_MODULES"])
        words = {h for h in found["PERSISTENT_HINTS"] if len(h) > 3} | heads
    else:
        heads = {name.split(".", 1)[0] for name in found.get("CLIENT_CONSTRUCTORS", ())} | set(found["CLIENT_MODULES"])
        words = {h for h in found["PERSISTENT_HINTS"] if len(h) > 3} | heads | {"cache"}
    short = tuple(sorted(h for h in found["PERSISTENT_HINTS"] if len(h) == 3))
    # a word holding another (`memcache`, `cache`) is found whenever that one is: one scan fewer
    kept = {w for w in words if not any(other != w and other in w for other in words)}
    return tuple(sorted(kept)), short


_WORDISH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")  # `[a-z0-9]`: the text is lower-cased


def _occurrences(low: str, word: str) -> Iterator[int]:
    at = low.find(word)
    while at != -1:
        yield at
        at = low.find(word, at + 1)


def _short_hint(low: str, short: tuple[str, ...]) -> bool:
    """A three-letter hint at a word's start (`(?<![a-z0-9])rds`), or `mc`/`_mc` as a whole name
    (`(?<![a-z0-9_])_?mc(?![a-z0-9_])`), found with `str.find` (a regex opening with a lookbehind
    tries every position of the text)."""
    for word in short:
        if any(at == 0 or low[at - 1] not in _WORDISH for at in _occurrences(low, word)):
            return True
    for at in _occurrences(low, "mc"):
        after = low[at + 2 : at + 3]
        if after and (after in _WORDISH or after == "_"):
            continue
        start = at - 1 if at and low[at - 1] == "_" else at  # the optional leading underscore
        if start == 0 or (low[start - 1] not in _WORDISH and low[start - 1] != "_"):
            return True
    return False


def client_possible(text: str, persistent: bool = False, *, lowered: bool = False) -> bool:
    """Could any receiver in this module be a cache client (`persistent`: one keyflow marks
    persistent), as keyflow's `classify_client` decides? It needs a client module's name (a
    constructor's qualified name starts with one, so an import spells it) or a hint in a name:
    hints longer than three letters anywhere in a name, `rds` only at a word's start, `mc` only as
    the whole name `mc`/`_mc`, `cache` anywhere (a plain `cache` name is a client, not a persistent one).
    `lowered`: `text` is already lower case."""
    words, short = _client_words(persistent)
    low = text if lowered else text.lower()
    if any(word in low for word in words):
        return True
    return _short_hint(low, short)


@lru_cache(maxsize=1)
def name_patterns() -> tuple[re.Pattern[str] | None, ...]:
    found = tables()
    return tuple(glob_regex(found[name]) for name in ("CONTEXT_NAMES", "DEADLINE_NAMES", "TIMEOUT_NAMES"))
