"""KL301/KL302/KL401/KL501 beyond their examples: messages, chains, the lifetime facts behind the
identity rules, configured sinks and sanitizers, and suppression."""

from __future__ import annotations

import textwrap

import libcst as cst

from keylint.engine import check_source
from keylint.keyflow import ModuleAnalysis, lifetime
from keylint.settings import Settings, SinkSpec


def run(code: str, source: str, settings: Settings | None = None) -> list[tuple[int, str]]:
    settings = settings or Settings(select=(code,))
    found = check_source(textwrap.dedent(source), "mod.py", settings)
    return [(d.line, d.message) for d in found if d.code == code]


def test_kl302_reports_the_write_with_a_chain_back_to_id() -> None:
    source = """\
    _cache = {}

    def key_for(obj):
        return ("k", id(obj))

    def put(obj, value):
        _cache[key_for(obj)] = value
    """
    diagnostics = [d for d in check_source(textwrap.dedent(source), "m.py", Settings(select=("KL302",))) if d.code == "KL302"]
    assert [(d.line, d.column) for d in diagnostics] == [(7, 5)]
    d = diagnostics[0]
    assert d.source is not None and (d.source.line, d.source.column) == (4, 18)  # the id(obj) call
    assert "`_cache` is module-level" in d.message and "same id" in d.message and "never removed" in d.message
    assert len(d.chain) >= 2


def test_kl302_lookups_alone_are_not_reported_but_the_write_is() -> None:
    source = """\
    _seen = set()

    def check(obj):
        return id(obj) in _seen

    def mark(obj):
        _seen.add(id(obj))
    """
    assert [line for line, _ in run("KL302", source)] == [7]


def test_kl302_persistent_key_says_the_address_means_nothing_elsewhere() -> None:
    source = """\
    import redis
    r = redis.Redis()

    def seen(job):
        return r.get(f"job:{id(job)}")
    """
    [(line, message)] = run("KL302", source)
    assert line == 5 and "other processes" in message


def _analysis(source: str) -> ModuleAnalysis:
    return ModuleAnalysis(cst.parse_module(textwrap.dedent(source)), Settings())


def test_table_owner_tells_call_local_tables_from_long_lived_ones() -> None:
    an = _analysis("""\
    _glob = {}

    class C:
        def m(self, x):
            self.t[x] = 1

    def local(x):
        t = {}
        t[x] = 1

    def returned(x):
        t = {}
        t[x] = 1
        return t

    def param(x, memo):
        memo[x] = 1

    def use(x):
        _glob[x] = 1

    class PerCall:
        def m(self, x):
            self.u[x] = 1

    c = C()
    """)
    owners = {lifetime.code(s.mapping): lifetime.table_owner(s, an) for s in an.sinks if s.mapping is not None}
    by_function = {s.where.scope.function.name: lifetime.table_owner(s, an) for s in an.sinks if s.where.scope.function}
    assert by_function["local"] is None and by_function["param"] is None
    assert by_function["returned"] is not None and "outlives" in by_function["returned"]
    assert owners["self.t"] == "`self.t` belongs to the module-level `c`" and owners["_glob"] == "`_glob` is module-level"
    assert owners["self.u"] is None  # an instance whose lifetime is not visible in the module


def test_kl301_message_names_the_class_and_the_address() -> None:
    source = """\
    class Job:
        pass

    _results = {}

    def finish(job: Job, value):
        _results[f"job:{job}"] = value
    """
    [(line, message)] = run("KL301", source)
    assert line == 7 and "`Job` (no `__repr__`/`__str__`)" in message and "memory address" in message
    assert "stale entry" in message


def test_kl301_class_gaining_a_repr_is_no_longer_reported() -> None:
    source = """\
    class Job:
        def __init__(self, name):
            self.name = name
    {extra}
    _results = {{}}

    def finish(job: Job, value):
        _results[f"job:{{job}}"] = value
    """
    assert run("KL301", source.format(extra=""))
    assert run("KL301", source.format(extra="\n        def __repr__(self):\n            return self.name\n")) == []


def test_kl401_message_explains_the_salt_and_configured_persistent_sinks_count() -> None:
    source = """\
    def remember(store, url: str, body):
        store.put_page(f"page:{hash(url)}", body)
    """
    assert run("KL401", source) == []  # an unknown method is no key sink
    persistent = Settings(select=("KL401",), sinks=(SinkSpec("put_page", key_arg=0, persistent=True),))
    [(line, message)] = run("KL401", source, persistent)
    assert line == 2 and "PYTHONHASHSEED" in message and "never hit" in message
    in_process = Settings(select=("KL401",), sinks=(SinkSpec("put_page", key_arg=0, persistent=False),))
    assert run("KL401", source, in_process) == []  # one process computes every key: hash() is fine there


def test_kl401_sanitizer_and_noqa_silence_it() -> None:
    source = """\
    import redis
    r = redis.Redis()

    def page_key(url: str):
        return f"page:{hash(url)}"

    def get(url: str):
        return r.get(page_key(url))
    """
    assert run("KL401", source)
    assert run("KL401", source, Settings(select=("KL401",), sanitizers=("page_key",))) == []
    suppressed = source.replace("r.get(page_key(url))", "r.get(page_key(url))  # noqa: KL401")
    assert run("KL401", suppressed) == []


def test_kl501_distinguishes_fixed_dict_displays_from_spread_ones() -> None:
    fixed = """\
    import json
    _cache = {}

    def get(user, page, **extra):
        return _cache.get(json.dumps({"user": user, "page": page}))
    """
    spread = fixed.replace('"page": page}', '"page": page, **extra}')
    assert run("KL501", fixed) == []
    [(line, message)] = run("KL501", spread)
    assert line == 5 and "sort_keys=True" in message and "kwargs" in message


def test_kl501_set_text_in_a_redis_key_mentions_hash_order() -> None:
    source = """\
    import redis
    r = redis.Redis()

    def perms_key(perms: set):
        return r.get("perms:" + str(perms))
    """
    [(line, message)] = run("KL501", source)
    assert line == 5 and "hash order" in message and "another worker" in message
