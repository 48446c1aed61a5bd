"""KL601 per-call-value: a value that is new on every call (`uuid4()`, `random`, `secrets`, `os.urandom`)
computed into a lookup key; process/thread ids in shared cache lookups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import libcst as cst

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.keyflow.uses import UseIndex, unseen_changes, use_index
from keylint.rule import Finding, Invalid, Rule, Valid

# Practically never repeat: a key holding one of these matches nothing computed by another call.
UNIQUE_CALLS = frozenset({
    "uuid.uuid1", "uuid.uuid4", "uuid.uuid6", "uuid.uuid7", "os.urandom", "os.getrandom", "secrets.token_bytes",
    "secrets.token_hex", "secrets.token_urlsafe", "secrets.randbits", "random.random", "random.uniform",
    "random.getrandbits", "random.randbytes", "random.gauss", "random.normalvariate", "random.lognormvariate",
    "random.expovariate", "random.vonmisesvariate", "random.gammavariate", "random.betavariate",
    "random.paretovariate", "random.weibullvariate", "random.triangular", "random.binomialvariate",
})
# Draw from a range: unique only when the range is huge (`randint(0, 2**63)`), else deliberate sampling.
RANGED_CALLS = frozenset({"random.randint", "random.randrange", "secrets.randbelow"})
# The same for a whole process or thread: only a cache shared between processes is hurt.
PROCESS_CALLS = frozenset({"os.getpid", "threading.get_ident", "threading.get_native_id", "_thread.get_ident"})
_MODULES = frozenset(name.split(".", 1)[0] for name in UNIQUE_CALLS | RANGED_CALLS | PROCESS_CALLS)
# Operations after which the value falls in a small range (striping, sampling, a length): no longer unique.
_BOUNDING_OPS = frozenset({"%", "//", "&", ">>", "<<"})
_BOUNDING_CALLS = frozenset({"len", "bool", "int", "round", "math.floor", "math.ceil", "isinstance", "type", "range",
                             "callable", "ord", "abs"})
_HUGE = 2**20


@dataclass(eq=False)
class _Use:
    sink: Sink
    path: tuple[Step, ...]

    @property
    def source(self) -> Step:
        return self.path[-1]


class PerCallValue(Rule):
    code = "KL601"
    name = "per-call-value"
    summary = "A value that is new on every call (`uuid4()`, `random`, `secrets`, `os.urandom`) is computed into a lookup key"
    what = (
        "Checks for keys that contain a value made fresh by each call, `uuid.uuid4()`/`uuid1()`, "
        "`random.random()` and friends, `secrets.token_*()`, `os.urandom()`, when that key is used to "
        "look up, test or delete an entry (or as a cached function's argument) without the same value "
        "having been stored first, and for writes under such a key that nothing keeps: the key is not "
        "returned, stored, passed on or read back, and the mapping is never iterated. A fresh id that is "
        "handed out (`token = uuid4().hex; sessions[token] = user; return token`) is the normal way to "
        "create an entry and is not reported, nor is a value made once (in `__init__` or at module level) "
        "and reused, nor a random pick from a small range (`shards[random.randrange(n)]`). Process and "
        "thread ids (`os.getpid()`, `threading.get_ident()`) are reported only in lookups of a cache "
        "shared between processes (redis, memcache, Django's cache). A project's own id generator is "
        "configured as `sources = [{kind = \"random\", function = \"myapp.ids.new_id\"}]` under "
        "`[tool.keylint]`; a stable-key helper listed in `sanitizers` ends the trace."
    )
    why = (
        "A key derived from a new random value is different every time it is computed. Computed again "
        "for a lookup or a delete, it never matches the key the entry was written under: the lookup "
        "always misses and the delete never removes anything, so the table only grows. Written under a "
        "key nobody keeps, an entry can never be reached again. A process id in a shared cache key splits "
        "the cache per worker and orphans every entry when a worker restarts."
    )
    example = '''\
import uuid

class Uploads:
    def __init__(self):
        self._parts = {}

    def add_part(self, upload_id, data):
        self._parts[f"{upload_id}:{uuid.uuid4()}"] = data  # nobody keeps this key

    def discard(self, upload_id):
        self._parts.pop(f"{upload_id}:{uuid.uuid4()}", None)  # a new key: never matches
'''
    use_instead = '''\
import uuid

class Uploads:
    def __init__(self):
        self._parts = {}

    def add_part(self, upload_id, data):
        part_id = uuid.uuid4().hex
        self._parts[f"{upload_id}:{part_id}"] = data
        return part_id  # the caller keeps the id and passes it back

    def discard(self, upload_id, part_id):
        self._parts.pop(f"{upload_id}:{part_id}", None)
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('import functools\nimport secrets\n\n_sessions = {}\n\n@functools.lru_cache(maxsize=None)\ndef _process_salt(name):\n    return "%s:%s" % (name, secrets.token_hex(8))\n\ndef login(name, data):\n    _sessions[_process_salt(name)] = data\n\ndef logout(name):\n    _sessions.pop(_process_salt(name), None)\n', "a cached helper returns the same fresh value to every caller"),
        Valid('import uuid\n\nsessions = {}\n\ndef login(user):\n    token = uuid.uuid4().hex\n    sessions[token] = user\n    return token\n\ndef logout(token):\n    sessions.pop(token, None)\n', "a fresh id handed out as the key"),
        Valid('import uuid\n\nclass Worker:\n    def __init__(self, registry):\n        self.id = uuid.uuid4()\n        self.registry = registry\n\n    def register(self):\n        self.registry[self.id] = self\n\n    def close(self):\n        del self.registry[self.id]\n', "made once in __init__ and reused"),
        Valid('import uuid\n\nINSTANCE = uuid.uuid4().hex\ncache = {}\n\ndef get(name):\n    return cache.get(f"{INSTANCE}:{name}")\n', "made once at module level"),
        Valid('import uuid\n\nrequests = {}\n\ndef start(job):\n    requests[job.name] = uuid.uuid4()\n', "the fresh value is the value, not the key"),
        Valid('import random\n\nclass Pool:\n    def __init__(self, conns):\n        self._conns = conns\n\n    def pick(self):\n        return self._conns[random.randrange(len(self._conns))]\n', "a random pick from a small range"),
        Valid('import uuid\n\nNS = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")\ncache = {}\n\ndef get(name):\n    return cache.get(uuid.uuid5(NS, name))\n', "uuid5 is deterministic"),
        Valid('import secrets\n\nclass Store:\n    def __init__(self):\n        self._items = {}\n\n    def put(self, item):\n        key = secrets.token_urlsafe(16)\n        self._items[key] = item\n        self._notify(key)\n\n    def _notify(self, key):\n        print("stored", key)\n', "the key is passed on"),
        Valid('import uuid\nimport asyncio\n\nclass Rpc:\n    def __init__(self):\n        self._pending = {}\n\n    async def call(self, send, body):\n        rid = uuid.uuid4().hex\n        fut = asyncio.get_running_loop().create_future()\n        self._pending[rid] = fut\n        try:\n            return await fut\n        finally:\n            del self._pending[rid]\n', "written, then deleted under the same value"),
        Valid('import uuid\n\nclass Names:\n    def __init__(self):\n        self._used = set()\n\n    def fresh(self):\n        while True:\n            name = uuid.uuid4().hex[:8]\n            if name not in self._used:\n                self._used.add(name)\n                return name\n', "a collision check before keeping the id"),
        Valid('import os\nimport redis\n\nr = redis.Redis()\n\ndef heartbeat(now):\n    r.set(f"worker:{os.getpid()}", now)\n', "a per-worker key written on purpose"),
        Valid('import threading\n\n_local = {}\n\ndef state():\n    return _local.setdefault(threading.get_ident(), {})\n', "per-thread storage in process"),
        Valid('import random\n\nbuckets = {}\n\ndef sample(n):\n    return buckets.get(random.getrandbits(64) % n)\n', "bucketed with %"),
        Valid('import uuid\n\nclass Bag:\n    def __init__(self):\n        self._cbs = {}\n\n    def add(self, cb):\n        self._cbs[uuid.uuid4()] = cb\n\n    def fire(self):\n        for cb in self._cbs.values():\n            cb()\n        self._cbs.clear()\n', "unkept keys in a bag that is iterated and cleared"),
        Valid('import uuid\nimport logging\n\ndef trace(job):\n    logging.info("job %s run %s", job, uuid.uuid4())\n', "a fresh id in a log line"),
        Valid('import uuid\n\ncache = {}\n\ndef test_unknown_key_misses():\n    assert cache.get(uuid.uuid4().hex) is None\n', "a test that expects the miss"),
        Valid('import os\nimport tempfile\n\ndef scratch(dirname):\n    return open(os.path.join(dirname, f"tmp-{os.urandom(8).hex()}"), "w")\n', "a unique file name is the point"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import secrets\n\n_sessions = {}\n\ndef _session_key(user_id):\n    return "sess:%s:%s" % (user_id, secrets.token_hex(8))\n\ndef login(user_id, data):\n    _sessions[_session_key(user_id)] = data\n\ndef logout(user_id):\n    _sessions.pop(_session_key(user_id), None)\n', line=12,
                note="the helper makes a new token for the write and another for the delete"),
        Invalid('import uuid\n\nclass Uploads:\n    def __init__(self):\n        self._parts = {}\n\n    def discard(self, upload_id):\n        self._parts.pop(f"{upload_id}:{uuid.uuid4()}", None)\n', line=8, column=9),
        Invalid('import uuid\n\nsessions = {}\n\ndef login(user):\n    sessions[f"{user}:{uuid.uuid4()}"] = user\n', line=6, note="a write whose key nobody keeps"),
        Invalid('from uuid import uuid4\n\nsessions = {}\n\ndef login(user):\n    sessions[f"{user}:{uuid4()}"] = user\n\ndef logout(user):\n    del sessions[f"{user}:{uuid4()}"]\n', line=6),
        Invalid('import secrets\n\ncache = {}\n\ndef lookup(user):\n    key = f"{user}:{secrets.token_hex(8)}"\n    value = cache.get(key)\n    if value is None:\n        value = cache[key] = len(user)\n    return value\n', line=7, note="get-then-set: never a hit"),
        Invalid('import random\n\nseen = set()\n\ndef fresh_batch():\n    return random.random() in seen\n', line=6),
        Invalid('import os\n\nblobs = {}\n\ndef drop():\n    blobs.pop(os.urandom(16).hex(), None)\n', line=6),
        Invalid('import functools\nimport uuid\n\n@functools.lru_cache(maxsize=512)\ndef render(page, nonce):\n    return page\n\ndef show(page):\n    return render(page, uuid.uuid4())\n', line=9),
        Invalid('import uuid\n\ncache = {}\n\ndef _key(name):\n    return f"{name}-{uuid.uuid4().hex}"\n\ndef get(name):\n    return cache.get(_key(name))\n', line=9),
        Invalid('import uuid\nimport redis\n\nr = redis.Redis()\n\ndef remember(user):\n    r.set(f"seen:{user}:{uuid.uuid4()}", 1)\n', line=7),
        Invalid('import os\nfrom django.core.cache import cache\n\ndef config():\n    return cache.get(f"config:{os.getpid()}")\n', line=5, note="a per-process key in a shared cache lookup"),
        Invalid('import random\n\nclass Limiter:\n    def __init__(self):\n        self._hits = {}\n\n    def hit(self, user):\n        k = (user, random.randint(0, 2**32))\n        self._hits[k] = self._hits.get(k, 0) + 1\n', line=9, note="a huge range is as good as unique"),
        Invalid('import uuid\n\nclass Jobs:\n    def __init__(self):\n        self._running = {}\n\n    def start(self, job):\n        self._running[str(uuid.uuid1())] = job\n', line=8),
        Invalid('import threading\nimport pymemcache\n\nmc = pymemcache.Client(("localhost", 11211))\n\ndef thread_state():\n    return mc.get("state-%d" % threading.get_ident())\n', line=7),
        Invalid('import hashlib\nimport os\n\nresults = {}\n\ndef lookup(name):\n    digest = hashlib.sha256(os.urandom(32) + name.encode()).hexdigest()\n    return results[digest]\n', line=8),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        if not _imports_a_source(analysis) and not any(spec.kind == "random" for spec in self.settings.sources):
            return
        groups: dict[int, list[_Use]] = {}
        for sink in analysis.sinks:
            if sink.kind == "filename":
                continue  # a unique file name is usually the point (temp files, uploads)
            process = None
            sources: set[int] = set()
            for use in self._uses(sink, analysis):
                if use.source.callee in PROCESS_CALLS:
                    process = process or use
                elif id(use.source.node) not in sources:  # each fresh value reaching this key
                    sources.add(id(use.source.node))
                    groups.setdefault(id(use.source.node), []).append(use)
            if not sources and process is not None and sink.persistent and sink.operation == "read":
                yield self._process_finding(process, analysis)
        for uses in groups.values():
            yield from self._judge(uses, groups, analysis)

    def _uses(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[_Use]:
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            step = path[-1]
            if step.op not in ("call", "method") or not isinstance(step.node, cst.Call):
                continue
            if not (step.op == "call" and _is_source(step)) and not self._configured(step):
                continue
            if step.where.scope.kind != "function" and step.callee not in PROCESS_CALLS:
                continue  # evaluated once, at import
            if _stored(path) and step.callee not in PROCESS_CALLS:
                continue  # stored on an object and reused
            if _bounded(path):
                continue
            yield _Use(sink, path)

    def _configured(self, step: Step) -> bool:
        """A project's own id generator from `[tool.keylint] sources` (`kind = "random"`, `function = ...`)."""
        callee = (step.callee or "").lstrip(".")
        return any(
            spec.kind == "random" and spec.function is not None
            and (callee == spec.function or callee.rsplit(".", 1)[-1] == spec.function.rsplit(".", 1)[-1])
            for spec in self.settings.sources
        )

    def _judge(self, uses: list[_Use], groups: dict[int, list[_Use]], analysis: ModuleAnalysis) -> Iterable[Finding]:
        if _retained(uses, use_index(analysis)):
            return
        writes = [u for u in uses if u.sink.operation == "write" and u.sink.kind != "cached-call"]
        reads = [u for u in uses if u not in writes]
        label = _call_label(uses[0].source, analysis)
        for use in reads:
            if (not _fresh_per_read(use) and any(_before(w.sink, use.sink) for w in writes)) \
                    or _expects_a_miss(use.sink, use_index(analysis)):
                continue
            message = f"`{label}` is new on every call, so {_miss(use.sink, _other_writer(use, groups))}"
            yield self.finding(use.sink, use.path, message)
        if reads:
            return
        for use in writes:
            sink = use.sink
            if sink.mapping_id is None and not sink.persistent:
                continue  # a local or unknown container: where it goes is not visible here
            if sink.mapping_id is not None and sink.kind != "cache-client":
                shown = {id(s.mapping) for s in analysis.sinks if s.mapping is not None}
                if unseen_changes(analysis, sink.mapping_id, shown, inspections=True):
                    continue  # iterated, cleared or handed elsewhere: entries are reachable another way
            message = (f"`{label}` is new on every call and this key is not returned, stored or passed on, so the "
                       f"entry written to `{sink.mapping_label}` can never be looked up or deleted: it gains one "
                       f"unreachable entry per call")
            yield self.finding(sink, use.path, message)

    def _process_finding(self, use: _Use, analysis: ModuleAnalysis) -> Finding:
        label = _call_label(use.source, analysis)
        kind = "process" if use.source.callee == "os.getpid" else "thread"
        message = (f"`{label}` differs per {kind}, so this lookup in the shared cache `{use.sink.mapping_label}` never "
                   f"finds what other workers stored, and every restarted worker leaves its entries orphaned")
        return self.finding(use.sink, use.path, message)


