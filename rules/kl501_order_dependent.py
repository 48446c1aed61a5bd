"""KL501 order-dependent: text of a dict, `**kwargs` or set (whose order varies) used in a key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import libcst as cst

from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.rule import Finding, Invalid, NodeEdit, NodeFix, Rule, Valid

_DUMPERS = frozenset({"json.dumps", "simplejson.dumps", "ujson.dumps", "pickle.dumps", "marshal.dumps", "cPickle.dumps"})
_DIGESTS = frozenset({"hash", "str", "bytes", "zlib.crc32", "zlib.adler32", "base64.b64encode",
                      "base64.urlsafe_b64encode", "binascii.hexlify", "uuid.uuid3", "uuid.uuid5"})
_DIGEST_METHODS = frozenset({"encode", "hexdigest", "digest"})
_SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})
_SET_TYPES = frozenset({"set", "frozenset", "typing.Set", "typing.FrozenSet", "typing.AbstractSet",
                        "collections.abc.Set", "collections.abc.MutableSet", "typing.MutableSet"})
_DICT_TYPES = frozenset({"dict", "typing.Dict", "typing.Mapping", "typing.MutableMapping", "collections.abc.Mapping",
                         "collections.abc.MutableMapping"})
_SET_OPS = frozenset({"|", "&", "-", "^"})

SET = "a set, whose items come out in hash order (different in every process for text, and with the insertion history)"
KWARGS = "`**kwargs`, whose keys come in the order each caller wrote them"
DICT = "a dict, whose keys come in insertion order (the same content built in another order prints differently)"


def unordered(step: Step, analysis: ModuleAnalysis, depth: int = 0) -> str | None:
    """Why the value's iteration order (and so its text) is not a function of its content, or None."""
    if depth > 12:
        return None
    node, op = step.node, step.op
    if op == "collection" and isinstance(node, cst.Set):
        return SET
    if op == "comprehension" and isinstance(node, cst.SetComp):
        return SET
    if op == "comprehension" and isinstance(node, (cst.GeneratorExp, cst.ListComp, cst.DictComp)):
        # in the order of the first iterable: `",".join(f"{k}={v}" for k, v in kwargs.items())`
        return unordered(analysis.trace(node.for_in.iter, step.where), analysis, depth + 1)
    if op == "call" and step.function is None:
        callee = step.callee or ""
        if callee in ("set", "frozenset"):
            return SET
        if callee == "dict" and isinstance(node, cst.Call):
            for arg, child in zip(node.args, step.children):
                if arg.star or arg.keyword is None:
                    found = unordered(child, analysis, depth + 1)
                    if found is not None:
                        return found
            return None
        if callee in ("sorted", "list", "tuple", "len", "enumerate", "zip", "collections.OrderedDict"):
            return None
    if op == "param" and step.param is not None:
        if step.param.star == "**":
            return KWARGS
        annotation = (step.param.annotation or "").rsplit("[", 1)[0]
        if annotation in _SET_TYPES:
            return SET
    if op == "method" and step.children:
        name = (step.callee or "").lstrip(".")
        if name in _SET_METHODS:
            receiver = unordered(step.children[0], analysis, depth + 1)
            return receiver if receiver is not None else (SET if name != "copy" else None)
        if name in ("keys", "values", "items"):
            return unordered(step.children[0], analysis, depth + 1)
        return None
    if op == "binop" and (step.callee or "") in _SET_OPS:
        for child in step.children:
            if unordered(child, analysis, depth + 1) == SET:
                return SET
        return None
    if op == "collection" and isinstance(node, cst.Dict):
        for element, child in zip(_dict_parts(node), step.children):
            if element:
                found = unordered(child, analysis, depth + 1)
                if found is not None:
                    return found
        return None
    if op == "collection" and isinstance(node, (cst.Tuple, cst.List)):
        for child in step.children:
            found = unordered(child, analysis, depth + 1)
            if found is not None:
                return found
        return None
    if op == "name" and _helper_param_annotation(step) in _SET_TYPES:
        return SET
    if op in ("name", "walrus", "await", "choice", "attr", "starred"):
        for child in step.children:
            if child.flow is Flow.VALUE:
                found = unordered(child, analysis, depth + 1)
                if found is not None:
                    return found
    return None


