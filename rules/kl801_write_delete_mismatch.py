"""KL801 write-delete-mismatch: one mapping written under one derivation of a key and read or deleted
under another (`f"{user}:{token}"` vs `token`, `name.lower()` vs `name`, a tuple vs a string)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from keylint.keyflow import ModuleAnalysis, Sink, Step
from keylint.keyflow.uses import unseen_changes
from keylint.rule import Finding, Invalid, Rule, Valid

_NORMALISERS = frozenset({".lower", ".upper", ".casefold", ".strip", ".lstrip", ".rstrip", ".title", ".capitalize",
                          "os.path.normcase", "os.path.normpath", "os.path.abspath", "os.path.realpath",
                          "unicodedata.normalize", "posixpath.normpath", "ntpath.normcase", "ntpath.normpath"})
_MAX_DEPTH = 12
_PERCENT = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
_BRACES = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class Shape:
    """How a key is derived: `leaf` (a variable, by name), `text` (formatted/joined, with its literal
    template), `tuple`, `norm` (a normaliser such as `.lower()` applied), `lit`, or `opaque` (unknown)."""

    kind: str
    name: str = ""  # leaf: the variable; text: the template; norm: the normaliser; lit: the literal
    parts: tuple[Shape, ...] = ()

    def leaves(self) -> frozenset[str]:
        if self.kind == "leaf":
            return frozenset({self.name})
        found: frozenset[str] = frozenset()
        for part in self.parts:
            found |= part.leaves()
        return found

    @property
    def structured(self) -> bool:
        return self.kind in ("text", "tuple", "norm")


OPAQUE = Shape("opaque")


class WriteDeleteMismatch(Rule):
    code = "KL801"
    name = "write-delete-mismatch"
    summary = "A mapping is written under one derivation of a key and read or deleted under another"
    what = (
        "Checks mappings that are module globals or `self` attributes for a lookup, `in` test or delete "
        "whose key is derived differently from every key the mapping is written under, while sharing a "
        "variable with one of them: stored under `f\"{user}:{token}\"` but popped by `token`; stored "
        "normalised (`key.lower()`, `os.path.normcase(p)`) but deleted raw; stored as a tuple `(a, b)` but "
        "read as the string `f\"{a}:{b}\"`. Keys are compared by their derivation (formatting template, "
        "tuple shape, normalisers, variable names) across methods and helper functions. Not reported "
        "when some write could produce the same key, or when the mapping is also filled in ways the "
        "module does not show (`update()`, passed to other code)."
    )
    why = (
        "A key that is built one way when the entry is stored and another way when it is removed never "
        "matches: the delete removes nothing (or raises `KeyError` far from the cause), the lookup misses, "
        "and the mapping keeps every entry for the life of the process. This is the generic form of the "
        "etcd watcher leak: the stream was stored under one rendering of the context and deleted under "
        "another. Derive the key in one helper and use it for every write, lookup and delete, or store the "
        "key with the entry and delete under the stored key."
    )
    example = '''\
class Sessions:
    def __init__(self):
        self._live = {}

    def login(self, user, token, session):
        self._live[f"{user}:{token}"] = session

    def logout(self, token):
        self._live.pop(token, None)  # never matches "user:token": sessions pile up
'''
    use_instead = '''\
class Sessions:
    def __init__(self):
        self._live = {}

    @staticmethod
    def _key(user, token):
        return f"{user}:{token}"

    def login(self, user, token, session):
        self._live[self._key(user, token)] = session

    def logout(self, user, token):
        self._live.pop(self._key(user, token), None)
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('class Sessions:\n    def __init__(self):\n        self._live = {}\n\n    def _key(self, user, token):\n        return f"{user}:{token}"\n\n    def login(self, user, token, s):\n        self._live[self._key(user, token)] = s\n\n    def logout(self, user, token):\n        self._live.pop(self._key(user, token), None)\n', "one helper for both"),
        Valid('users = {}\n\ndef add(name, user):\n    users[name.lower()] = user\n\ndef remove(name):\n    users.pop(name.lower(), None)\n', "normalised on both sides"),
        Valid('users = {}\n\ndef add(name, user):\n    users[name.lower()] = user\n\ndef remove(name):\n    name = name.lower()\n    del users[name]\n', "normalised into the same variable first"),
        Valid('class Pool:\n    def __init__(self):\n        self._conns = {}\n\n    def put(self, host, port, conn):\n        self._conns[(host, port)] = conn\n\n    def take(self, host, port):\n        return self._conns.pop((host, port), None)\n', "the same tuple"),
        Valid('index = {}\n\ndef add(user, token, s):\n    index[f"{user}:{token}"] = s\n    index[token] = s\n\ndef drop(token):\n    index.pop(token, None)\n', "also written under the raw token"),
        Valid('class Stream:\n    pass\n\nstreams = {}\n\ndef open_stream(ctx):\n    s = Stream()\n    s.key = tuple(sorted(ctx.items()))\n    streams[s.key] = s\n    return s\n\ndef close(s):\n    del streams[s.key]\n', "deleted under the stored key"),
        Valid('cache = {}\n\ndef put(key, value):\n    cache[key] = value\n\ndef get(key):\n    return cache.get(key)\n', "plain keys"),
        Valid('class Registry:\n    def __init__(self):\n        self._items = {}\n\n    def add(self, kind, name, item):\n        self._items[f"{kind}/{name}"] = item\n\n    def remove(self, path):\n        self._items.pop(path)\n', "a different variable: may hold the full key"),
        Valid('class Table:\n    def __init__(self):\n        self._rows = {}\n\n    def load(self, rows):\n        self._rows.update(rows)\n\n    def add(self, a, b, row):\n        self._rows[(a, b)] = row\n\n    def get(self, a):\n        return self._rows.get(a)\n', "also filled by update(): other key shapes possible"),
        Valid('counts = {}\n\ndef hit(user, day):\n    k = f"{user}:{day}"\n    counts[k] = counts.get(k, 0) + 1\n', "same variable for both"),
        Valid('seen = set()\n\ndef mark(path):\n    seen.add(path.lower())\n\ndef check(path):\n    return path.lower() in seen\n', "a set, normalised on both sides"),
        Valid('class Cache:\n    def __init__(self):\n        self._d = {}\n\n    def set(self, ns, key, v):\n        self._d[f"{ns}:{key}"] = v\n\n    def get_raw(self, full_key):\n        return self._d.get(full_key)\n', "the read takes an already built key"),
        Valid('import os\n\nby_file = {}\n\ndef find(path):\n    if path in by_file:\n        return by_file[path]\n    norm = os.path.normcase(os.path.abspath(path))\n    if norm in by_file:\n        return by_file[norm]\n    by_file[os.path.normcase(os.path.abspath(path))] = path\n', "a raw fast path, then the normalised lookup (inspect.getmodule)"),
        Valid('import logging\n\nclass Locks:\n    def __init__(self):\n        self._held = {}\n\n    def acquire(self, name, owner):\n        self._held[name] = owner\n        logging.info("%s:%s", name, owner)\n\n    def release(self, name):\n        del self._held[name]\n', "the composite text is only logged"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('class Sessions:\n    def __init__(self):\n        self._live = {}\n\n    def login(self, user, token, s):\n        self._live[f"{user}:{token}"] = s\n\n    def logout(self, token):\n        self._live.pop(token, None)\n', line=9, column=9),
        Invalid('users = {}\n\ndef add(name, user):\n    users[name.lower()] = user\n\ndef remove(name):\n    del users[name]\n', line=7),
        Invalid('class Pool:\n    def __init__(self):\n        self._conns = {}\n\n    def put(self, host, port, conn):\n        self._conns[(host, port)] = conn\n\n    def take(self, host, port):\n        return self._conns.pop(f"{host}:{port}", None)\n', line=9, note="tuple vs string"),
        Invalid('streams = {}\n\ndef watch(user, key, s):\n    streams["%s/%s" % (user, key)] = s\n\ndef cancel(key):\n    if key in streams:\n        del streams[key]\n', line=7),
        Invalid('import os\n\nclass Files:\n    def __init__(self):\n        self._open = {}\n\n    def track(self, path, f):\n        self._open[os.path.normcase(path)] = f\n\n    def untrack(self, path):\n        self._open.pop(path, None)\n', line=11),
        Invalid('class Subs:\n    def __init__(self):\n        self._by_topic = {}\n\n    def _key(self, tenant, topic):\n        return f"{tenant}.{topic}"\n\n    def subscribe(self, tenant, topic, cb):\n        self._by_topic[self._key(tenant, topic)] = cb\n\n    def unsubscribe(self, topic):\n        del self._by_topic[topic]\n', line=12, note="through a helper"),
        Invalid('registry = {}\n\ndef register(kind, name, obj):\n    registry[(kind, name)] = obj\n\ndef lookup(name):\n    return registry[name]\n', line=7, note="tuple vs one of its items"),
        Invalid('class Users:\n    def __init__(self):\n        self._by_email = {}\n\n    def add(self, email, user):\n        self._by_email[email.strip().lower()] = user\n\n    def get(self, email):\n        return self._by_email.get(email)\n', line=9),
        Invalid('pending = {}\n\ndef start(job_id, attempt, fut):\n    pending[f"{job_id}-{attempt}"] = fut\n\ndef done(job_id, attempt):\n    pending.pop(f"{job_id}:{attempt}")\n', line=7, note="different separator"),
        Invalid('tags = set()\n\ndef tag(user, label):\n    tags.add(":".join((user, label)))\n\ndef untag(user, label):\n    tags.discard((user, label))\n', line=7, note="joined string vs tuple"),
        Invalid('class Cache:\n    def __init__(self):\n        self._d = {}\n\n    def put(self, name, v):\n        key = name.upper()\n        self._d[key] = v\n\n    def evict(self, name):\n        key = name.lower()\n        self._d.pop(key, None)\n', line=11, note="different normalisers"),
        Invalid('leases = {}\n\ndef grant(client, lease_id, lease):\n    leases[f"lease:{lease_id}"] = lease\n\ndef revoke(lease_id):\n    leases.pop(lease_id, None)\n', line=7, note="prefix template vs the bare id"),
        Invalid('class Watchers:\n    def __init__(self):\n        self._w = {}\n\n    def add(self, key, rev, w):\n        self._w[(key, rev)] = w\n\n    def remove(self, key, rev):\n        self._w.pop((rev, key), None)\n', line=9, note="tuple items swapped"),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        groups: dict[str, list[Sink]] = {}
        for sink in analysis.sinks:
            if sink.mapping_id is not None and sink.kind in ("subscript", "contains", "mapping-method"):
                groups.setdefault(sink.mapping_id, []).append(sink)
        shown: set[int] | None = None
        for mapping_id, sinks in groups.items():
            writes = [s for s in sinks if s.operation == "write"]
            others = [s for s in sinks if s.operation != "write"]
            if not writes or not others:
                continue
            written = [(w, shape_of(analysis.provenance(w))) for w in writes]
            if all(not shape.structured for _, shape in written):
                continue  # every write is a plain variable or unknown: nothing to compare against
            if shown is None:
                shown = {id(s.mapping) for s in analysis.sinks if s.mapping is not None}
            if unseen_changes(analysis, mapping_id, shown):
                continue
            for sink in others:
                if _has_fallback(sink, others, written, analysis):
                    continue  # a raw probe with a normalised retry in the same function
                finding = self._judge(sink, written, analysis)
                if finding is not None:
                    yield finding

    def _judge(self, sink: Sink, written: list[tuple[Sink, Shape]], analysis: ModuleAnalysis) -> Finding | None:
        shape = shape_of(analysis.provenance(sink))
        if shape.kind == "opaque":
            return None
        culprit: tuple[Sink, Shape, str] | None = None
        for write, write_shape in written:
            why = mismatch(write_shape, shape)
            if why is None:
                if compatible(write_shape, shape):
                    return None
                continue
            if culprit is None:
                culprit = (write, write_shape, why)
        if culprit is None:
            return None
        write, written_shape, why = culprit
        fn = write.where.scope.function
        place = f" in `{fn.qualname}()`" if fn is not None else ""
        stored, used = _shown(write.key, written_shape, analysis), _shown(sink.key, shape, analysis)
        verb = {"delete": "deleted", "read": "looked up"}[sink.operation] if sink.kind != "contains" else "tested"
        if sink.kind == "contains":
            follows = "this test is always false"
        elif sink.operation == "delete":
            follows = "this delete never removes the entry, and `" + sink.mapping_label + "` keeps growing"
        else:
            follows = "this lookup never finds the entry"
        message = f"`{sink.mapping_label}` is written under `{stored}`{place} but {verb} by `{used}` here ({why}): {follows}"
        chain = [(write.key, f"written under `{stored}`"), (sink.key, f"{verb} by `{used}`")]
        return Finding(node=sink.node, message=message, source=write.key, chain=chain, statement=sink.statement)


def _has_fallback(sink: Sink, others: list[Sink], written: list[tuple[Sink, Shape]], analysis: ModuleAnalysis) -> bool:
    """The same function also reads the mapping under a derivation some write uses: the mismatching
    access is a fast path tried first (`if raw in m: ...` then `m.get(normalise(raw))`)."""
    for other in others:
        if other is sink or other.where.scope is not sink.where.scope:
            continue
        shape = shape_of(analysis.provenance(other))
        if shape.structured and any(shape == written_shape for _, written_shape in written):
            return True
    return False


def shape_of(step: Step, depth: int = 0, memo: dict[int, Shape] | None = None) -> Shape:
    """The derivation of a key from its provenance step (shared subtrees are shaped once)."""
    if memo is None:
        memo = {}
    found = memo.get(id(step))
    if found is None:
        found = memo[id(step)] = _shape(step, depth, memo) if depth <= _MAX_DEPTH and not step.truncated else OPAQUE
    return found


def _shape(step: Step, depth: int, memo: dict[int, Shape]) -> Shape:
    op = step.op
    node = step.node
    if op == "param" or (op == "attr" and step.callee):
        return Shape("leaf", step.callee or "")
    if op == "name":
        if not step.children or any(child.op == "param" for child in step.children):
            return Shape("leaf", step.callee or "") if step.callee else OPAQUE
        shapes = {shape_of(child, depth + 1, memo) for child in step.children}
        if len(shapes) == 1:
            only = next(iter(shapes))
            return only if only.kind != "opaque" else Shape("leaf", step.callee or "")
        return OPAQUE
    if op == "literal":
        return Shape("lit", _code(node))
    if op == "fstring" and isinstance(node, cst.FormattedString):
        template = "".join(p.value if isinstance(p, cst.FormattedStringText) else "{}" for p in node.parts)
        return _text(template, [shape_of(c, depth + 1, memo) for c in step.children])
    if op == "percent" and isinstance(node, cst.BinaryOperation):
        percent = _string(node.left)
        if percent is None:
            return OPAQUE
        return _text(_PERCENT.sub(lambda m: "%" if m.group() == "%%" else "{}", percent), [shape_of(c, depth + 1, memo) for c in step.children])
    if op == "format":
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):  # "...".format(...)
            braces = _string(node.func.value)
            if braces is None:
                return OPAQUE
            return _text(_BRACES.sub("{}", braces), [shape_of(c, depth + 1, memo) for c in step.children])
        return shape_of(step.children[0], depth + 1, memo) if len(step.children) == 1 else OPAQUE  # str(x): same name
    if op == "join" and isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and step.children:
        separator = _string(node.func.value)
        items = step.children[0]
        if separator is None or items.op != "collection":
            return OPAQUE
        parts = [shape_of(c, depth + 1, memo) for c in items.children]
        return _text(separator.join("{}" for _ in parts), parts)
    if op == "concat":
        parts = [shape_of(c, depth + 1, memo) for c in step.children]
        if not any(p.kind == "lit" or p.kind == "text" for p in parts):
            return OPAQUE  # numbers or lists, maybe: `i + 1` is not text
        return _flatten_concat(parts)
    if op == "collection" and isinstance(node, cst.Tuple):
        return Shape("tuple", parts=tuple(shape_of(c, depth + 1, memo) for c in step.children))
    if op in ("method", "call") and step.callee in _NORMALISERS and step.children:
        if op == "call" and step.function is not None:
            return OPAQUE
        inner = step.children[0] if op == "method" else next((c for c in step.children if c.flow.value == "derive"), None)
        if step.callee == "unicodedata.normalize" and len(step.children) > 1:
            inner = step.children[1]
        return Shape("norm", step.callee or "", (shape_of(inner, depth + 1, memo),)) if inner is not None else OPAQUE
    if op == "call" and step.function is not None and step.children:
        shapes = {shape_of(child, depth + 1, memo) for child in step.children}
        return next(iter(shapes)) if len(shapes) == 1 else OPAQUE
    return OPAQUE


def _text(template: str, parts: list[Shape]) -> Shape:
    if template == "{}" and len(parts) == 1:
        return parts[0]  # f"{x}": the same text as str(x)
    if any(p.kind == "opaque" for p in parts):
        return OPAQUE
    return Shape("text", template, tuple(parts))


def _flatten_concat(parts: list[Shape]) -> Shape:
    template = ""
    leaves: list[Shape] = []
    for part in parts:
        if part.kind == "lit":
            template += part.name
        elif part.kind == "text":
            template += part.name
            leaves.extend(part.parts)
        elif part.kind == "opaque":
            return OPAQUE
        else:
            template += "{}"
            leaves.append(part)
    return _text(template, leaves)


def mismatch(write: Shape, read: Shape) -> str | None:
    """Why two derivations of the same logical key cannot give equal keys, or None."""
    for a, b, swapped in ((write, read, False), (read, write, True)):
        if b.kind == "leaf" and a.kind in ("text", "tuple") and b.name in a.leaves():
            what = "a string built from it" if a.kind == "text" else "a tuple containing it"
            return f"`{b.name}` alone is only part of {what}" if not swapped else f"stored by `{b.name}` alone, looked up by {what}"
        if b.kind == "leaf" and a.kind == "norm" and a.leaves() == {b.name}:
            return f"stored {_normalised(a)}, used raw" if not swapped else f"stored raw, used {_normalised(a)}"
    if write.kind == "norm" and read.kind == "norm" and write.leaves() == read.leaves() and write.name != read.name:
        return f"stored {_normalised(write)}, used {_normalised(read)}"
    if {write.kind, read.kind} == {"tuple", "text"} and write.leaves() & read.leaves():
        return "a tuple never equals a string"
    if write.kind == read.kind and write.kind in ("text", "tuple") and write != read \
            and sorted(_leaf_names(write)) == sorted(_leaf_names(read)) and write.leaves():
        return "the same values in a different order" if write.name == read.name else "a different template for the same values"
    return None


def compatible(write: Shape, read: Shape) -> bool:
    """Whether the two derivations could give equal keys (unknown counts as could)."""
    if write == read or "opaque" in (write.kind, read.kind):
        return True
    if read.kind == "leaf" and read.name not in write.leaves():
        return True
    if write.kind == "leaf" and write.name not in read.leaves():
        return True
    if write.kind == read.kind == "text":
        return write.name == read.name
    if write.kind == read.kind == "tuple":
        return len(write.parts) == len(read.parts) and all(compatible(w, r) for w, r in zip(write.parts, read.parts))
    if write.kind == read.kind == "norm":
        return write.name == read.name and compatible(write.parts[0], read.parts[0])
    return False


def _shown(key: cst.BaseExpression, shape: Shape, analysis: ModuleAnalysis) -> str:
    """The key's source text, with its derivation when the text is just a variable holding it."""
    text = analysis.label(key, 40)
    if isinstance(key, cst.Name) and shape.structured:
        return f"{text}` = `{describe(shape)}"
    return text


def describe(shape: Shape) -> str:
    if shape.kind in ("leaf", "lit"):
        return shape.name if shape.kind == "leaf" else repr(shape.name)
    if shape.kind == "tuple":
        inner = ", ".join(describe(p) for p in shape.parts)
        return f"({inner},)" if len(shape.parts) == 1 else f"({inner})"
    if shape.kind == "norm":
        inner = describe(shape.parts[0])
        return f"{inner}{shape.name}()" if shape.name.startswith(".") else f"{shape.name}({inner})"
    if shape.kind == "text":
        pieces = shape.name.split("{}")
        out = pieces[0]
        for part, piece in zip(shape.parts, pieces[1:]):
            out += "{" + describe(part) + "}" + piece
        return f'f"{out}"'
    return "?"


def _leaf_names(shape: Shape) -> list[str]:
    if shape.kind == "leaf":
        return [shape.name]
    return [name for part in shape.parts for name in _leaf_names(part)]


def _normalised(shape: Shape) -> str:
    return f"normalised with `{shape.name.lstrip('.')}()`"


def _string(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _code(node: cst.CSTNode) -> str:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else repr(value)
    return cst.Module(body=[]).code_for_node(node)