def _imports_a_source(analysis: ModuleAnalysis) -> bool:
    scopes = [analysis.module_scope] + [fn.scope for fn in analysis.functions]
    return any(
        b.kind == "import" and b.qualname and b.qualname.split(".", 1)[0] in _MODULES
        for scope in scopes for bindings in scope.bindings.values() for b in bindings
    )


def _is_source(step: Step) -> bool:
    callee = step.callee or ""
    if callee in UNIQUE_CALLS or callee in PROCESS_CALLS:
        if callee == "random.getrandbits":
            bits = _literal_int(step.node, 0)
            return bits is None or bits >= 20
        return True
    if callee in RANGED_CALLS:
        assert isinstance(step.node, cst.Call)
        bound = _literal_int(step.node, len(step.node.args) - 1)
        return bound is not None and abs(bound) >= _HUGE
    return False


def _literal_int(call: cst.CSTNode, index: int) -> int | None:
    if not isinstance(call, cst.Call) or not 0 <= index < len(call.args):
        return None
    return _eval_int(call.args[index].value)


def _eval_int(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.BinaryOperation):
        left, right = _eval_int(expr.left), _eval_int(expr.right)
        if left is None or right is None:
            return None
        if isinstance(expr.operator, cst.Power) and 0 <= right <= 256:
            return int(left**right)
        if isinstance(expr.operator, cst.Multiply):
            return left * right
        if isinstance(expr.operator, cst.Subtract):
            return left - right
        if isinstance(expr.operator, cst.LeftShift) and 0 <= right <= 256:
            return left << right
    return None


