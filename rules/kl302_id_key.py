"""KL302 id-key: `id(obj)` used as a key in a table that outlives `obj`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import libcst as cst

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths, lifetime
from keylint.rule import Finding, Invalid, Rule, Valid

# Calls through which an id still identifies the object (formatting keeps the number).
_KEEPS_ID = frozenset({"str", "repr", "hex", "format", "int", "oct"})


def id_paths(sink: Sink, analysis: ModuleAnalysis, stop: object) -> Iterable[tuple[tuple[Step, ...], cst.BaseExpression]]:
    """Paths from the key down to a builtin `id(obj)` call whose number reaches the key unchanged
    (as the key, a piece of it, or its text), with the `obj` expression."""
    for path in iter_paths(analysis.provenance(sink), stop=stop):  # type: ignore[arg-type]
        step = path[-1]
        node = step.node
        if step.op != "call" or step.callee != "id" or step.function is not None or not isinstance(node, cst.Call):
            continue
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            continue
        if any(s.op in ("param", "attr") for s in path[1:-1]):
            continue  # the id was taken elsewhere (a caller, another method): its object's lifetime is not visible here
        if all(_keeps(parent, child) for parent, child in zip(path, path[1:])):
            yield path, node.args[0].value


def _keeps(parent: Step, child: Step) -> bool:
    if child.flow is not Flow.DERIVE:
        return True
    return parent.op == "call" and (parent.callee or "") in _KEEPS_ID


class IdKey(Rule):
    code = "KL302"
    name = "id-key"
    summary = "`id(obj)` is used as a key in a table that outlives `obj`"
    what = (
        "Checks for keys built from `id(obj)` (alone, in a tuple, or formatted into text) stored in a table "
        "that lives longer than `obj`: a module-level or class-level dict or set, an attribute of a "
        "long-lived object (a module global, or `self.x` of a class instantiated at module level), an `lru_cache`d function's cache, or a key that leaves the process (Redis, "
        "memcache, Django's cache, shelve). Not reported: tables that keep their objects alive for the "
        "table's life (the stored value holds the object, as in `memo[id(x)] = (x, result)`, or a keep-alive "
        "list), entries removed by `weakref.finalize` or a `weakref.ref` callback, `WeakKeyDictionary`/"
        "`WeakValueDictionary`, entries removed again in the same call (recursion guards), tables local "
        "to one call (a closure that fills one may be passed to ordinary calls made during the call; it makes "
        "the table outlive the call only when it is stored, returned, or handed to an API that keeps or defers "
        "callables, such as `Thread(target=...)`, `executor.submit`, `loop.call_later`, `.connect`/`.register`), "
        "`self` keyed in its own table, and module-level objects."
    )
    why = (
        "`id()` is an address, unique only among objects alive at the same time. When `obj` is collected, "
        "the next object allocated at that address gets the same id, and finds the entry stored for the "
        "dead one: a cache returns another object's result, a \"seen\" set skips an object it never saw. "
        "Meanwhile the stale entries are never removed, so the table grows. In another process the number "
        "means nothing at all. Key by the object itself (it must be hashable), use a `WeakKeyDictionary`, "
        "or keep the object alive in the entry and remove the entry when the object dies."
    )
    example = '''\
_thumbnails = {}

def thumbnail(image):
    key = id(image)  # reused by the next image once this one is freed
    if key not in _thumbnails:
        _thumbnails[key] = image.resize((128, 128))
    return _thumbnails[key]
'''
    use_instead = '''\
import weakref

_thumbnails = weakref.WeakKeyDictionary()  # entries go when the image goes

def thumbnail(image):
    if image not in _thumbnails:
        _thumbnails[image] = image.resize((128, 128))
    return _thumbnails[image]
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('def deepcopy(x, memo=None):\n    if memo is None:\n        memo = {}\n    y = memo.get(id(x))\n    if y is None:\n        y = list(x)\n        memo[id(x)] = y\n    return y\n', "per-call memo"),
        Valid('_memo = {}\n\ndef convert(x):\n    _memo[id(x)] = (x, str(x))\n    return _memo[id(x)][1]\n', "the value holds the object"),
        Valid('import weakref\n\n_by_id = {}\n\ndef track(obj):\n    _by_id[id(obj)] = obj.name\n    weakref.finalize(obj, _by_id.pop, id(obj), None)\n', "entry removed by weakref.finalize"),
        Valid('import weakref\n\n_meta = weakref.WeakValueDictionary()\n\ndef remember(obj):\n    _meta[id(obj)] = obj\n', "WeakValueDictionary"),
        Valid('def walk(nodes):\n    seen = set()\n    out = []\n    for n in nodes:\n        if id(n) not in seen:\n            seen.add(id(n))\n            out.append(n)\n    return out\n', "a table local to one call"),
        Valid('_running = set()\n\ndef safe_repr(obj):\n    key = id(obj)\n    if key in _running:\n        return "..."\n    _running.add(key)\n    try:\n        return repr(obj)\n    finally:\n        _running.discard(key)\n', "recursion guard: removed in the same call"),
        Valid('_keep = []\n_cache = {}\n\ndef remember(obj, value):\n    _keep.append(obj)\n    _cache[id(obj)] = value\n', "keep-alive list"),
        Valid('class Node:\n    def __init__(self):\n        self._attrs = {}\n\n    def tag(self, value):\n        self._attrs[id(self)] = value\n', "self keyed in its own table"),
        Valid('_handlers = {}\n\ndef handler(obj):\n    return _handlers.get(id(type(obj)))\n', "classes live for the program"),
        Valid('import logging\n\ndef log(obj):\n    logging.info("object %s", id(obj))\n', "id in a log line"),
        Valid('_cache = {}\n\ndef lookup(obj):\n    return _cache.get(obj.id)\n', "a stable id attribute, not the builtin"),
        Valid('_stripes = [object() for _ in range(16)]\n\ndef stripe(obj):\n    return _stripes[id(obj) % 16]\n', "id reduced to a stripe index"),
        Valid('_cache = {}\n\ndef registry(obj):\n    _cache[id(obj)] = obj\n    return obj\n', "the value is the object itself"),
        Valid('import weakref\n\nclass Tracker:\n    def __init__(self):\n        self._info = {}\n\n    def add(self, obj):\n        self._info[id(obj)] = len(obj)\n        weakref.finalize(obj, self._forget, id(obj))\n\n    def _forget(self, key):\n        del self._info[key]\n', "finalize callback deletes from the table"),
        Valid('def print_chain(exc):\n    seen = set()\n\n    def show(e):\n        seen.add(id(e))\n        if e.__cause__ is not None and id(e.__cause__) not in seen:\n            show(e.__cause__)\n    show(exc)\n', "a closure's table local to the enclosing call"),
        Valid('class Server:\n    def __init__(self):\n        self.id_to_obj = {}\n        self.refcount = {}\n\n    def create(self, obj):\n        ident = "%x" % id(obj)\n        self.id_to_obj[ident] = (obj, type(obj))\n        self.refcount[ident] = 0\n', "a sibling table keeps the object alive under the same key"),
        Valid('class Fixer:\n    def start_tree(self):\n        self.done = set()\n\n    def transform(self, node):\n        self.done.add(id(node))\n', "a table reset per operation"),
        Valid('from weakref import ref\n\nclass Local:\n    def __init__(self):\n        self.dicts = {}\n\n    def create(self, thread):\n        key = id(thread)\n        def gone(_, key=key, local=self):\n            local.dicts.pop(key, None)\n        self.dicts[key] = ref(thread, gone), {}\n', "a weakref callback removes the entry"),
        Valid('class Counter:\n    def __init__(self):\n        self.counts = {}\n\n    def incref(self, ident):\n        self.counts[ident] = self.counts.get(ident, 0) + 1\n\ndef track(c, obj):\n    c.incref(id(obj))\n', "the id arrives from a caller: lifetime not visible"),
        Valid('class Collector:\n    def __init__(self):\n        self.store_ids = set()\n\n    def visit(self, node):\n        self.store_ids.add(id(node))\n', "a per-walk object's table: its lifetime is not visible"),
        Valid('class UniqueAppender:\n    __slots__ = ("data", "_unique")\n    _unique: dict\n\n    def __init__(self, data):\n        self.data = data\n        self._unique = {}\n\n    def append(self, item):\n        if id(item) not in self._unique:\n            self.data.append(item)\n            self._unique[id(item)] = True\n', "a class-body annotation without a value declares an instance attribute"),
        Valid('def deep_annotate(element, annotations):\n    cloned_ids = {}\n\n    def clone(elem, **kw):\n        id_ = id(elem)\n        if id_ in cloned_ids:\n            return cloned_ids[id_]\n        newelem = elem._annotate(annotations)\n        newelem._copy_internals(clone=clone, **kw)\n        cloned_ids[id_] = newelem\n        return newelem\n\n    if element is not None:\n        element = clone(element)\n    clone = None  # remove gc cycles\n    return element\n', "a per-call clone memo whose closure is only passed to calls made during the call (SQLAlchemy)"),
        Valid('def order(items):\n    rank = {}\n    for i, item in enumerate(items):\n        rank[id(item)] = i\n    return sorted(items, key=lambda item: rank[id(item)])\n', "a lambda capturing the table, used by a call and dropped"),
        Valid('def walk(root, traverse):\n    seen = {}\n\n    def visit(node):\n        seen[id(node)] = node.name\n    traverse(root, {}, {"node": visit})\n    return len(seen)\n', "the closure in a visitor dict passed to a call: the dict does not outlive the call"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('_thumbs = {}\n\ndef thumbnail(image):\n    key = id(image)\n    if key not in _thumbs:\n        _thumbs[key] = image.resize((128, 128))\n    return _thumbs[key]\n', line=6),
        Invalid('_seen = set()\n\ndef visit(obj):\n    _seen.add(id(obj))\n', line=4),
        Invalid('class Renderer:\n    def __init__(self):\n        self._cache = {}\n\n    def render(self, doc):\n        self._cache[id(doc)] = doc.render()\n\nrenderer = Renderer()\n', line=6),
        Invalid('import functools\n\n@functools.lru_cache(maxsize=None)\ndef layout(obj_id):\n    return obj_id * 2\n\ndef run(widget):\n    return layout(id(widget))\n', line=8),
        Invalid('import redis\n\nr = redis.Redis()\n\ndef mark(job):\n    r.set(f"job:{id(job)}", 1)\n', line=6),
        Invalid('_results = {}\n\ndef store(task, value):\n    _results.setdefault((id(task), "v"), value)\n', line=4),
        Invalid('_names = {}\n\ndef name_of(obj):\n    key = "obj-%x" % id(obj)\n    _names[key] = obj.__class__.__name__\n', line=5),
        Invalid('class Pool:\n    _by_conn = {}\n\n    @classmethod\n    def register(cls, conn, info):\n        cls._by_conn[id(conn)] = info\n', line=6),
        Invalid('def make_registry():\n    table = {}\n\n    def add(obj):\n        table[id(obj)] = obj.name\n    return add\n', line=5),
        Invalid('_cache = {}\n\ndef _key(obj):\n    return (id(obj), type(obj).__name__)\n\ndef put(obj, value):\n    _cache[_key(obj)] = value\n', line=7),
        Invalid('_weights = {}\n\ndef weight(tensor):\n    k = str(id(tensor))\n    _weights[k] = tensor.sum()\n    return _weights[k]\n', line=5),
        Invalid('from django.core.cache import cache\n\ndef remember(request, data):\n    cache.set("req-%d" % id(request), data)\n', line=4),
        Invalid('class Index:\n    rows: dict = {}\n\n    def add(self, row):\n        self.rows[id(row)] = row.key\n', line=5, note="annotated class attribute with a value"),
        Invalid('class Index:\n    rows = {}\n\n    def add(self, row):\n        self.rows[id(row)] = row.key\n\n    def drop(self, row):\n        self.rows.pop(id(row), None)\n', line=5),
        Invalid('def scan(executor, items):\n    seen = {}\n\n    def worker(x):\n        seen[id(x)] = x.name\n    for x in items:\n        executor.submit(worker, x)\n', line=5, note="the executor runs the closure after the call returns"),
        Invalid('import threading\n\ndef watch(items):\n    seen = set()\n\n    def worker():\n        for x in list(items):\n            seen.add(id(x))\n    threading.Thread(target=worker).start()\n', line=8, note="a thread keeps the closure"),
        Invalid('def install(loop, obj):\n    stamps = {}\n\n    def tick(x):\n        stamps[id(x)] = x.value\n    loop.call_later(1.0, tick, obj)\n', line=5, note="the loop calls it later"),
        Invalid('import functools\n\ndef hook(bus):\n    seen = {}\n\n    def on_event(name, event):\n        seen[id(event)] = name\n    bus.handler = functools.partial(on_event, "bus")\n', line=7, note="a stored partial keeps the closure"),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        if sink.kind == "filename":
            return
        if not sink.persistent and sink.kind != "cached-call" and sink.operation != "write":
            return  # reads and deletes follow the writes; the write is where the stale entry is made
        for path, obj in id_paths(sink, analysis, self.is_sanitized):
            message = self._problem(sink, path, obj, analysis)
            if message is not None:
                yield self.finding(sink, path, message)
                return

    def _problem(self, sink: Sink, path: Sequence[Step], obj: cst.BaseExpression, analysis: ModuleAnalysis) -> str | None:
        shown = analysis.label(obj, 30)
        if sink.persistent:
            return (f"`id({shown})` is a memory address in this process: in a key of `{sink.mapping_label}` it means "
                    "nothing to other processes or after a restart, and a later object at the same address hits this entry")
        owner = lifetime.table_owner(sink, analysis)
        if owner is None or lifetime.is_weak_table(sink, analysis):
            return None
        text = lifetime.code(obj)
        if lifetime.long_lived_object(obj, sink, analysis) or lifetime.holds_object(lifetime.stored_value(sink), text, analysis, sink.where):
            return None
        if lifetime.kept_alive_in_function(text, sink.where, analysis) or lifetime.removed_in_same_call(sink, analysis) \
                or lifetime.held_by_sibling_write(sink, text, analysis):
            return None
        if lifetime.finalizer_cleans(sink, analysis):
            return None
        return (f"`id({shown})` is only unique while `{shown}` is alive and {owner}: once it is collected, a new "
                f"object can get the same id and hit its stale entry (a wrong result), and the entry is never removed")
