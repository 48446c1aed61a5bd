"""KL101 formatted-context: the text of a per-call context object used in a key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.keyflow.paths import has_value_children, identifier, text_taken
from keylint.keyflow.sources import CONTEXT_NAMES, CONTEXT_TYPES, name_matches
from keylint.rule import Finding, Invalid, Rule, Valid

_NOT_CONTEXTS = frozenset({"str", "bytes", "int", "float", "bool", "dict", "list", "tuple", "set", "typing.Any",
                           "typing.Mapping", "typing.Dict", "collections.abc.Mapping", "typing.MutableMapping"})


class FormattedContext(Rule):
    code = "KL101"
    name = "formatted-context"
    summary = "The text of a per-call context (gRPC context, `asyncio.Timeout`, task, future, request) is used in a key"
    what = (
        "Checks for keys built from the *text* of a context-like object: `str(ctx)`, `repr(ctx)`, "
        "`f\"{ctx}\"`, `\"%s\" % ctx` or `\"{}\".format(ctx)`, where `ctx` is a gRPC `ServicerContext` "
        "(sync or `grpc.aio`), a `contextvars.Context`, an `asyncio.Timeout`, `Task` or `Future`, a "
        "`concurrent.futures.Future`, a `threading.Thread`/`Timer`, a request object, a parameter or "
        "variable named `ctx`, `context` or `*_ctx`, or an instance of a class in the same module whose "
        "`__str__`/`__repr__` reads the clock or state that changes after construction. The key may be a "
        "subscript, an `in` test, a mapping method, a cache client call or a cached function's argument; "
        "the text may travel through variables, helper functions, `self` attributes and attributes stored "
        "on other objects before it is used."
    )
    why = (
        "The text of these objects describes one call at one moment: an address, a state, or the time "
        "left before a deadline. Two computations of the \"same\" key give different strings, so a lookup "
        "never finds what an earlier call stored, and a delete never removes it. This is how etcd's Go "
        "client v3.1 leaked its watch streams: it keyed them by `fmt.Sprintf(\"%v\", ctx)`, the context "
        "printed its remaining deadline, and every lock/unlock added a stream that was never removed "
        "(over 1 GB in production). Key by stable data instead: the metadata that really identifies the "
        "entry, computed once, stored with the entry, and used again for the delete."
    )
    example = '''\
class Watcher:
    def __init__(self, open_stream):
        self._open_stream = open_stream
        self._streams = {}

    def watch(self, ctx: grpc.aio.ServicerContext, key):
        ctx_key = f"{ctx}"  # the context's text: an address, changes per call
        stream = self._streams.get(ctx_key)
        if stream is None:
            stream = self._streams[ctx_key] = self._open_stream(ctx)
        return stream.add(key)
'''
    use_instead = '''\
class Watcher:
    def __init__(self, open_stream):
        self._open_stream = open_stream
        self._streams = {}

    def watch(self, ctx: grpc.aio.ServicerContext, key):
        stream_key = tuple(sorted(ctx.invocation_metadata()))  # stable: what identifies the stream
        stream = self._streams.get(stream_key)
        if stream is None:
            stream = self._streams[stream_key] = self._open_stream(ctx)
            stream.key = stream_key  # delete later under the very same key
        return stream.add(key)
'''

    VALID: ClassVar[list[Valid | str]] = [
        Valid('import logging\nlog = logging.getLogger(__name__)\n\ndef handle(ctx):\n    log.info("call %s", ctx)\n    log.debug(f"ctx={ctx}")\n', "a context's text in a log line"),
        Valid('class Watcher:\n    def __init__(self):\n        self._streams = {}\n\n    def watch(self, ctx):\n        key = tuple(sorted(ctx.invocation_metadata()))\n        self._streams[key] = object()\n        return key\n', "key from the context's metadata, not its text"),
        Valid('class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n    def __repr__(self):\n        return f"Point({self.x}, {self.y})"\n\ncache = {}\n\ndef remember(p: Point):\n    cache[repr(p)] = p\n', "__repr__ of stable fields"),
        Valid('import weakref\n\nper_call = weakref.WeakKeyDictionary()\n\ndef state_for(ctx):\n    return per_call.setdefault(ctx, {})\n', "the context object itself (not its text) as a weak key"),
        Valid('sessions = {}\n\ndef open_session(request, ctx):\n    sessions[ctx.peer()] = request\n', "a stable attribute of the context"),
        Valid('cache = {}\n\ndef lookup(context: str):\n    return cache.get(f"user:{context}")\n', "named context but annotated str"),
        Valid('cache = {}\n\ndef lookup():\n    ctx = "default"\n    return cache[str(ctx)]\n', "ctx is a constant string here"),
        Valid('class Registry:\n    def __init__(self):\n        self._names = {}\n\n    def add(self, key, ctx):\n        self._names[key] = str(ctx)\n', "the text stored as a value, not a key"),
        Valid('streams = {}\n\ndef close(ctx, key):\n    if key not in streams:\n        raise KeyError(f"no stream for {ctx}")\n    del streams[key]\n', "the text in an error message"),
        Valid('import asyncio\n\ntasks = {}\n\nasync def start(coro, name):\n    task = asyncio.create_task(coro, name=name)\n    tasks[task.get_name()] = task\n', "a task's explicit name"),
        Valid('from dataclasses import dataclass\n\n@dataclass(frozen=True)\nclass Key:\n    user: str\n    region: str\n\ncache = {}\n\ndef get(user, region):\n    return cache.get(repr(Key(user, region)))\n', "frozen dataclass repr"),
        Valid('cache = {}\n\ndef render(template, context):\n    key = (template, str(sorted(context.items())))\n    return cache.get(key)\n', "a template context's sorted items"),
        Valid('streams = {}\n\ndef watch(ctx, key):\n    label = f"{ctx.method}:{key}"\n    streams[label] = key\n', "an attribute of the context, not its text"),
        Valid('class Strategy:\n    def __init__(self, name):\n        self.name = name\n        self._cached_repr = None\n\n    def __repr__(self):\n        if self._cached_repr is None:\n            self._cached_repr = f"Strategy({self.name})"\n        return self._cached_repr\n\nevents = {}\n\ndef note(s: Strategy):\n    events[f"drew from {s!r}"] = 1\n', "a repr memoised by __repr__ itself"),
        Valid('cells = {}\n\ndef table(sizes):\n    for context in sizes:\n        cells[str(context)] = context * 2\n', "a loop variable named context (a number)"),
        Valid('import threading\n\nnames = {}\n\ndef register():\n    names[threading.get_ident()] = threading.current_thread().name\n', "thread text as a value"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import grpc\n\nclass Service:\n    def __init__(self):\n        self._sessions = {}\n\n    def Open(self, request, context: grpc.ServicerContext):\n        self._sessions[str(context)] = request\n', line=8, column=9),
        Invalid('import asyncio\n\nstreams = {}\n\nasync def watch(key):\n    async with asyncio.timeout(5) as cm:\n        streams[f"{cm}"] = key\n', line=7),
        Invalid('class Watcher:\n    def __init__(self):\n        self._streams = {}\n\n    def close(self, ctx):\n        self._streams.pop(f"{ctx}", None)\n', line=6),
        Invalid('cache = {}\n\ndef _key(ctx):\n    return "stream:" + str(ctx)\n\ndef lookup(ctx):\n    return cache.get(_key(ctx))\n', line=7),
        Invalid('class Stream:\n    pass\n\ndef new_stream(ctx):\n    s = Stream()\n    s.ctx_key = "%s" % (ctx,)\n    return s\n\ndef close(streams, stream):\n    del streams[stream.ctx_key]\n', line=10),
        Invalid('import asyncio\n\n_locks = {}\n\nasync def lock_for_task():\n    return _locks.setdefault(repr(asyncio.current_task()), asyncio.Lock())\n', line=6),
        Invalid('import contextvars\n\nseen = set()\n\ndef remember():\n    ctx = contextvars.copy_context()\n    seen.add("{}".format(ctx))\n', line=7),
        Invalid('import threading\n\n_active = {}\n\ndef busy():\n    return str(threading.current_thread()) in _active\n', line=6),
        Invalid('class Job:\n    def __init__(self, name):\n        self.name = name\n        self.state = "new"\n\n    def start(self):\n        self.state = "running"\n\n    def __repr__(self):\n        return f"Job({self.name}, {self.state})"\n\nregistry = {}\n\ndef track(job: Job):\n    registry[repr(job)] = job\n', line=15),
        Invalid('import time\n\nclass Deadline:\n    def __init__(self, seconds):\n        self.at = time.monotonic() + seconds\n\n    def __str__(self):\n        return f"deadline in {self.at - time.monotonic():.3f}s"\n\npending = {}\n\ndef submit(d: Deadline, job):\n    pending[str(d)] = job\n', line=13),
        Invalid('import functools\n\n@functools.lru_cache(maxsize=256)\ndef session_for(key):\n    return object()\n\ndef handle(request, ctx):\n    return session_for(str(ctx))\n', line=8),
        Invalid('import redis\n\nr = redis.Redis()\n\ndef mark(ctx):\n    r.set(f"seen:{ctx}", 1)\n', line=6),
        Invalid('from concurrent.futures import ThreadPoolExecutor\n\npool = ThreadPoolExecutor()\nresults = {}\n\ndef run(fn):\n    fut = pool.submit(fn)\n    results[str(fut)] = fut\n', line=8),
        Invalid('from django.http import HttpRequest\n\ncache = {}\n\ndef view(request: HttpRequest):\n    cache[str(request)] = 1\n', line=6),
        Invalid('class Call:\n    def __init__(self, ctx):\n        self.ctx = ctx\n        self.table = {}\n\n    def remember(self):\n        self.table[str(self.ctx)] = True\n', line=7),
        Invalid('cache = {}\n\ndef key_for(user, request_ctx):\n    return cache.get("/".join([user, str(request_ctx)]))\n', line=4),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        if sink.kind == "filename":
            return
        steps = analysis.steps(sink)
        if not any(step.flow is Flow.TEXT for step in steps):
            return
        reasons = {id(step): reason for step in steps if (reason := self.context_reason(step, analysis)) is not None}
        if not reasons:
            return
        matches: list[tuple[tuple[Step, ...], str]] = []
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            if id(path[-1]) in reasons and len(path) >= 2 and text_taken(path):
                matches.append((path, reasons[id(path[-1])]))
        if not matches:
            return
        path, reason = max(matches, key=lambda m: len(m[0]))
        shown = analysis.label(path[-1].node, 40)
        yield self.finding(sink, path, f"the text of `{shown}` is used in a key: {reason}, so {self.consequence(sink)}")

    def context_reason(self, step: Step, analysis: ModuleAnalysis) -> str | None:
        """Why this step's value prints differently per call, or None if it is not a context."""
        if step.op not in ("param", "name", "attr", "self", "call", "method", "construct"):
            return None
        type_name = analysis.type_of(step)
        if type_name is not None:
            reason = self._type_reason(type_name, analysis)
            if reason is not None or type_name in _NOT_CONTEXTS or type_name in analysis.classes:
                return reason
        for spec in self.settings.sources:
            if spec.kind != "context":
                continue
            if spec.function and step.op in ("call", "method") and step.callee and (
                step.callee == spec.function or step.callee.lstrip(".") == spec.function.rsplit(".", 1)[-1]
            ):
                return f"`{spec.function}()` returns a per-call context"
        if step.op == "self" or has_value_children(step):
            return None
        name = identifier(step)
        # By name only where nothing tells us more: a parameter, or a name/attribute with no known
        # definition. A loop variable or assignment is judged by what it was bound to.
        if name is None or step.op not in ("param", "name", "attr") or (step.op != "param" and step.children
                                                                       and step.op != "attr"):
            return None
        patterns = list(CONTEXT_NAMES) + [s.name for s in self.settings.sources if s.kind == "context" and s.name]
        if name_matches(name, patterns):
            return f"`{name}` is a per-call context, and its text (address, deadline, state) differs from call to call"
        return None

    def _type_reason(self, type_name: str, analysis: ModuleAnalysis) -> str | None:
        if type_name in CONTEXT_TYPES:
            return CONTEXT_TYPES[type_name]
        for spec in self.settings.sources:
            if spec.kind == "context" and spec.type and (
                spec.type == type_name or spec.type.rsplit(".", 1)[-1] == type_name.rsplit(".", 1)[-1]
            ):
                return f"`{type_name}`'s text changes from call to call (configured context type)"
        cls = analysis.classes.get(type_name)
        if cls is not None:
            why = analysis.text_is_unstable(cls)
            if why is not None:
                return f"`{cls.name}`'s text changes over time ({why})"
        return None