def _stored(path: Sequence[Step]) -> bool:
    """The value reaches the key through an attribute stored earlier (`self.id = uuid4()`), not as an
    attribute of the fresh value itself (`uuid4().hex`)."""
    return any(step.op == "attr" and below.flow is not Flow.MEMBER for step, below in pairwise(path))


def _bounded(path: Sequence[Step]) -> bool:
    if any(below.flow is Flow.ELEMENT and step.op != "join" for step, below in pairwise(path)):
        return True  # an element of it (a character or byte of a token): a small alphabet, not unique
    for step in path[:-1]:
        if step.op == "binop" and step.callee in _BOUNDING_OPS:
            return True
        if step.op == "call" and step.callee in _BOUNDING_CALLS:
            return True
    return False


def _retained(uses: list[_Use], index: UseIndex) -> bool:
    """Whether the fresh value is kept beyond the key uses: returned, stored, passed to a call, compared."""
    on_path: set[int] = set()
    keys: set[int] = set()
    names: set[tuple[int, str]] = set()
    functions: dict[int, cst.FunctionDef] = {}
    for use in uses:
        keys.add(id(use.sink.key))
        for step in use.path:
            on_path.add(id(step.node))
            fn = step.function if step.op == "param" else step.where.scope.function
            if step.op in ("name", "param") and step.callee and fn is not None:
                names.add((id(fn.node), step.callee))
                functions[id(fn.node)] = fn.node
    for fn_id, name in names:
        fn_node = functions[fn_id]
        for node in index.names.get(name, []):
            if id(node) in on_path or index.is_store(node):
                continue
            ups = list(index.ancestors(node))
            if not any(up is fn_node for up in ups):
                continue
            if any(id(up) in keys for up in ups):
                continue
            return True
    return False