def _helper_param_annotation(step: Step) -> str:
    """A helper's parameter read inside the helper: the trace continues at the caller's argument, so
    the helper's own annotation (`def key(tags: set)`) is looked up here."""
    function = step.where.scope.function
    if not isinstance(step.node, cst.Name) or function is None or step.where.lookup_env(step.node.value) is None:
        return ""
    param = next((p for p in function.params if p.name == step.node.value), None)
    return (param.annotation or "").rsplit("[", 1)[0] if param is not None else ""


def _dict_parts(node: cst.Dict) -> list[bool]:
    """For each traced child of a dict display: does its order/content matter (values and `**` parts)."""
    parts: list[bool] = []
    for element in node.elements[:8]:
        if isinstance(element, cst.DictElement):
            parts.extend([False, True])
        else:
            parts.append(True)
    return parts


def _maybe_mapping(step: Step, analysis: ModuleAnalysis, depth: int = 0) -> bool:
    """For `json.dumps(x)` of a value of unknown type: could it be a dict built at run time? Literals,
    lists, tuples, strings and numbers are not; a dict display with fixed keys is not."""
    if depth > 12:
        return False
    node, op = step.node, step.op
    if op in ("literal", "fstring", "percent", "join", "format", "comprehension"):
        return isinstance(node, cst.DictComp)
    if op == "collection":
        if isinstance(node, cst.Dict):
            return any(part and _maybe_mapping(child, analysis, depth + 1) for part, child in zip(_dict_parts(node), step.children))
        return any(_maybe_mapping(child, analysis, depth + 1) for child in step.children)
    if op == "call":
        callee = step.callee or ""
        if step.function is not None:
            return any(_maybe_mapping(c, analysis, depth + 1) for c in step.children)
        return callee in ("dict", "vars", "locals") or callee.endswith(("to_dict", "asdict", "_asdict", "model_dump", "dict"))
    if op == "param" and step.param is not None:
        annotation = (step.param.annotation or "").rsplit("[", 1)[0]
        return annotation in _DICT_TYPES or step.param.star == "**"
    if op == "method":
        name = (step.callee or "").lstrip(".")
        if name in ("copy", "get", "pop") and step.children:  # the same mapping, or one stored in it
            return name == "copy" and _maybe_mapping(step.children[0], analysis, depth + 1)
        return name.endswith("dict") or name in ("model_dump", "as_dict", "asdict", "_asdict")  # `request.GET.dict()`
    if op == "name" and _helper_param_annotation(step) in _DICT_TYPES:
        return True
    if op in ("name", "walrus", "await", "choice", "starred"):
        return any(child.flow is Flow.VALUE and _maybe_mapping(child, analysis, depth + 1) for child in step.children)
    return False


def _reaches(path: Sequence[Step]) -> bool:
    """The text reaches the key unchanged, as a piece of it, or through a digest of it."""
    for parent, child in zip(path, path[1:]):
        if child.flow is Flow.ELEMENT:
            return False  # one element of an unordered collection is not order-dependent itself
        if child.flow is not Flow.DERIVE:
            continue
        if parent.op == "call" and ((parent.callee or "") in _DIGESTS or (parent.callee or "").startswith("hashlib.")
                                    or parent.function is not None):
            continue
        if parent.op == "method" and parent.children and parent.children[0] is child \
                and (parent.callee or "").lstrip(".") in _DIGEST_METHODS:
            continue
        return False
    return True


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


