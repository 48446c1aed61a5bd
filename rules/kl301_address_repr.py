"""KL301 address-repr: the default text of an object (`<Job object at 0x7f...>`) used in a key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import libcst as cst

from keylint.keyflow import (
    ClassInfo,
    Flow,
    ModuleAnalysis,
    Sink,
    Step,
    iter_paths,
    lifetime,
)
from keylint.keyflow.paths import text_taken
from keylint.rule import Finding, Invalid, Rule, Valid

# Calls returning objects whose text is `<... object at 0x...>`.
_ADDRESS_FACTORIES: dict[str, str] = {
    "object": "`object()`",
    "threading.Lock": "a `threading.Lock`", "threading.RLock": "a `threading.RLock`",
    "threading.Condition": "a `threading.Condition`", "threading.Event": "a `threading.Event`",
    "threading.Semaphore": "a `threading.Semaphore`", "asyncio.Lock": "an `asyncio.Lock`",
    "asyncio.Event": "an `asyncio.Event`", "asyncio.Queue": "an `asyncio.Queue`",
}
_TEXT_METHODS = ("__repr__", "__str__", "__format__")


def default_text(cls: ClassInfo, analysis: ModuleAnalysis, depth: int = 0) -> bool:
    """The class (and its bases in this module) define no `__repr__`/`__str__`/`__format__`, and no
    base from elsewhere could: its instances print as `<module.Class object at 0x...>`."""
    if depth > 8 or any(m in cls.methods for m in _TEXT_METHODS) or cls.is_dataclass or cls.is_enum:
        return False
    if len(cls.bases) != len([a for a in cls.node.bases if a.keyword is None]):
        return False  # a base written as an expression (`type(X)`, `namedtuple(...)`): its text is unknown
    if any(name in _TEXT_METHODS for name in cls.class_attrs):
        return False  # `__repr__ = _repr` assigned in the body
    for base in cls.bases:
        if base in ("object", "builtins.object"):
            continue
        parent = analysis.classes.get(base)
        if parent is None or parent is cls or not default_text(parent, analysis, depth + 1):
            return False
    return True


class AddressRepr(Rule):
    code = "KL301"
    name = "address-repr"
    summary = "The text of an object with no `__repr__`/`__str__` (a memory address) is used in a long-lived or shared key"
    what = (
        "Checks for keys built from `str()`, `repr()`, an f-string, `%` or `.format()` of an object whose text "
        "is its memory address: an instance of a class in this module that defines no `__repr__`, `__str__` "
        "or `__format__` (and inherits none), `object()` sentinels, locks and events, and function objects. "
        "Reported when the key leaves the process (Redis, memcache, Django's cache, file names) or is kept "
        "in a table that outlives the object (module-level, class-level, on a module global or a "
        "class instantiated at module level, an `lru_cache`). Not reported: tables local to one call, entries whose value holds the object, "
        "`weakref`-cleaned tables, objects that live as long as the module, and classes with their own text."
    )
    why = (
        "`object.__repr__` prints `<app.Job object at 0x7f3a2c1b9e50>`: the address is the only thing that "
        "distinguishes two instances. Another process (every web worker, the next deploy) prints a different "
        "address for the same logical object, so a Redis or file-cache key made this way never hits and the "
        "store fills with dead entries. In-process, once the object is freed, the next object at that "
        "address prints the same text and receives the dead object's cached entry. Key by the fields that "
        "identify the object, or give the class a `__repr__` of those fields."
    )
    example = '''\
from django.core.cache import cache

class Report:
    def __init__(self, owner, period):
        self.owner = owner
        self.period = period

def render(report: Report):
    key = f"report:{report}"  # "<reports.Report object at 0x7f...>": new in every worker
    html = cache.get(key)
    if html is None:
        html = build_html(report)
        cache.set(key, html, 3600)
    return html
'''
    use_instead = '''\
from django.core.cache import cache

class Report:
    def __init__(self, owner, period):
        self.owner = owner
        self.period = period

def render(report: Report):
    key = f"report:{report.owner}:{report.period}"  # the fields that identify the report
    html = cache.get(key)
    if html is None:
        html = build_html(report)
        cache.set(key, html, 3600)
    return html
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n\n    def __repr__(self):\n        return f"Point({self.x}, {self.y})"\n\n_cache = {}\n\ndef area(p: Point):\n    return _cache.get(repr(p))\n', "the class has its own __repr__"),
        Valid('from dataclasses import dataclass\n\n@dataclass\nclass Query:\n    table: str\n\n_cache = {}\n\ndef run(q: Query):\n    return _cache.get(str(q))\n', "dataclasses generate a repr"),
        Valid('class Job:\n    pass\n\ndef run(jobs: list[Job]):\n    counts = {}\n    for job in jobs:\n        counts[str(job)] = 1\n    return len(counts)\n', "a table local to one call"),
        Valid('class Job:\n    def __init__(self, name):\n        self.name = name\n\n_jobs = {}\n\ndef add(job: Job):\n    _jobs[job.name] = job\n', "a field of the object, not its text"),
        Valid('class Job:\n    pass\n\n_jobs = {}\n\ndef add(job: Job):\n    _jobs[str(job)] = job\n', "the value holds the object alive"),
        Valid('import logging\n\nclass Job:\n    pass\n\ndef run(job: Job):\n    logging.info("running %s", job)\n', "text in a log line"),
        Valid('_SENTINEL = object()\n_cache = {}\n\ndef get(key):\n    return _cache.get(f"{key}:{_SENTINEL}")\n', "a module-level sentinel lives as long as the table"),
        Valid('class Base:\n    def __str__(self):\n        return "base"\n\nclass Job(Base):\n    pass\n\n_cache = {}\n\ndef get(job: Job):\n    return _cache.get(str(job))\n', "inherits __str__ from a module base"),
        Valid('from enum import Enum\n\nclass Color(Enum):\n    RED = 1\n\n_cache = {}\n\ndef get(c: Color):\n    return _cache.get(str(c))\n', "enums print their member name"),
        Valid('import weakref\n\nclass Job:\n    pass\n\n_labels = weakref.WeakValueDictionary()\n\ndef add(job: Job):\n    _labels[repr(job)] = job\n', "weak table"),
        Valid('from somewhere import Model\n\nclass Job(Model):\n    pass\n\n_cache = {}\n\ndef get(job: Job):\n    return _cache.get(str(job))\n', "a base from elsewhere may define __str__"),
        Valid('class Job:\n    pass\n\n_seen = set()\n\ndef run(job: Job):\n    key = repr(job)\n    _seen.add(key)\n    try:\n        return 1\n    finally:\n        _seen.discard(key)\n', "removed again in the same call"),
        Valid('import sys\n\nclass Meta(type(object)):\n    def __new__(cls, name, bases, attrs):\n        new = super().__new__(cls, name, bases, attrs)\n        module = sys.modules[new.__module__]\n        return new\n', "a base written as an expression; `cls` of `__new__` is a class"),
        Valid('_registry = {}\n\nclass Plugin:\n    @classmethod\n    def register(cls):\n        _registry[str(cls)] = cls.__name__\n', "a class prints as <class ...>, no address"),
        Valid('import os\n\nclass App:\n    @property\n    def name(self):\n        return "app"\n\n    def instance_path(self):\n        return os.path.join("/srv", f"{self.name}-instance")\n', "a property, not a function object"),
        Valid('def handler():\n    pass\n\n_registry = {}\n\ndef register():\n    _registry[str(handler)] = handler\n', "a module function lives as long as the table"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('from django.core.cache import cache\n\nclass Report:\n    def __init__(self, owner):\n        self.owner = owner\n\ndef render(report: Report):\n    return cache.get(f"report:{report}")\n', line=8),
        Invalid('import redis\n\nr = redis.Redis()\n\nclass Session:\n    pass\n\ndef touch(s: Session):\n    r.set(str(s), 1)\n', line=9),
        Invalid('class Job:\n    pass\n\n_results = {}\n\ndef finish(job: Job, value):\n    _results[repr(job)] = value\n', line=7),
        Invalid('_cache = {}\n\ndef token():\n    return _cache.setdefault(str(object()), len(_cache))\n', line=4),
        Invalid('import threading\n\n_owners = {}\n\ndef guard(name):\n    lock = threading.Lock()\n    _owners["%s" % lock] = name\n', line=7),
        Invalid('class Node:\n    def __init__(self, parent):\n        self.parent = parent\n\nclass Layout:\n    def __init__(self):\n        self._sizes = {}\n\n    def size(self, node: Node, value):\n        self._sizes[f"{node}"] = value\n\nLAYOUT = Layout()\n', line=10),
        Invalid('class Request:\n    pass\n\nclass Handler:\n    _seen = set()\n\n    def handle(self, req: Request):\n        self._seen.add(str(req))\n', line=8),
        Invalid('import functools\n\nclass Shape:\n    pass\n\n@functools.lru_cache(maxsize=128)\ndef area(key):\n    return len(key)\n\ndef compute(shape: Shape):\n    return area(repr(shape))\n', line=11),
        Invalid('class Upload:\n    pass\n\ndef save(u: Upload, data):\n    with open(f"/var/cache/app/{u}.bin", "wb") as fh:\n        fh.write(data)\n', line=5),
        Invalid('_callbacks = {}\n\ndef subscribe(topic):\n    def callback(msg):\n        return (topic, msg)\n    _callbacks[str(callback)] = topic\n', line=6),
        Invalid('_stats = {}\n\nclass Worker:\n    def __init__(self, queue):\n        self.queue = queue\n\n    def _key(self):\n        return "worker:" + str(self)\n\n    def record(self, n):\n        _stats[self._key()] = n\n', line=11),
        Invalid('import shelve\n\nclass Doc:\n    pass\n\ndef persist(doc: Doc, data):\n    with shelve.open("docs.db") as db:\n        db["doc-{}".format(doc)] = data\n', line=8),
        Invalid('class Conn:\n    pass\n\nclass Base:\n    pass\n\nclass Pooled(Base):\n    pass\n\n_pool = {}\n\ndef checkin(c: Pooled, conn: Conn):\n    _pool[str(c)] = conn\n', line=13),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            if len(path) < 2 or not text_taken(path) or not _reaches(path):
                continue
            what = self._address_object(path[-1], analysis)
            if what is None or (path[-1].op == "def" and not _same_object(path)):
                continue
            message = self._problem(sink, path, what, analysis)
            if message is not None:
                yield self.finding(sink, path, message)
                return

    def _address_object(self, step: Step, analysis: ModuleAnalysis) -> str | None:
        """What the value is when its text is `<... at 0x...>`, else None."""
        op = step.op
        if op == "call" and step.function is None and step.callee in _ADDRESS_FACTORIES and isinstance(step.node, cst.Call):
            if step.callee != "object" or not step.node.args:
                return _ADDRESS_FACTORIES[step.callee]
        if op == "lambda":
            return "a function object"
        if op == "def":
            fn = next((f for f in analysis.functions if f.node.name is step.node), None)
            if fn is None or fn.node.decorators or fn.cls is not None:
                return None  # a property, a decorated or bound method: its text is not known here
            return "a function object"
        cls: ClassInfo | None = None
        if op in ("self", "param") and _class_receiver(step):
            return None  # `cls` in a classmethod/`__new__`: the class prints as `<class '...'>`
        if op in ("construct", "self") and step.cls is not None:
            cls = step.cls
        elif op in ("param", "attr", "name", "call"):
            type_name = analysis.type_of(step)
            cls = analysis.classes.get(type_name) if type_name else None
        if cls is not None and default_text(cls, analysis):
            return f"a `{cls.name}` (no `__repr__`/`__str__`)"
        return None

    def _problem(self, sink: Sink, path: Sequence[Step], what: str, analysis: ModuleAnalysis) -> str | None:
        obj = _formatted_object(path)
        shown = analysis.label(obj, 30) if obj is not None else "the object"
        head = f"the text of `{shown}`, {what}, is `<... object at 0x...>`, a memory address"
        if sink.kind == "filename":
            return f"{head}: every process and run names a different file for the same object, so files are never found again and pile up"
        if sink.persistent:
            return (f"{head}: other processes and later runs print a different address, so `{sink.mapping_label}` "
                    "never hits for the same object and keeps one dead entry per object")
        owner = lifetime.table_owner(sink, analysis)
        if owner is None or lifetime.is_weak_table(sink, analysis) or obj is None:
            return None
        if path[-1].op != "lambda" and lifetime.long_lived_object(obj, sink, analysis):
            return None
        if path[-1].op == "def" and _module_level_def(path[-1]):
            return None
        text = lifetime.code(obj)
        if lifetime.holds_object(lifetime.stored_value(sink), text, analysis, sink.where):
            return None
        if lifetime.kept_alive_in_function(text, sink.where, analysis) or lifetime.removed_in_same_call(sink, analysis) \
                or lifetime.held_by_sibling_write(sink, text, analysis):
            return None
        if lifetime.finalizer_cleans(sink, analysis):
            return None
        return (f"{head} and {owner}: every object adds an entry, and once it is freed a new object at the "
                "same address prints the same text and gets its stale entry")


def _formatted_object(path: Sequence[Step]) -> cst.BaseExpression | None:
    """The expression whose text is taken (the child of the last TEXT step on the path)."""
    for step in reversed(path[1:]):
        if step.flow is Flow.TEXT:
            node = step.node
            return node if isinstance(node, cst.BaseExpression) else None
    return None


def _same_object(path: Sequence[Step]) -> bool:
    """From the formatted value down to the last step the value is passed on as itself (not an
    element of it, e.g. a loop variable over something that resolved to a `def`)."""
    for step in reversed(path[1:]):
        if step.flow is Flow.TEXT:
            return True
        if step.flow is not Flow.VALUE:
            return False
    return False


def _class_receiver(step: Step) -> bool:
    fn = step.function if step.op == "param" else step.where.scope.function
    if fn is None or fn.cls is None:
        return False
    if step.op == "param" and (step.param is None or step.param.index != 0):
        return False
    return fn.name in ("__new__", "__init_subclass__", "__class_getitem__") or any(
        d.rsplit(".", 1)[-1] in ("classmethod", "staticmethod") for d in fn.decorators)


_DIGESTS = frozenset({"str", "repr", "format", "bytes", "hash", "zlib.crc32", "base64.b64encode"})


def _reaches(path: Sequence[Step]) -> bool:
    """The text reaches the key unchanged, as a piece of it, or through a digest of it."""
    for parent, child in zip(path, path[1:]):
        if child.flow in (Flow.VALUE, Flow.PART, Flow.ELEMENT, Flow.TEXT):
            continue
        callee = parent.callee or ""
        if child.flow is Flow.DERIVE and parent.op == "call" and (callee in _DIGESTS or callee.startswith("hashlib.")
                                                                  or parent.function is not None):
            continue
        if child.flow is Flow.DERIVE and parent.op == "method" and parent.children and parent.children[0] is child \
                and callee.lstrip(".") in ("encode", "hexdigest", "digest"):
            continue
        return False
    return True


def _module_level_def(step: Step) -> bool:
    return step.where.scope.kind == "module"
