"""keyflow on its own: which sinks it finds, and what each key's provenance says."""

from __future__ import annotations

import textwrap

import libcst as cst

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.settings import Settings, SinkSpec


def analyse(source: str, settings: Settings | None = None) -> ModuleAnalysis:
    return ModuleAnalysis(cst.parse_module(textwrap.dedent(source)), settings or Settings())


def text(an: ModuleAnalysis, node: cst.CSTNode) -> str:
    return an.label(node, 200)


def sinks(an: ModuleAnalysis) -> list[tuple[str, str, str, str]]:
    return [(s.kind, s.operation, text(an, s.key), s.mapping_label) for s in an.sinks]


def leaves(an: ModuleAnalysis, sink: Sink) -> set[str]:
    """Source text of every step without children (where the key's values come from)."""
    return {text(an, p[-1].node) for p in iter_paths(an.provenance(sink)) if not p[-1].children}


def test_sink_kinds_and_operations() -> None:
    an = analyse(
        """
        import functools, redis
        r = redis.Redis()
        @functools.lru_cache(maxsize=None)
        def load(name): ...
        def f(m, k, s):
            m[k] = 1; m[k]; del m[k]
            k in m; k not in m
            m.get(k); m.setdefault(k, 0); m.pop(k); s.add(k); s.discard(k)
            r.set(k, 1); r.delete(k)
            load(k)
            open(k)
            m["literal"]; m[0]; k in (1, 2); x[1:2]
            requests.get(k, timeout=3)
        """
    )
    assert sinks(an) == [
        ("subscript", "write", "k", "m"), ("subscript", "read", "k", "m"), ("subscript", "delete", "k", "m"),
        ("contains", "read", "k", "m"), ("contains", "read", "k", "m"),
        ("mapping-method", "read", "k", "m"), ("mapping-method", "write", "k", "m"), ("mapping-method", "delete", "k", "m"),
        ("mapping-method", "write", "k", "s"), ("mapping-method", "delete", "k", "s"),
        ("cache-client", "write", "k", "r"), ("cache-client", "delete", "k", "r"),
        ("cached-call", "read", "k", "the cache of load()"),
        ("filename", "write", "k", "the file name in open()"),
    ]
    persistent = {(s.kind, s.api): s.persistent for s in an.sinks}
    assert persistent[("cache-client", "redis")] is True and persistent[("subscript", None)] is False


def test_cache_clients_by_constructor_import_and_name() -> None:
    an = analyse(
        """
        from django.core.cache import cache
        import diskcache, shelve
        class Store:
            def __init__(self):
                self.dc = diskcache.Cache("/tmp/x")
            def put(self, k):
                self.dc.set(k, 1)
                cache.get_or_set(k, 1)
                with shelve.open("db") as db:
                    db[k] = 1
                memcache_client.add(k, 1)
        """
    )
    found = {(s.api, s.method, s.persistent) for s in an.sinks}
    assert ("diskcache", "set", True) in found
    assert ("django", "get_or_set", True) in found
    assert ("shelve", None, True) in found
    assert ("memcache", "add", True) in found


def test_configured_sinks() -> None:
    an = analyse("def f(store, k):\n    store.remember(1, k)\n", Settings(sinks=(SinkSpec("remember", key_arg=1, persistent=True),)))
    [sink] = [s for s in an.sinks if s.kind == "custom"]
    assert text(an, sink.key) == "k" and sink.persistent


def test_mapping_identity() -> None:
    an = analyse(
        """
        streams = {}
        class W:
            def f(self, k, local):
                streams[k]; self._streams[k]; local[k]; W.table[k]
        """
    )
    assert [s.mapping_id for s in an.sinks] == ["global:streams", "attr:W._streams", None, "attr:W.table"]


def test_reassignment_is_precise() -> None:
    an = analyse(
        """
        def f(m, ctx, flag):
            key = str(ctx)
            key = stable(ctx)
            m[key]
            if flag:
                key = "other"
            m.get(key)
        """
    )
    first, second = an.sinks
    first_values = {text(an, p[-1].node) for p in iter_paths(an.provenance(first)) if len(p) == 2}
    assert first_values == {"stable(ctx)"}  # the earlier `str(ctx)` is killed by the reassignment
    assert not any(p[-1].flow is Flow.TEXT for p in iter_paths(an.provenance(first)))
    second_values = {text(an, p[-1].node) for p in iter_paths(an.provenance(second)) if len(p) == 2}
    assert second_values == {'"other"', "stable(ctx)"}


def test_loop_carried_definitions_reach_earlier_uses() -> None:
    an = analyse(
        """
        def f(m, items):
            prev = None
            for item in items:
                m.pop(prev)
                prev = str(item)
        """
    )
    [sink] = an.sinks
    assert any(p[-1].flow is Flow.TEXT and text(an, p[-1].node) == "item" for p in iter_paths(an.provenance(sink)))


def test_helper_returns_bind_parameters_per_call() -> None:
    an = analyse(
        """
        def _key(a, b):
            return f"{a}:{b}"
        def f(m, ctx, user):
            m[_key(user, "x")]
            m[_key(b=ctx, a=user)]
        """
    )
    first, second = an.sinks
    assert leaves(an, first) == {"user", '"x"'}
    assert leaves(an, second) == {"user", "ctx"}
    assert any("returned by _key()" in p[-1].note for p in iter_paths(an.provenance(first)))