class OrderDependent(Rule):
    code = "KL501"
    name = "order-dependent"
    summary = "The text of a dict, `**kwargs` or set (`json.dumps`, `str`, `join`) is used in a key, so equal values give different keys"
    what = (
        "Checks for keys (or digests used as keys) built from text whose order is not a function of the "
        "content: `json.dumps(...)` of a dict without `sort_keys=True`, `str()`/`repr()`/f-strings/"
        "`pickle.dumps()` of sets, `**kwargs` or dicts built from them, `\",\".join(a_set)`, and "
        "`tuple(d.items())` of keyword arguments or sets. Not reported: `sort_keys=True`, `sorted(...)` "
        "on the way, dict displays with fixed keys (their order is the code's), and frozensets or sets "
        "used as keys themselves (they compare by content)."
    )
    why = (
        "`json.dumps({\"a\": 1, \"b\": 2})` and `json.dumps({\"b\": 2, \"a\": 1})` are different strings for "
        "equal dicts; `f(a=1, b=2)` and `f(b=2, a=1)` give different `kwargs` orders; a set of strings "
        "iterates in an order that depends on the per-process hash seed. A cache keyed by that text "
        "stores the same value several times and misses when the same request arrives in another order "
        "or on another worker. Canonicalise first: `sort_keys=True`, `sorted(...)`, or a `frozenset`."
    )
    example = '''\
import hashlib
import json
from django.core.cache import cache

def search(**filters):
    key = "search:" + hashlib.md5(json.dumps(filters).encode()).hexdigest()
    hits = cache.get(key)  # misses when the caller passes the same filters in another order
    if hits is None:
        hits = run_search(filters)
        cache.set(key, hits, 600)
    return hits
'''
    use_instead = '''\
import hashlib
import json
from django.core.cache import cache

def search(**filters):
    key = "search:" + hashlib.md5(json.dumps(filters, sort_keys=True).encode()).hexdigest()
    hits = cache.get(key)
    if hits is None:
        hits = run_search(filters)
        cache.set(key, hits, 600)
    return hits
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('import json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(json.dumps(kw, sort_keys=True))\n', "sort_keys=True"),
        Valid('_cache = {}\n\ndef get(tags: set):\n    return _cache.get(",".join(sorted(tags)))\n', "sorted before joining"),
        Valid('_cache = {}\n\ndef get(**kw):\n    return _cache.get(frozenset(kw.items()))\n', "a frozenset as an in-process key"),
        Valid('import json\n\n_cache = {}\n\ndef get(user, page):\n    return _cache.get(json.dumps({"user": user, "page": page}))\n', "a dict display with fixed keys"),
        Valid('_cache = {}\n\ndef get(**kw):\n    return _cache.get(tuple(sorted(kw.items())))\n', "sorted items"),
        Valid('_seen = set()\n\ndef mark(items):\n    _seen.add(frozenset(items))\n', "frozenset key"),
        Valid('import json\nimport logging\n\ndef log(**kw):\n    logging.info("call %s", json.dumps(kw))\n', "text in a log line"),
        Valid('import json\n\n_cache = {}\n\ndef get(ids: list):\n    return _cache.get(json.dumps(ids))\n', "json of a list"),
        Valid('_cache = {}\n\ndef get(names: list):\n    return _cache.get(",".join(names))\n', "joining a list keeps its order"),
        Valid('import hashlib\n\n_results = {}\n\ndef tags_key(tags: list):\n    return hashlib.md5(",".join(tags).encode()).hexdigest()\n\ndef store(tags, value):\n    _results[tags_key(tags)] = value\n', "a helper joining a list (its annotation says so), unannotated caller"),
        Valid('import json\n\n_store = {}\n\ndef put(key, **kw):\n    _store[key] = json.dumps(kw)\n', "order-dependent text as the value"),
        Valid('import hashlib\nimport json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(hashlib.sha1(json.dumps(kw, sort_keys=True).encode()).hexdigest())\n', "sorted digest"),
        Valid('_cache = {}\n\ndef get(tags: set):\n    return _cache.get(len(tags))\n', "a set's size"),
        Valid('import json\n\n_cache = {}\n\ndef get(q: str):\n    return _cache.get(json.dumps(q))\n', "json of a string"),
        Valid('_pages = {}\n\ndef page(path, **params):\n    query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))\n    return _pages.get(path + "?" + query)\n', "joined in sorted order"),
        Valid('_known = {}\n\ndef check(tables: set):\n    for t in list(tables):\n        if t in _known:\n            return t\n', "one element of a set is not order-dependent"),
        Valid('class Override:\n    def __init__(self, **kwargs):\n        self.operations = list(kwargs.items())\n        self.options = {}\n\n    def enable(self):\n        for name, value in self.operations:\n            self.options[name] = value\n', "names unpacked from kwargs items"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(json.dumps(kw))\n', line=6,
                expected_fix='import json\n\n_cache = {}\n\ndef get(**kw):\n    return _cache.get(json.dumps(kw, sort_keys=True))\n'),
        Invalid('_cache = {}\n\ndef get(tags: set):\n    return _cache.get(",".join(tags))\n', line=4,
                expected_fix='_cache = {}\n\ndef get(tags: set):\n    return _cache.get(",".join(sorted(tags)))\n'),
        Invalid('import hashlib\nimport json\nfrom django.core.cache import cache\n\ndef search(**filters):\n    key = "s:" + hashlib.md5(json.dumps(filters).encode()).hexdigest()\n    return cache.get(key)\n', line=7,
                expected_fix='import hashlib\nimport json\nfrom django.core.cache import cache\n\ndef search(**filters):\n    key = "s:" + hashlib.md5(json.dumps(filters, sort_keys=True).encode()).hexdigest()\n    return cache.get(key)\n'),
        Invalid('_cache = {}\n\ndef get(*args, **kwargs):\n    return _cache.get((args, tuple(kwargs.items())))\n', line=4),
        Invalid('_cache = {}\n\ndef get(roles):\n    return _cache.get(str(set(roles)))\n', line=4),
        Invalid('import redis\n\nr = redis.Redis()\n\ndef get(perms):\n    return r.get("perms:" + ",".join({p.lower() for p in perms}))\n', line=6,
                expected_fix=None),
        Invalid('import pickle\n\n_cache = {}\n\ndef get(**opts):\n    return _cache.get(pickle.dumps(opts))\n', line=6),
        Invalid('_cache = {}\n\ndef get(a: set, b: set):\n    return _cache.get(f"{a | b}")\n', line=4),
        Invalid('import json\n\n_cache = {}\n\ndef get(path, **params):\n    key = (path, json.dumps(dict(params)))\n    return _cache.get(key)\n', line=7,
                expected_fix='import json\n\n_cache = {}\n\ndef get(path, **params):\n    key = (path, json.dumps(dict(params), sort_keys=True))\n    return _cache.get(key)\n'),
        Invalid('import functools\n\n@functools.lru_cache(maxsize=256)\ndef render(spec):\n    return spec\n\ndef page(**ctx):\n    return render(repr(ctx))\n', line=8),
        Invalid('import json\n\n_cache = {}\n\ndef get(base: dict, extra: dict):\n    return _cache.get(json.dumps({**base, **extra}))\n', line=6,
                expected_fix='import json\n\n_cache = {}\n\ndef get(base: dict, extra: dict):\n    return _cache.get(json.dumps({**base, **extra}, sort_keys=True))\n'),
        Invalid('class Cache:\n    def __init__(self):\n        self._data = {}\n\n    def key(self, names: frozenset):\n        return "|".join(names)\n\n    def get(self, names: frozenset):\n        return self._data.get(self.key(names))\n', line=9,
                expected_fix='class Cache:\n    def __init__(self):\n        self._data = {}\n\n    def key(self, names: frozenset):\n        return "|".join(sorted(names))\n\n    def get(self, names: frozenset):\n        return self._data.get(self.key(names))\n'),
        Invalid('import hashlib\nimport json\nfrom django.core.cache import cache\n\ndef listing(request):\n    key = hashlib.md5(json.dumps(request.GET.dict()).encode()).hexdigest()\n    return cache.get(key)\n', line=7,
                expected_fix='import hashlib\nimport json\nfrom django.core.cache import cache\n\ndef listing(request):\n    key = hashlib.md5(json.dumps(request.GET.dict(), sort_keys=True).encode()).hexdigest()\n    return cache.get(key)\n'),
        Invalid('_pages = {}\n\ndef page(path, **params):\n    query = "&".join(f"{k}={v}" for k, v in params.items())\n    return _pages.get(path + "?" + query)\n', line=5),
        Invalid('import os\n\ndef cache_file(flags: set):\n    return open(os.path.join("/tmp", "-".join(flags) + ".cache"), "w")\n', line=4),
        Invalid('import hashlib\n\n_results = {}\n\ndef tags_key(tags: set):\n    return hashlib.md5(",".join(tags).encode()).hexdigest()\n\ndef store(tags, value):\n    _results[tags_key(tags)] = value\n', line=9,
                note="the helper's parameter is annotated as a set; the caller's is not"),
    ]

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        for path in iter_paths(analysis.provenance(sink), stop=self.is_sanitized):
            found = self._source(path[-1], analysis)
            if found is None or not _reaches(path):
                continue
            message, fix = found
            yield self.finding(sink, path, f"{message}, so {self._consequence(sink)}", fix=fix)
            return

    def _source(self, step: Step, analysis: ModuleAnalysis) -> tuple[str, NodeFix | None] | None:
        node = step.node
        op = step.op
        if op == "call" and step.function is None and step.callee in _DUMPERS and isinstance(node, cst.Call) and step.children:
            return self._dumps(step, node, analysis)
        if op in ("format", "fstring", "percent"):
            for child in step.children:
                if child.flow is Flow.TEXT and child.spec is None:
                    why = unordered(child, analysis)
                    if why is not None:
                        return f"the text of `{analysis.label(child.node, 30)}` lists {why}", None
            return None
        if op == "join" and step.children:
            child = step.children[0]
            why = unordered(child, analysis)
            if why is None:
                return None
            return f"`{analysis.label(node, 40)}` joins {why}", self._sorted_fix(child, node)
        if op == "call" and step.function is None and step.callee in ("tuple", "list") and step.children:
            child = step.children[0]
            if child.op == "method" and (child.callee or "") in (".items", ".keys", ".values") or unordered(child, analysis) == SET:
                why = unordered(child, analysis)
                if why is not None:
                    return f"`{analysis.label(node, 40)}` is in the order of {why}", None
        return None

    def _dumps(self, step: Step, node: cst.Call, analysis: ModuleAnalysis) -> tuple[str, NodeFix | None] | None:
        callee = step.callee or ""
        child = step.children[0]
        if node.args[0].keyword is not None or node.args[0].star:
            return None
        is_json = callee != "pickle.dumps" and callee != "marshal.dumps" and callee != "cPickle.dumps"
        sort_keys = _keyword(node, "sort_keys")
        if is_json and sort_keys is not None:
            return None  # sorted, or deliberately not: either way the caller chose
        why = unordered(child, analysis)
        if why is None and is_json and _maybe_mapping(child, analysis):
            why = DICT
        if why is None or (is_json and why == SET):
            return None  # json cannot encode a set; that call fails before it makes a key
        shown = analysis.label(node, 40)
        if not is_json:
            return f"`{shown}` pickles {why}", None
        fix = None
        last = node.args[-1]
        last_code = analysis.module.code_for_node(last.value)
        if not any(a.star == "**" for a in node.args) and "\n" not in last_code:  # edit only the last argument: the layout stays
            fix = NodeFix("unsafe", "Add `sort_keys=True` (unsafe: entries stored under the old keys are no longer found)",
                          (NodeEdit(last.value, f"{last_code}, sort_keys=True"),))
        return f"`{shown}` without `sort_keys=True` writes {why}", fix

    @staticmethod
    def _sorted_fix(child: Step, join: cst.CSTNode) -> NodeFix | None:
        if not isinstance(join, cst.Call) or len(join.args) != 1 or join.args[0].star:
            return None
        arg = join.args[0].value
        if not isinstance(arg, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            return None
        code = cst.Module(body=[]).code_for_node(arg)
        if "\n" in code:
            return None
        return NodeFix("unsafe", "Sort the items before joining (unsafe: entries stored under the old keys are no longer found)",
                       (NodeEdit(arg, f"sorted({code})"),))

    def _consequence(self, sink: Sink) -> str:
        if sink.persistent:
            if sink.kind == "filename":
                return "equal values name different files (another order, another worker): cached files are written again and never found"
            where = f"keys in `{sink.mapping_label}`"
            return f"equal values give different {where} (another order, another worker): the store keeps duplicates and lookups miss"
        if sink.kind == "cached-call":
            return f"equal values give different arguments: {sink.mapping_label} keeps duplicates and misses"
        return f"equal values give different keys: `{sink.mapping_label}` keeps duplicate entries and lookups in another order miss"
