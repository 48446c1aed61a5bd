"""Data tables shared by the analysis and the rules: clocks, per-call context types, cache APIs.

Rules extend these with `Settings.sources` / `Settings.sinks` / `Settings.sanitizers`; nothing here
decides whether something is a finding.
"""

from __future__ import annotations

import libcst as cst

# Calls whose result is the current time (qualified names, imports resolved).
CLOCK_FUNCTIONS: frozenset[str] = frozenset(
    {
        "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
        "time.perf_counter_ns", "time.process_time", "time.process_time_ns", "time.thread_time",
        "time.clock_gettime", "time.clock_gettime_ns", "time.localtime", "time.gmtime", "time.ctime",
        "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
        "django.utils.timezone.now", "django.utils.timezone.localtime", "arrow.now", "arrow.utcnow",
        "pendulum.now", "pendulum.today",
    }
)
_LOOP_FACTORIES = ("asyncio.get_event_loop", "asyncio.get_running_loop", "asyncio.new_event_loop")


def is_clock_call(node: cst.Call, qualname: str | None) -> bool:
    """`time.time()`, `datetime.now()`, ... and `loop.time()` on an event loop."""
    if qualname in CLOCK_FUNCTIONS:
        return True
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "time" and not node.args:
        receiver = func.value
        if isinstance(receiver, cst.Call):
            inner = receiver.func
            name = inner.attr.value if isinstance(inner, cst.Attribute) else inner.value if isinstance(inner, cst.Name) else ""
            return name in ("get_event_loop", "get_running_loop", "new_event_loop")
        last = receiver.attr.value if isinstance(receiver, cst.Attribute) else receiver.value if isinstance(receiver, cst.Name) else ""
        return last == "loop" or last.endswith("_loop") or last == "_loop"
    return False


# Types whose text (str/repr/format) differs from one call to the next, with why (KL101).
CONTEXT_TYPES: dict[str, str] = {
    "grpc.ServicerContext": "a gRPC `ServicerContext`'s text names one call object (its address)",
    "grpc.aio.ServicerContext": "a `grpc.aio.ServicerContext`'s text names one call object (its address)",
    "grpc.RpcContext": "a gRPC call context's text names one call object (its address)",
    "contextvars.Context": "a `contextvars.Context`'s text names one context object (its address)",
    "asyncio.Timeout": "`asyncio.Timeout`'s text carries its deadline and state",
    "asyncio.timeouts.Timeout": "`asyncio.Timeout`'s text carries its deadline and state",
    "asyncio.Task": "an `asyncio.Task`'s text carries its name, state and coroutine",
    "asyncio.Future": "an `asyncio.Future`'s text carries its state and result",
    "concurrent.futures.Future": "a `concurrent.futures.Future`'s text carries its address and state",
    "threading.Thread": "a `threading.Thread`'s text carries its state and ident",
    "threading.Timer": "a `threading.Timer`'s text carries its state and ident",
    "django.http.HttpRequest": "a request object's text names one request",
    "django.http.request.HttpRequest": "a request object's text names one request",
    "flask.Request": "a request object's text names one request",
    "werkzeug.Request": "a request object's text names one request",
    "werkzeug.wrappers.Request": "a request object's text names one request",
    "starlette.requests.Request": "a request object's text names one request (its address)",
    "fastapi.Request": "a request object's text names one request (its address)",
    "aiohttp.web.Request": "a request object's text names one request",
    "aiohttp.web.BaseRequest": "a request object's text names one request",
    "tornado.httputil.HTTPServerRequest": "a request object's text names one request",
}

# Calls that return one of those types.
CONTEXT_FACTORIES: dict[str, str] = {
    "asyncio.timeout": "asyncio.Timeout",
    "asyncio.timeout_at": "asyncio.Timeout",
    "asyncio.create_task": "asyncio.Task",
    "asyncio.ensure_future": "asyncio.Task",
    "asyncio.current_task": "asyncio.Task",
    "asyncio.Task": "asyncio.Task",
    "asyncio.Future": "asyncio.Future",
    "asyncio.wrap_future": "asyncio.Future",
    "concurrent.futures.Future": "concurrent.futures.Future",
    "contextvars.copy_context": "contextvars.Context",
    "contextvars.Context": "contextvars.Context",
    "threading.Thread": "threading.Thread",
    "threading.Timer": "threading.Timer",
    "threading.current_thread": "threading.Thread",
    "threading.main_thread": "threading.Thread",
}
# Method calls on other objects that return those types (`loop.create_task(...)`, `pool.submit(...)`).
CONTEXT_METHODS: dict[str, str] = {
    "create_task": "asyncio.Task",
    "create_future": "asyncio.Future",
    "run_in_executor": "asyncio.Future",
    "submit": "concurrent.futures.Future",
}

CONTEXT_NAMES = ("ctx", "context", "*_ctx")  # parameter / variable names taken as per-call contexts