def _expects_a_miss(sink: Sink, index: UseIndex) -> bool:
    """A test that looks up a fresh key on purpose: `assert cache.get(uuid4().hex) is None`,
    `self.assertNotIn(...)`, `with pytest.raises(KeyError): d[uuid4()]`."""
    for up in index.ancestors(sink.node):
        if isinstance(up, cst.Assert):
            return True
        if isinstance(up, cst.Call):
            func = up.func
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            if name.startswith(("assert", "fail")):
                return True
        if isinstance(up, cst.With) and any(
            isinstance(item.item, cst.Call) and isinstance(item.item.func, (cst.Attribute, cst.Name))
            and (item.item.func.attr.value if isinstance(item.item.func, cst.Attribute) else item.item.func.value) in ("raises", "assertRaises")
            for item in up.items
        ):
            return True
        if isinstance(up, (cst.FunctionDef, cst.ClassDef)):
            return False
    return False


def _fresh_per_read(use: _Use) -> bool:
    """The fresh value is made inside an (uncached) helper that this lookup calls itself, so no write
    elsewhere can have stored it: `_sessions.pop(_session_key(uid))` with `secrets` inside the helper."""
    helper = use.source.where.scope
    return any(step.op == "call" and step.function is not None and step.function.scope is helper
               and not step.function.decorators for step in use.path[:-1])