def test_attribute_stored_in_one_function_read_in_another() -> None:
    an = analyse(
        """
        class Stream:
            def __init__(self, key):
                self.key = key
        def new_stream(ctx):
            s = Stream(format(ctx))
            return s
        def close(streams, stream):
            streams.pop(stream.key)
        """
    )
    [sink] = an.sinks
    notes = [s.note for p in iter_paths(an.provenance(sink)) for s in p]
    assert any("stored as self.key in Stream.__init__()" in n for n in notes)
    assert any("passed as key to Stream.__init__()" in n for n in notes)
    assert any(p[-1].flow is Flow.TEXT and text(an, p[-1].node) == "ctx" for p in iter_paths(an.provenance(sink)))


def test_dataclass_fields_bind_constructor_arguments() -> None:
    an = analyse(
        """
        from dataclasses import dataclass
        @dataclass
        class Entry:
            name: str
            key: str
        def make(ctx):
            return Entry("n", repr(ctx))
        def drop(table, entry):
            del table[entry.key]
        """
    )
    [sink] = an.sinks
    assert any(p[-1].flow is Flow.TEXT and text(an, p[-1].node) == "ctx" for p in iter_paths(an.provenance(sink)))


def test_comprehension_targets_and_self_attributes_across_methods() -> None:
    an = analyse(
        """
        class C:
            def __init__(self, ctx):
                self.key = "%s" % (ctx,)
            def drop(self, m):
                m.pop(self.key)
                return {str(c): 1 for c in self.items}["x"]
        """
    )
    pop = an.sinks[0]
    assert any(s.op == "percent" for p in iter_paths(an.provenance(pop)) for s in p)


def test_type_of_annotations_factories_and_module_classes() -> None:
    an = analyse(
        """
        import asyncio
        from grpc import aio
        class Local: ...
        def f(m, ctx: aio.ServicerContext, loc: Local):
            t = asyncio.timeout(1)
            m[ctx]; m[t]; m[loc]; m[Local()]
        """
    )
    types = [an.type_of(an.provenance(s)) for s in an.sinks]
    assert types == ["grpc.aio.ServicerContext", "asyncio.Timeout", "Local", "Local"]


def test_unstable_text_facts() -> None:
    an = analyse(
        """
        import time
        class Clock:
            def __repr__(self):
                return f"{time.time()}"
        class Counter:
            def __init__(self):
                self.n = 0
            def bump(self):
                self.n += 1
            def __str__(self):
                return self._show()
            def _show(self):
                return str(self.n)
        class Point:
            def __init__(self, x):
                self.x = x
            def __repr__(self):
                return f"P({self.x})"
        """
    )
    assert "reads the clock" in (an.text_is_unstable(an.classes["Clock"]) or "")
    assert "self.n" in (an.text_is_unstable(an.classes["Counter"]) or "")
    assert an.text_is_unstable(an.classes["Point"]) is None


def test_sanitizers_stop_the_walk_and_bounds_hold() -> None:
    an = analyse("def f(m, ctx):\n    m[stable_key(str(ctx))]\n", Settings(sanitizers=("stable_key",)))
    root = an.provenance(an.sinks[0])
    assert root.op == "sanitizer" and root.children == []
    # A self-referencing chain of a thousand assignments stays bounded.
    body = "\n".join(f"    k{i} = k{i - 1} + 'x'" for i in range(1, 1000))
    big = analyse(f"def f(m, k0):\n{body}\n    m[k999]\n")
    steps = sum(1 for _ in iter_paths(big.provenance(big.sinks[0])))
    assert 0 < steps <= 2000
    assert any(isinstance(p[-1], Step) and p[-1].truncated for p in iter_paths(big.provenance(big.sinks[0])))


def _collected_summary(out: object) -> object:
    from keylint.keyflow.collect import Collected

    assert isinstance(out, Collected)
    scopes = [out.module_scope] + [f.scope for f in out.functions]
    binds = [(n, b.kind, b.stmt.index, b.stmt.blocks, b.stmt.loops) for s in scopes for n, bs in sorted(s.bindings.items()) for b in bs]
    return (
        [(op, w.stmt.index, len(w.env)) for _, _, op, w in out.subscripts],
        [(w.stmt.index, len(w.env)) for _, w in out.calls],
        sorted((k, len(v)) for k, v in out.attr_stores.items()),
        binds,
        [(f.name, sorted(f.self_writes), sorted(f.self_reads), f.reads_time, len(f.returns)) for f in out.functions],
    )


def test_fast_walker_matches_libcst_visit_order() -> None:
    """keyflow walks the tree itself (libcst's visit rebuilds every node); it must see the same
    nodes in the same order as a libcst visitor, statement numbering included."""
    from pathlib import Path

    from keylint.keyflow.collect import Collector, collect

    source = textwrap.dedent(
        """
        import functools, time
        @functools.lru_cache(maxsize=cache_size(1))
        def f(a, /, b=g(1), *args, c=h(2), **kw) -> r(3):
            try:
                x = m[a]
            except E(x) as err:
                m[err] = 1
            else:
                y = [m[i] for i in range(3) if m.get(i)]
            finally:
                del m[b]
            match a:
                case [p, *rest] if m[p]:
                    m.pop(p)
            return lambda q: m[q]
        class C(Base(1), metaclass=M(2)):
            z: int = k()
            @property
            def p(self):
                self.n += time.time()
                return {k: v for k, v in self.d.items()}
        """
    )
    fixtures = Path(__file__).resolve().parent / "fixtures"
    for text in (source, (fixtures / "leaky_watcher.py").read_text(), (fixtures / "stable_watcher.py").read_text()):
        module = cst.parse_module(text)
        reference = Collector()
        module.visit(reference)
        assert _collected_summary(collect(module)) == _collected_summary(reference.out)