# Names of values that are deadlines or remaining time (KL102); `timeout`-like ones count when formatted.
# (`remaining`/`*_remaining` alone are left out: they name remaining items far more often than time.)
DEADLINE_NAMES = (
    "deadline", "*_deadline", "deadline_*", "expires_at", "expire_at", "expiry", "expiration",
    "time_remaining", "remaining_time", "*_time_remaining", "remaining_seconds", "seconds_remaining",
    "seconds_left", "ttl_left", "time_left", "*_time_left", "timeleft", "expiry_time", "expiration_time",
    "valid_until", "not_after",
)
TIMEOUT_NAMES = ("timeout", "*_timeout", "timeout_*", "ttl", "*_ttl", "time_limit")
DEADLINE_CALLS = ("time_remaining", "remaining", "get_deadline", "deadline", "when", "time_left")

# Cached-function decorators (qualified names, or bare names when imported unqualified).
CACHE_DECORATORS: frozenset[str] = frozenset(
    {
        "functools.lru_cache", "functools.cache", "cachetools.cached", "cachetools.func.lru_cache",
        "cachetools.func.ttl_cache", "cachetools.func.lfu_cache", "cachetools.func.rr_cache",
        "cachetools.func.fifo_cache", "cachetools.func.mru_cache", "async_lru.alru_cache",
        "aiocache.cached", "lru_cache", "cache", "alru_cache",
    }
)

# Cache client constructors: qualified name -> (api, persistent).
CLIENT_CONSTRUCTORS: dict[str, tuple[str, bool]] = {
    "redis.Redis": ("redis", True), "redis.StrictRedis": ("redis", True), "redis.from_url": ("redis", True),
    "redis.client.Redis": ("redis", True), "redis.asyncio.Redis": ("redis", True),
    "redis.asyncio.from_url": ("redis", True), "redis.cluster.RedisCluster": ("redis", True),
    "redis.RedisCluster": ("redis", True), "aioredis.from_url": ("redis", True), "aioredis.Redis": ("redis", True),
    "pymemcache.client.base.Client": ("memcache", True), "pymemcache.Client": ("memcache", True),
    "pymemcache.client.hash.HashClient": ("memcache", True), "pymemcache.HashClient": ("memcache", True),
    "pymemcache.client.base.PooledClient": ("memcache", True), "memcache.Client": ("memcache", True),
    "pylibmc.Client": ("memcache", True), "bmemcached.Client": ("memcache", True),
    "diskcache.Cache": ("diskcache", True), "diskcache.FanoutCache": ("diskcache", True),
    "diskcache.Index": ("diskcache", True), "aiocache.Cache": ("aiocache", True),
    "aiocache.SimpleMemoryCache": ("aiocache", False), "aiocache.RedisCache": ("aiocache", True),
    "aiocache.MemcachedCache": ("aiocache", True), "shelve.open": ("shelve", True), "dbm.open": ("shelve", True),
    "django.core.cache.caches": ("django", True), "django.core.cache.cache": ("django", True),
    "django.core.cache.get_cache": ("django", True),
    "cachetools.TTLCache": ("cachetools", False), "cachetools.LRUCache": ("cachetools", False),
    "cachetools.LFUCache": ("cachetools", False), "cachetools.Cache": ("cachetools", False),
    "cachetools.TLRUCache": ("cachetools", False), "cachetools.FIFOCache": ("cachetools", False),
    "cachetools.RRCache": ("cachetools", False), "cachetools.MRUCache": ("cachetools", False),
}
# Key-taking methods of cache clients (the key is the first argument or `key=`/`name=`).
CLIENT_METHODS: frozenset[str] = frozenset(
    ["get", "set", "add", "delete", "get_or_set", "touch", "incr", "decr", "incrby", "decrby", "incr_version", "has_key", "setex", "setnx", "psetex", "getset", "getdel", "getex", "exists", "expire", "expireat", "pexpire", "ttl", "pttl", "persist", "unlink", "append", "hget", "hset", "hdel", "hexists", "hgetall", "hincrby", "hkeys", "hvals", "hlen", "hmget", "hmset", "hsetnx", "lpush", "rpush", "lpop", "rpop", "lrange", "llen", "sadd", "srem", "smembers", "sismember", "scard", "zadd", "zrem", "zrange", "zscore", "zincrby", "replace", "cas", "gets", "prepend", "increment", "expire_at", "pop", "memoize", "set_many", "get_many", "delete_many"]
)
PERSISTENT_HINTS = ("redis", "memcache", "memcached", "mc", "diskcache", "shelf", "shelve", "rds")
CACHE_HINTS = ("cache",) + PERSISTENT_HINTS


def name_matches(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """`*_ctx`-style globs on identifiers (case-insensitive)."""
    lowered = name.lower()
    for pattern in patterns:
        p = pattern.lower()
        if p.startswith("*") and p.endswith("*") and len(p) > 2:
            if p[1:-1] in lowered:
                return True
        elif p.startswith("*"):
            if lowered.endswith(p[1:]):
                return True
        elif p.endswith("*"):
            if lowered.startswith(p[:-1]):
                return True
        elif lowered == p:
            return True
    return False
