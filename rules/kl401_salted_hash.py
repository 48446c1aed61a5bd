"""KL401 salted-hash: builtin `hash()` of text in a key that is persisted or shared between processes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar

import libcst as cst

from keylint.diagnostics import Edit, Fix
from keylint.keyflow import Flow, ModuleAnalysis, Sink, Step, iter_paths
from keylint.rule import Finding, Invalid, NodeEdit, NodeFix, Rule, Valid

# Calls and methods whose result still carries the salted number (it changes with it).
_CARRIES = frozenset({"str", "repr", "format", "hex", "oct", "abs", "int", "bytes", "zlib.crc32", "zlib.adler32",
                      "struct.pack", "base64.b64encode", "base64.urlsafe_b64encode", "base64.b32encode"})
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "replace", "format", "join", "decode",
                          "hexdigest", "casefold", "title", "removeprefix", "removesuffix"})
_STR_CALLS = frozenset({"str", "repr", "format", "json.dumps", "os.fspath", "os.path.join", "os.path.basename"})
_NUMBER_CALLS = frozenset({"int", "len", "float", "round", "ord", "abs", "id", "hash", "sum", "min", "max"})
_NUMBER_TYPES = frozenset({"int", "float", "bool", "complex", "decimal.Decimal", "fractions.Fraction"})
# Places outside the cache-client sinks where a key leaves the process: `cursor.execute(sql, params)`,
# object stores (boto3 `Key=`, GCS `bucket.blob(name)`).
_SQL_METHODS = frozenset({"execute", "executemany"})
_OBJECT_STORE_KEYWORDS = frozenset({"Key", "key_name", "blob_name", "object_name"})
_OBJECT_STORE_METHODS = frozenset({"blob", "get_blob", "Object", "put_object", "get_object", "delete_object"})


def arg_kind(step: Step, analysis: ModuleAnalysis, depth: int = 0) -> str:
    """"str" | "bytes" | "tuple" (of text) | "number" | "unknown" for the value `hash()` gets."""
    node = step.node
    if depth > 10:
        return "unknown"
    if step.op == "literal":
        if isinstance(node, cst.SimpleString):
            return "bytes" if "b" in node.prefix.lower() else "str"
        return "number" if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)) else "unknown"
    if step.op in ("fstring", "percent", "join", "format") or isinstance(node, cst.ConcatenatedString):
        return "str"
    if step.op == "concat":
        kinds = {arg_kind(c, analysis, depth + 1) for c in step.children}
        return "str" if "str" in kinds else "bytes" if "bytes" in kinds else "unknown"
    if step.op == "collection" and isinstance(node, cst.Tuple):
        kinds = {arg_kind(c, analysis, depth + 1) for c in step.children}
        return "number" if kinds <= {"number"} else "tuple"
    if step.op == "call":
        callee = step.callee or ""
        if callee in _STR_CALLS:
            return "str"
        if callee in _NUMBER_CALLS:
            return "number"
        if callee in ("tuple", "frozenset"):
            return "tuple"
    if step.op == "method":
        name = (step.callee or "").lstrip(".")
        if name in ("encode", "digest", "tobytes"):
            return "bytes"
        if name in _STR_METHODS:
            return "str"
    if step.op == "param" and step.param is not None and step.param.annotation:
        annotation = step.param.annotation
        if annotation in ("str", "bytes"):
            return annotation
        if annotation in _NUMBER_TYPES:
            return "number"
        return "unknown"
    for child in step.children:
        if child.flow is Flow.VALUE:
            kind = arg_kind(child, analysis, depth + 1)
            if kind != "unknown":
                return kind
    return "unknown"


def _carries(parent: Step, child: Step) -> bool:
    if child.flow is not Flow.DERIVE:
        return True
    if parent.op in ("binop", "unary"):
        return True
    if parent.op == "method":
        return bool(parent.children) and parent.children[0] is child
    if parent.op == "call":
        callee = parent.callee or ""
        return parent.function is not None or callee in _CARRIES or callee.startswith("hashlib.")
    return False


def _in_dunder_hash(step: Step) -> bool:
    fn = step.where.scope.function
    return fn is not None and fn.name == "__hash__"


class SaltedHash(Rule):
    code = "KL401"
    name = "salted-hash"
    summary = "Builtin `hash()` of text is used in a key that is persisted or shared between processes"
    what = (
        "Checks for the builtin `hash()` of a `str`, `bytes`, or a tuple of them (or of a value whose type "
        "is not known to be a number) reaching a key that leaves the process: Redis, memcache, Django's "
        "cache, diskcache, shelve, aiocache keys, file names, SQL parameters (`cursor.execute(sql, params)`), "
        "object-store keys (`Key=`, `bucket.blob(name)`), and sinks configured with `persistent = true`. "
        "Not reported: `hashlib`/`zlib` digests, `hash()` inside `__hash__`, and in-process uses such as lock "
        "striping (`locks[hash(key) % n]`) or dict keys, where one process computes every key."
    )
    why = (
        "Since Python 3.3, `hash()` of `str` and `bytes` is salted with a random value chosen when each "
        "process starts (`PYTHONHASHSEED`), and `hash()` of a plain object comes from its address. Two web "
        "workers, or the same service after a restart, compute different numbers for the same text: a Redis "
        "or file cache keyed by `hash(url)` is never hit by another process, and fills with entries nobody "
        "reads again. Use a digest that is the same everywhere: `hashlib.sha256(text.encode()).hexdigest()` "
        "(or `zlib.crc32` when a short number is enough)."
    )
    example = '''\
import redis

r = redis.Redis()

def cached_page(url, render):
    key = f"page:{hash(url)}"  # a different number in every worker process
    body = r.get(key)
    if body is None:
        body = render(url)
        r.set(key, body, ex=300)
    return body
'''
    use_instead = '''\
import hashlib
import redis

r = redis.Redis()

def cached_page(url, render):
    key = f"page:{hashlib.sha256(url.encode()).hexdigest()}"  # the same in every process
    body = r.get(key)
    if body is None:
        body = render(url)
        r.set(key, body, ex=300)
    return body
'''
    VALID: ClassVar[list[Valid | str]] = [
        Valid('import hashlib\nimport redis\n\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(hashlib.sha256(url.encode()).hexdigest())\n', "hashlib digest"),
        Valid('import threading\n\nlocks = [threading.Lock() for _ in range(16)]\n\ndef lock_for(key: str):\n    return locks[hash(key) % len(locks)]\n', "in-process lock striping"),
        Valid('import zlib\nfrom django.core.cache import cache\n\ndef get(name: str):\n    return cache.get("n:%d" % zlib.crc32(name.encode()))\n', "zlib checksum"),
        Valid('class Key:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n\n    def __hash__(self):\n        return hash((self.a, self.b))\n', "__hash__ implementation"),
        Valid('_memo = {}\n\ndef lookup(name: str):\n    return _memo.get(hash(name))\n', "in-process dict: one process computes every key"),
        Valid('import redis\n\nr = redis.Redis()\n\ndef get(user_id: int):\n    return r.get(f"user:{hash(user_id)}")\n', "hash of an int is the int itself"),
        Valid('import redis\n\nr = redis.Redis()\n\ndef get(n):\n    return r.get("bucket:%d" % hash(len(n)))\n', "hash of a number"),
        Valid('import logging\n\ndef note(url: str):\n    logging.info("url hash %s", hash(url))\n', "a log line, not a key"),
        Valid('import redis\n\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(f"page:{url}")\n', "the text itself in the key"),
        Valid('import functools\n\n@functools.lru_cache(maxsize=128)\ndef parse(digest):\n    return digest\n\ndef run(text: str):\n    return parse(hash(text))\n', "lru_cache lives in this process"),
        Valid('import hashlib\n\ndef path_for(name: str):\n    return open(f"/tmp/{hashlib.md5(name.encode()).hexdigest()}.json")\n', "file name from hashlib"),
        Valid('import redis\n\nr = redis.Redis()\nSEEN = set()\n\ndef mark(url: str):\n    SEEN.add(hash(url))\n    r.set("count", len(SEEN))\n', "hash kept in process, only a count shared"),
        Valid('import redis\n\nr = redis.Redis()\n\ndef tile(x: int, y: int):\n    return r.get(f"tile:{hash((x, y))}")\n', "a tuple of ints hashes the same everywhere"),
        Valid('class Date:\n    def __init__(self, y, m):\n        self._state = (y, m)\n        self._hashcode = hash(self._state)\n', "a cached hash value, not a key"),
    ]
    INVALID: ClassVar[list[Invalid | str]] = [
        Invalid('import redis\n\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(f"page:{hash(url)}")\n', line=6,
                expected_fix='import redis\nimport hashlib\n\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(f"page:{hashlib.sha256(url.encode()).hexdigest()}")\n'),
        Invalid('import hashlib\nfrom django.core.cache import cache\n\ndef get(name: str):\n    return cache.get("n:%d" % hash(name))\n', line=5,
                expected_fix='import hashlib\nfrom django.core.cache import cache\n\ndef get(name: str):\n    return cache.get("n:%d" % int(hashlib.sha256(name.encode()).hexdigest()[:16], 16))\n'),
        Invalid('import pymemcache\n\nmc = pymemcache.Client(("localhost", 11211))\n\ndef put(user, region, value):\n    mc.set(str(hash((user, region))), value)\n', line=6,
                expected_fix='import pymemcache\nimport hashlib\n\nmc = pymemcache.Client(("localhost", 11211))\n\ndef put(user, region, value):\n    mc.set(str(hashlib.sha256(repr((user, region)).encode()).hexdigest()), value)\n'),
        Invalid('import os\n\ndef cache_path(query: str):\n    return open(os.path.join("/var/cache/q", "%x.json" % hash(query)), "w")\n', line=4),
        Invalid('import diskcache\n\ncache = diskcache.Cache("/tmp/c")\n\ndef get(blob: bytes):\n    return cache.get(hash(blob))\n', line=6,
                expected_fix='import diskcache\nimport hashlib\n\ncache = diskcache.Cache("/tmp/c")\n\ndef get(blob: bytes):\n    return cache.get(int(hashlib.sha256(blob).hexdigest()[:16], 16))\n'),
        Invalid('import shelve\n\ndef save(name: str, data):\n    with shelve.open("store") as db:\n        db[str(hash(name))] = data\n', line=5),
        Invalid('import sqlite3\n\nconn = sqlite3.connect("cache.db")\n\ndef lookup(url):\n    return conn.execute("SELECT body FROM pages WHERE key = ?", (hash(url),)).fetchone()\n', line=6),
        Invalid('import redis\n\nr = redis.Redis()\n\ndef _key(url):\n    return "page:" + str(hash(url.lower()))\n\ndef get(url):\n    return r.get(_key(url))\n', line=9),
        Invalid('import boto3\n\ns3 = boto3.client("s3")\n\ndef upload(name: str, body):\n    s3.put_object(Bucket="b", Key=f"blobs/{hash(name)}", Body=body)\n', line=6),
        Invalid('from django.core.cache import caches\n\ndef remember(path, value):\n    caches["default"].set("p-%s" % hash(path), value)\n', line=4),
        Invalid('import redis\n\nclass Store:\n    def __init__(self):\n        self.r = redis.Redis()\n\n    def shard(self, key: str):\n        return self.r.get(f"shard:{hash(key) % 64}")\n', line=8),
        Invalid('from pathlib import Path\n\ndef cache_file(url: str):\n    return Path(f"/tmp/cache-{hash(url)}.html")\n', line=4),
        Invalid('"""Page cache."""\nimport redis\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(f"a:{hash(url)}") or r.get(f"b:{hash(url)}")\n', line=6,
                expected_fix='"""Page cache."""\nimport redis\nimport hashlib\nr = redis.Redis()\n\ndef get(url: str):\n    return r.get(f"a:{hashlib.sha256(url.encode()).hexdigest()}") or r.get(f"b:{hashlib.sha256(url.encode()).hexdigest()}")\n'),
    ]

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        for sink in analysis.sinks:
            if sink.persistent:
                yield from self._check(sink, analysis.provenance(sink), analysis)
        for sink in _extra_sinks(analysis):
            yield from self._check(sink, analysis.trace(sink.key, sink.where, f"used as a key of {sink.mapping_label}"), analysis)

    def _check(self, sink: Sink, root: Step, analysis: ModuleAnalysis) -> Iterator[Finding]:
        for path in iter_paths(root, stop=self.is_sanitized):
            step = path[-1]
            node = step.node
            if step.op != "call" or step.callee != "hash" or step.function is not None or not isinstance(node, cst.Call):
                continue
            if len(node.args) != 1 or node.args[0].star or _in_dunder_hash(step) or not step.children:
                continue
            if not all(_carries(parent, child) for parent, child in zip(path, path[1:])):
                continue
            kind = arg_kind(step.children[0], analysis)
            if kind == "number":
                continue
            yield self.finding(sink, path, self._message(sink, kind, analysis.label(node.args[0].value, 30)),
                               fix=_fix(path, kind, analysis))
            return

    @staticmethod
    def _message(sink: Sink, kind: str, shown: str) -> str:
        if kind in ("str", "bytes", "tuple"):
            what = {"str": "a str", "bytes": "bytes", "tuple": "a tuple of text"}[kind]
            why = f"`hash({shown})` of {what} is salted per process (PYTHONHASHSEED)"
        else:
            why = (f"`hash({shown})` differs per process (str/bytes hashes are salted by PYTHONHASHSEED, "
                   "object hashes come from addresses)")
        if sink.kind == "filename":
            return f"{why}, so other workers and later runs name a different file and never find the one written before"
        return (f"{why}, so other workers and later runs compute a different key in `{sink.mapping_label}` and never hit it, "
                "and the store keeps entries nobody reads")


def _extra_sinks(analysis: ModuleAnalysis) -> Iterator[Sink]:
    for call, where in analysis.collected.calls:
        func = call.func
        if not isinstance(func, cst.Attribute):
            continue
        method = func.attr.value
        key: cst.BaseExpression | None = None
        api = "object-store"
        if method in _SQL_METHODS and len(call.args) >= 2 and call.args[1].keyword is None:
            key, api = call.args[1].value, "sql"
        elif method in _OBJECT_STORE_METHODS or method.endswith("_object") or method.startswith("upload_"):
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value in _OBJECT_STORE_KEYWORDS:
                    key = arg.value
            if key is None and method in ("blob", "get_blob") and call.args and call.args[0].keyword is None:
                key = call.args[0].value
        if key is not None:
            label = analysis.label(func, 40)
            yield Sink(call, key, "custom", "write", where, func.value, None, label, True, method=method, api=api)


# ---- the fix: a hashlib digest instead of hash() --------------------------------------------------
def _fix(path: Sequence[Step], kind: str, analysis: ModuleAnalysis) -> NodeFix | Fix | None:
    if kind not in ("str", "bytes", "tuple"):
        return None  # repr() of an unknown object could carry its address: no automatic fix
    step = path[-1]
    node = step.node
    assert isinstance(node, cst.Call)
    hashlib_name = _hashlib_name(analysis)
    if hashlib_name is False:
        return None
    arg = node.args[0].value
    text = analysis.module.code_for_node(arg).strip()
    atom = text if isinstance(arg, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString)) else f"({text})"
    data = {"str": f"{atom}.encode()", "bytes": atom, "tuple": f"repr({text}).encode()"}[kind]
    parent = path[-2] if len(path) >= 2 else None
    as_text = parent is not None and parent.op in ("fstring", "format") and step.spec is None \
        and parent.callee != "format" and "!" not in step.note
    digest = f"hashlib.sha256({data}).hexdigest()"
    replacement = digest if as_text else f"int({digest}[:16], 16)"
    if "\n" in text:
        return None  # regenerating a multi-line argument would lose its indentation
    if hashlib_name is not None:
        return NodeFix("unsafe", _FIX_MESSAGE, (NodeEdit(node, replacement),))
    return _with_import(analysis.module, node, replacement)


_FIX_MESSAGE = "Use a hashlib SHA-256 digest, the same in every process (unsafe: entries stored under the old keys are no longer found)"


def _with_import(module: cst.Module, node: cst.Call, replacement: str) -> Fix | None:
    """The digest plus an `import hashlib` line after the module's leading imports (or its docstring,
    or before its first statement). Inserting a line needs positions, resolved here: only files with
    a KL401 finding and no `hashlib` import pay for it."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    if not module.body:
        return None
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    after = _leading_imports_end(module)
    if after is not None:
        span = positions.get(after)
        line = span.end.line + 1 if span is not None else None
    else:
        first = module.body[0]
        decorators = getattr(first, "decorators", ())
        span = positions.get(decorators[0] if decorators else first)
        line = span.start.line if span is not None else None
    target = positions.get(node)
    if line is None or target is None:
        return None
    return Fix("unsafe", _FIX_MESSAGE, (
        Edit(line, 1, line, 1, "import hashlib\n"),
        Edit(target.start.line, target.start.column + 1, target.end.line, target.end.column + 1, replacement),
    ))


def _hashlib_name(analysis: ModuleAnalysis) -> str | None | bool:
    """"hashlib" when the module imports it, None when it must be imported, False when the name is
    taken by something else."""
    bindings = analysis.module_scope.bindings.get("hashlib", [])
    if not bindings:
        return None
    if all(b.kind == "import" and b.qualname == "hashlib" for b in bindings):
        return "hashlib"
    return False


def _leading_imports_end(module: cst.Module) -> cst.CSTNode | None:
    """The last statement of the module's leading docstring-and-imports block, if any."""
    found: cst.CSTNode | None = None
    for index, statement in enumerate(module.body):
        if not isinstance(statement, cst.SimpleStatementLine):
            break
        small = statement.body
        docstring = index == 0 and len(small) == 1 and isinstance(small[0], cst.Expr) \
            and isinstance(small[0].value, (cst.SimpleString, cst.ConcatenatedString))
        if not docstring and not all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in small):
            break
        found = statement
    return found
