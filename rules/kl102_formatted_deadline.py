"""KL102 formatted-deadline: a deadline, timeout or remaining time used in a key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import libcst as cst

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.keyflow.paths import identifier, only_literals, text_taken
from keylint.keyflow.sources import (
    DEADLINE_CALLS,
    DEADLINE_NAMES,
    TIMEOUT_NAMES,
    name_matches,
)
from keylint.keyflow.timeflow import time_reaches
from keylint.rule import Finding, Invalid, Rule, Valid


class FormattedDeadline(Rule):
    code = "KL102"
    name = "formatted-deadline"
    summary = "A deadline, timeout or remaining time is used in a key"
    what = (
        "Checks for keys that contain a deadline or the time left before one: `ctx.time_remaining()`, "
        "`timeout_cm.when()`, values named `deadline`, `expires_at`, `expiry`, `remaining`, `ttl_left`, "
        "`time_left` (and `*_deadline`, `*_remaining`), and per-call timeouts (`timeout`, `*_timeout`) "
        "formatted into the key's text. The value may reach the key through variables, formatting, "
        "arithmetic, helper functions and attributes. Constants (`timeout = 30`) and parameters with a "
        "numeric default are not reported, nor are deadlines rounded into buckets."
    )
    why = (
        "A deadline belongs to one call; the time remaining before it shrinks every microsecond. A key "
        "that includes either is different for every caller and every retry, so the entry stored under "
        "it is never found again, and a delete computed later never removes it. etcd's Go client v3.1 "
        "leaked its watch streams exactly this way: the map key was the context's text, which printed "
        "the remaining deadline. Keep deadlines out of keys: key by what identifies the resource, and "
        "pass the deadline alongside as a value."
    )
    example = '''\
class ChannelPool:
    def __init__(self):
        self._channels = {}

    def channel_for(self, target, ctx):
        key = f"{target}|{ctx.time_remaining():.0f}"  # shrinks every call
        if key not in self._channels:
            self._channels[key] = open_channel(target)
        return self._channels[key]
'''
    use_instead = '''\
class ChannelPool:
    def __init__(self):
        self._channels = {}

    def channel_for(self, target, ctx):
        if target not in self._channels:
            self._channels[target] = open_channel(target)
        return self._channels[target]  # the deadline goes with each call instead
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('cache = {}\n\ndef fetch(url, timeout=30):\n    return cache.get(f"{url}:{timeout}")\n', "a timeout parameter with a numeric default"),
        Valid('TIMEOUT = 5\ncache = {}\n\ndef fetch(url):\n    timeout = TIMEOUT\n    return cache.get((url, str(timeout)))\n', "a constant timeout"),
        Valid('pending = {}\n\ndef schedule(job, deadline):\n    pending[job.id] = deadline\n', "deadline stored as the value"),
        Valid('import logging\n\ndef call(ctx):\n    logging.info("remaining %s", ctx.time_remaining())\n', "remaining time in a log line"),
        Valid('class Pool:\n    def __init__(self):\n        self._channels = {}\n\n    def get(self, target, ctx):\n        return self._channels.get(target)\n', "key by target only"),
        Valid('cache = {}\n\ndef lookup(user, timeout):\n    return cache.get(user)\n', "timeout not in the key"),
        Valid('buckets = {}\n\ndef bucket(deadline):\n    return buckets.get(int(deadline // 60))\n', "deadline bucketed by the minute"),
        Valid('sessions = {}\n\ndef open_session(user, expires_at):\n    sessions[user] = {"expires_at": expires_at}\n', "expiry inside the value"),
        Valid('cache = {}\n\ndef get(key, timeout=None):\n    return cache.get(key)\n', "unused timeout"),
        Valid('import asyncio\n\nasync def run(coro, deadline):\n    async with asyncio.timeout_at(deadline):\n        return await coro\n', "deadline used as a deadline"),
        Valid('expiries = {}\n\ndef remember(token, remaining):\n    expiries[token] = remaining\n', "remaining time as a value"),
        Valid('cache = {}\nDEFAULT_TTL = 300\n\ndef put(key, value):\n    ttl = DEFAULT_TTL\n    cache[f"{key}:ttl={ttl}"] = value\n', "a constant ttl"),
        Valid('cache = {}\n\ndef chunk(name, remaining):\n    return cache.get((name, remaining))\n', "remaining items, not remaining time"),
        Valid('by_deadline_kind = {}\n\ndef classify(job):\n    by_deadline_kind[job.kind] = job\n', "a name that only contains the word"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('class Pool:\n    def __init__(self):\n        self._channels = {}\n\n    def get(self, target, ctx):\n        key = f"{target}|{ctx.time_remaining():.0f}"\n        return self._channels.get(key)\n', line=7, column=16),
        Invalid('cache = {}\n\ndef fetch(url, deadline):\n    return cache.get((url, deadline))\n', line=4),
        Invalid('streams = {}\n\ndef close(name, expires_at):\n    del streams[f"{name}:{expires_at}"]\n', line=4),
        Invalid('cache = {}\n\ndef fetch(url, timeout):\n    return cache.get(f"{url}:{timeout}")\n', line=4),
        Invalid('import time\n\ncache = {}\n\ndef lookup(user):\n    deadline = time.monotonic() + 5\n    return cache.get("%s/%s" % (user, deadline))\n', line=7),
        Invalid('class Client:\n    def __init__(self, deadline):\n        self._deadline = deadline\n        self._seen = set()\n\n    def mark(self, key):\n        self._seen.add((key, self._deadline))\n', line=7),
        Invalid('import asyncio\n\nwaiters = {}\n\nasync def wait(name):\n    async with asyncio.timeout(5) as cm:\n        waiters[(name, cm.when())] = True\n', line=7),
        Invalid('import functools\n\n@functools.lru_cache(maxsize=128)\ndef plan(query, remaining):\n    return []\n\ndef run(query, ctx):\n    return plan(query, ctx.time_remaining())\n', line=8),
        Invalid('cache = {}\n\ndef _key(user, ttl_left):\n    return user + ":" + str(ttl_left)\n\ndef get(user, ttl_left):\n    return cache[_key(user, ttl_left)]\n', line=7),
        Invalid('import redis\n\nr = redis.Redis()\n\ndef lock(name, lock_timeout):\n    r.set("lock:{}:{}".format(name, lock_timeout), 1)\n', line=6),
        Invalid('pending = {}\n\ndef cancel(job, time_left):\n    pending.pop(f"{job}-{time_left}", None)\n', line=4),
        Invalid('cache = {}\n\ndef lookup(user, request_deadline):\n    return (user, request_deadline) in cache\n', line=4),
        Invalid('class Ctx:\n    def __init__(self, deadline):\n        self.deadline = deadline\n\nstreams = {}\n\ndef open_stream(ctx: Ctx):\n    streams[str(ctx.deadline)] = ctx\n', line=8),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        if sink.kind == "filename":
            return
        if not any(self._candidate(step) for step in analysis.steps(sink)):
            return
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            if not self._candidate(path[-1]):
                continue
            what = self._deadline(path)
            if what is None or not time_reaches(path):
                continue
            shown = analysis.label(path[-1].node, 40)
            yield self.finding(sink, path, f"`{shown}` is {what}, different for every call, so {self.consequence(sink)}")
            return

    def _candidate(self, step: Step) -> bool:
        """Cheap test: could this step be a deadline at all (by call or by name)?"""
        if step.op in ("call", "method"):
            last = (step.callee or "").rsplit(".", 1)[-1]
            return last in DEADLINE_CALLS or any(s.kind == "deadline" and s.function for s in self.settings.sources)
        name = identifier(step)
        if name is None:
            return False
        configured = [s.name for s in self.settings.sources if s.kind == "deadline" and s.name]
        return name_matches(name, list(DEADLINE_NAMES) + list(TIMEOUT_NAMES) + configured)

    def _deadline(self, path: tuple[Step, ...]) -> str | None:
        step = path[-1]
        if step.op in ("call", "method") and isinstance(step.node, cst.Call):
            callee = step.callee or ""
            last = callee.rsplit(".", 1)[-1]
            if last in DEADLINE_CALLS and not step.node.args:
                return "a deadline or the time left before it"
            if any(s.kind == "deadline" and s.function and (s.function == callee or s.function.rsplit(".", 1)[-1] == last)
                   for s in self.settings.sources):
                return "a deadline (configured source)"
            return None
        name = identifier(step)
        if name is None or step.op == "self":
            return None
        if any(c.flow is Flow.VALUE and c.op in ("param", "name", "attr") for c in step.children):
            return None  # decided where the value comes from (a parameter's default, a stored value)
        if step.children and only_literals(step):
            return None
        configured = [s.name for s in self.settings.sources if s.kind == "deadline" and s.name]
        if name_matches(name, list(DEADLINE_NAMES) + configured):
            return "a deadline or the time left before it"
        if name_matches(name, TIMEOUT_NAMES) and text_taken(path) and not _numeric_default(step):
            return "a per-call timeout formatted into the key"
        return None


def _numeric_default(step: Step) -> bool:
    if step.op != "param" or step.param is None:
        return False
    default = step.param.node.default
    return isinstance(default, (cst.Integer, cst.Float))
