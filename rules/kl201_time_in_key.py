"""KL201 time-in-key: the current time reaching a key or a cached function's argument."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import ClassVar

import libcst as cst

from keylint.keyflow import ModuleAnalysis, Sink, Step, iter_paths
from keylint.keyflow.paths import identifier
from keylint.keyflow.sources import DEADLINE_NAMES, is_clock_call, name_matches
from keylint.keyflow.timeflow import spec_is_bucket, time_reaches
from keylint.rule import Finding, Invalid, Rule, Valid


class TimeInKey(Rule):
    code = "KL201"
    name = "time-in-key"
    summary = "The current time (`datetime.now()`, `time.time()`, `loop.time()`) is used in a key"
    what = (
        "Checks for keys built from a clock read: `datetime.now()`/`utcnow()`/`today()`, "
        "`date.today()` in unbounded caches, `time.time()`/`time_ns()`/`monotonic()`/`perf_counter()`, "
        "and `loop.time()`, reaching a subscript, an `in` test, a mapping method, a cache client call or "
        "an argument of a `functools.lru_cache`/`cache`-decorated function, through variables, "
        "formatting, arithmetic and helper functions. Deliberate buckets are not reported: floor "
        "division (`int(time.time() // 60)`), `round()`, `.replace(second=0, microsecond=0)`, `.date()`, "
        "date-only `strftime`/format specs and truncated ISO text."
    )
    why = (
        "A clock value is different on every call, so a key containing it never matches an earlier "
        "one: every lookup misses, every write adds an entry, and a cache keyed this way is a leak with "
        "a hit rate of zero. `lru_cache` on a function called with `time.time()` keeps `maxsize` useless "
        "entries; a dict keyed by timestamps grows until the process dies. If entries should expire, "
        "key by a coarse bucket (or use a TTL cache) and keep the time as a value."
    )
    example = '''\
import functools
import time

@functools.lru_cache(maxsize=1024)
def exchange_rates(currency, as_of):
    return fetch_rates(currency, as_of)

def price(amount, currency):
    return amount * exchange_rates(currency, time.time())[currency]  # never a hit
'''
    use_instead = '''\
import functools
import time

@functools.lru_cache(maxsize=1024)
def exchange_rates(currency, minute):
    return fetch_rates(currency, minute * 60)

def price(amount, currency):
    return amount * exchange_rates(currency, int(time.time() // 60))[currency]  # one entry per minute
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('import datetime\n\ndef check(form):\n    now = datetime.datetime.now()\n    for name, expected in [("created", now), ("updated", now)]:\n        assert form[name].value() == expected\n', "the loop's key is the other element of each tuple"),
        Valid('import collections\nimport time\n\nclass TimeKeeper:\n    def __init__(self):\n        self.records = collections.defaultdict(list)\n\n    def timed(self, name):\n        start = time.perf_counter()\n        self.records[name].append(time.perf_counter() - start)\n', "a duration appended to a list (`records` is not a Redis client)"),
        Valid('from time import time\nfrom django.core.cache import cache\n\ndef invalidate(tables):\n    now = time()\n    cache.set_many({f"table:{t}": now for t in tables}, 3600)\n', "time stored as the value of each key in `set_many`"),
        Valid('import time\n\nclass MongoStore:\n    def clear_expired(self):\n        now = time.time()\n        self.db.cache.delete_many({"ns": "x", "expiration": {"$lte": now}})\n', "time in a query filter's values, not in a key"),
        Valid('import time\nimport functools\n\n@functools.lru_cache(maxsize=64)\ndef rates(minute):\n    return {}\n\ndef now_rates():\n    return rates(int(time.time() // 60))\n', "floor-division bucket"),
        Valid('from datetime import datetime\n\ncache = {}\n\ndef hourly(user):\n    hour = datetime.now().replace(minute=0, second=0, microsecond=0)\n    return cache.get((user, hour))\n', "replace() truncation"),
        Valid('from datetime import datetime\n\nreports = {}\n\ndef daily(user):\n    return reports.get((user, datetime.now().date()))\n', "date-only value"),
        Valid('import time\n\nseen = {}\n\ndef touch(key):\n    seen[key] = time.time()\n', "time stored as a value"),
        Valid('import time\n\nclass Session:\n    def __init__(self):\n        self.started = time.monotonic()\n        self.by_user = {}\n\n    def add(self, user):\n        self.by_user[user] = self.started\n', "time as a value in a dict"),
        Valid('from datetime import datetime\n\ncache = {}\n\ndef daily_key(user):\n    return cache.get(f"{user}:{datetime.now():%Y-%m-%d}")\n', "date-only format spec"),
        Valid('import time\n\nbuckets = {}\n\ndef count():\n    minute = round(time.time() / 60)\n    buckets[minute] = buckets.get(minute, 0) + 1\n', "rounded bucket"),
        Valid('import time\nimport logging\n\ndef handle(key):\n    logging.info("at %s handled %s", time.time(), key)\n', "time in a log line"),
        Valid('from datetime import datetime\n\nby_day = {}\n\ndef log(event):\n    by_day.setdefault(datetime.now().strftime("%Y-%m-%d"), []).append(event)\n', "date-only strftime"),
        Valid('import time\n\nclass Cache:\n    def __init__(self):\n        self.key = "v1:" + str(int(time.time()))\n        self.data = {}\n\n    def get(self, name):\n        return self.data.get(name)\n', "time computed once, not in the key"),
        Valid('from datetime import datetime\n\nmonthly = {}\n\ndef bump():\n    now = datetime.now()\n    monthly[(now.year, now.month)] = 1\n', "year/month buckets"),
        Valid('from datetime import datetime\n\ncache = {}\n\ndef day_key(user):\n    return cache.get((user, datetime.now().isoformat()[:10]))\n', "truncated ISO date"),
        Valid('import time\n\ndeadlines = {}\n\ndef schedule(job):\n    deadlines[job.name] = time.monotonic() + 30\n', "deadline as the value"),
        Valid('import datetime\n\nclass SelfCheckState:\n    def __init__(self):\n        self.state = {}\n\n    def get(self, current_time):\n        return self.state.get("last_check")\n\ndef check():\n    state = SelfCheckState()\n    return state.get(datetime.datetime.now())\n', "a module class\'s own get() method, not a mapping"),
        Valid('import datetime\n\nDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")\n\ndef today_name():\n    return DAYS[datetime.datetime.utcnow().weekday()]\n', "a constant table indexed by weekday"),
        Valid('import time\n\nnames = {0: "Mon", 1: "Tue"}\n\ndef stamp():\n    year, month, day, hh, mm, ss, wd, yd, dst = time.gmtime(time.time())\n    return names.get(wd)\n', "a field of a time tuple"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import time\n\nseen = {}\n\ndef record(events):\n    now = time.time()\n    for event, stamp in [("start", now), ("end", now)]:\n        seen[stamp] = event\n', line=8, note="the loop variable that holds the time is the key"),
        Invalid('import time\nfrom django.core.cache import cache\n\ndef mark(users):\n    now = time.time()\n    cache.set_many({f"seen:{u}:{now}": 1 for u in users})\n', line=6, note="time in the dict's keys"),
        Invalid('import functools\nimport time\n\n@functools.lru_cache(maxsize=1024)\ndef rates(currency, as_of):\n    return {}\n\ndef price(currency):\n    return rates(currency, time.time())\n', line=9),
        Invalid('from datetime import datetime\n\ncache = {}\n\ndef lookup(user):\n    return cache.get(f"{user}:{datetime.now()}")\n', line=6),
        Invalid('import time\n\nseen = {}\n\ndef mark(event):\n    seen[(event, time.time())] = True\n', line=6),
        Invalid('import datetime\n\ncache = {}\n\ndef key_for(user):\n    return f"{user}-{datetime.datetime.utcnow().isoformat()}"\n\ndef get(user):\n    return cache[key_for(user)]\n', line=9),
        Invalid('import asyncio\n\npending = {}\n\nasync def submit(job):\n    loop = asyncio.get_running_loop()\n    pending[loop.time()] = job\n', line=7),
        Invalid('import time\n\nclass Tracker:\n    def __init__(self):\n        self._open = {}\n\n    def start(self, name):\n        self._open[name + str(time.perf_counter())] = True\n', line=8),
        Invalid('import redis\nimport time\n\nr = redis.Redis()\n\ndef remember(user):\n    r.set("seen:%s:%d" % (user, time.time_ns()), 1)\n', line=7),
        Invalid('from datetime import datetime\n\nactive = set()\n\ndef enter(user):\n    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")\n    active.add(f"{user}@{stamp}")\n', line=7),
        Invalid('import time\n\nsessions = {}\n\ndef close(user):\n    sessions.pop("%s-%s" % (user, time.monotonic()), None)\n', line=6),
        Invalid('from datetime import date\nimport functools\n\n@functools.cache\ndef report(day):\n    return []\n\ndef today_report():\n    return report(date.today())\n', line=9, note="date-only but the cache is unbounded"),
        Invalid('import time\n\ncache = {}\n\ndef stale(key):\n    t = time.time()\n    k = "|".join([key, repr(t)])\n    return k in cache\n', line=8),
        Invalid('from django.core.cache import cache\nfrom django.utils import timezone\n\ndef visit(user):\n    cache.set(f"visit:{user}:{timezone.now()}", 1)\n', line=5),
        Invalid('import time\n\nclass Limiter:\n    def __init__(self):\n        self.hits = {}\n\n    def _window(self):\n        return time.time() - 1.5\n\n    def hit(self, user):\n        self.hits[(user, self._window())] = 1\n', line=11),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        if sink.kind == "filename":
            return
        unbounded = sink.kind == "cached-call" and sink.function is not None and _unbounded_cache(sink)
        configured = any(s.kind == "time" and s.name for s in self.settings.sources)
        if not configured and not any(
            step.op in ("call", "method") and isinstance(step.node, cst.Call) and self._is_clock(step, step.callee or "")
            for step in analysis.steps(sink)
        ):
            return
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            step = path[-1]
            if self._configured_name(step):
                if time_reaches(path):
                    shown = analysis.label(step.node, 40)
                    yield self.finding(sink, path, f"`{shown}` is a time value (configured source), so the key differs on every call: {self.consequence(sink)}")
                    return
                continue
            if step.op not in ("call", "method") or not isinstance(step.node, cst.Call):
                continue
            callee = step.callee or ""
            if not self._is_clock(step, callee):
                continue
            if callee in _DATE_RETURNING and not unbounded:
                continue
            if not time_reaches(path) or _through_deadline(path) or _dict_value_of_key(path) \
                    or _other_loop_element(path, analysis):
                continue
            shown = analysis.label(step.node, 40)
            yield self.finding(sink, path, f"`{shown}` reads the clock, so the key differs on every call: {self.consequence(sink)}")
            return

    def _configured_name(self, step: Step) -> bool:
        name = identifier(step)
        if name is None or step.op == "self":
            return False
        patterns = [s.name for s in self.settings.sources if s.kind == "time" and s.name]
        return bool(patterns) and name_matches(name, patterns) and not any(c.flow.value == "value" for c in step.children)

    def _is_clock(self, step: Step, callee: str) -> bool:
        node = step.node
        assert isinstance(node, cst.Call)
        if callee == "time.strftime":
            return len(node.args) == 1 and not spec_is_bucket(_literal(node.args[0].value))
        if is_clock_call(node, callee if step.op == "call" else None):
            return True
        return any(s.kind == "time" and s.function and (s.function == callee or s.function.rsplit(".", 1)[-1] == callee.lstrip(".").rsplit(".", 1)[-1])
                   for s in self.settings.sources)



_DATE_RETURNING = frozenset({"datetime.date.today"})


def _through_deadline(path: Sequence[Step]) -> bool:
    """The clock reaches the key as a deadline or remaining time: KL102 reports that."""
    return any((name := identifier(step)) is not None and name_matches(name, DEADLINE_NAMES) for step in path[1:-1])


_PASS_THROUGH = frozenset({"name", "walrus", "await", "choice"})


def _dict_value_of_key(path: Sequence[Step]) -> bool:
    """The clock is a value of a dict that is itself the key argument (`cache.set_many({k: now})`, a
    Mongo filter passed to `delete_many`): only the dict's keys are used as keys, the values are stored.
    A dict turned into text (`json.dumps`, f-strings) on the way is not this case: its values are in the text."""
    for step, child in pairwise(path):
        if step.op in ("collection", "comprehension"):
            return child.note in ("dict value", "comprehension value")
        if step.op not in _PASS_THROUGH:
            return False
    return False


def _other_loop_element(path: Sequence[Step], analysis: ModuleAnalysis) -> bool:
    """`for name, expected in [("a", now), ...]`: the loop variable in the key is another position of
    each tuple than the one holding the time (the trace binds every target name to the whole iterable)."""
    for i in range(len(path) - 1):
        step, loop = path[i], path[i + 1]
        if not loop.note.startswith("loop variable ") or not isinstance(step.node, cst.Name):
            continue
        position = _target_position(loop.node, step.node.value, analysis)
        if position is None:
            return False
        for j in range(i + 1, len(path) - 2):
            inner, element, below = path[j], path[j + 1], path[j + 2]
            if isinstance(inner.node, (cst.List, cst.Tuple, cst.Set)) and isinstance(element.node, cst.Tuple):
                indexes = [k for k, c in enumerate(element.children) if c is below]
                traced_all = len(element.children) == len(element.node.elements)
                return traced_all and indexes != [position]
            if inner.op not in _PASS_THROUGH:
                return False
        return False
    return False


def _target_position(iterable: cst.CSTNode, name: str, analysis: ModuleAnalysis) -> int | None:
    """Where `name` sits in the tuple target of the `for` loop over `iterable`, or None."""
    for node in _for_loops(analysis.module):
        if node.iter is iterable and isinstance(node.target, (cst.Tuple, cst.List)):
            elements = node.target.elements
            names = [e.value.value if isinstance(e.value, cst.Name) else None for e in elements]
            if names.count(name) != 1 or any(isinstance(e, cst.StarredElement) for e in elements):
                return None
            return names.index(name)
    return None


def _for_loops(module: cst.Module) -> list[cst.For]:
    found: list[cst.For] = []

    class _Loops(cst.CSTVisitor):
        def visit_For(self, node: cst.For) -> None:
            found.append(node)

    module.visit(_Loops())
    return found


def _literal(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _unbounded_cache(sink: Sink) -> bool:
    fn = sink.function
    assert fn is not None
    for decorator in fn.node.decorators:
        expr = decorator.decorator
        name = expr.func if isinstance(expr, cst.Call) else expr
        last = name.attr.value if isinstance(name, cst.Attribute) else name.value if isinstance(name, cst.Name) else ""
        if last == "cache":
            return True
        if last == "lru_cache" and isinstance(expr, cst.Call):
            for arg in expr.args:
                if (arg.keyword is None or arg.keyword.value == "maxsize") and isinstance(arg.value, cst.Name) and arg.value.value == "None":
                    return True
    return False