def _before(write: Sink, read: Sink) -> bool:
    if write.where.scope is not read.where.scope:
        return True  # in a helper: order unknown, assume the entry is there
    return write.where.stmt.index < read.where.stmt.index


def _other_writer(use: _Use, groups: dict[int, list[_Use]]) -> str | None:
    """The function that writes the same mapping under a key from the same kind of fresh value."""
    if use.sink.mapping_id is None:
        return None
    for others in groups.values():
        for other in others:
            if other.sink.operation == "write" and other.sink.mapping_id == use.sink.mapping_id \
                    and other.source.callee == use.source.callee and other.sink.where.scope is not use.sink.where.scope:
                fn = other.sink.where.scope.function
                if fn is not None:
                    return fn.qualname
    return None


def _miss(sink: Sink, writer: str | None) -> str:
    """What a key that matches nothing does at this sink."""
    stored = f"the key `{writer}()` stored the entry under" if writer else "any key an entry was stored under"
    label = sink.mapping_label
    if sink.kind == "cached-call":
        return f"{label} never hits and keeps one entry per call"
    if sink.kind == "contains":
        return f"this membership test in `{label}` is always false"
    if sink.operation == "delete":
        return f"this delete never matches {stored}, and `{label}` keeps growing"
    found = f"the entry written by `{writer}()`" if writer else "an entry stored earlier"
    return f"this lookup in `{label}` never finds {found}: every call misses"


def _call_label(step: Step, analysis: ModuleAnalysis) -> str:
    node = step.node
    if isinstance(node, cst.Call):
        func = analysis.label(node.func, 30)
        return f"{func}()" if not node.args else f"{func}(...)"
    return analysis.label(node, 30)
