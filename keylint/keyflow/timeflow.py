"""Time-value flow shared by the time and deadline rules: which steps keep a clock value changing
per call, and which turn it into a deliberate bucket (floor division, rounding, truncation)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

import libcst as cst

from keylint.keyflow.model import Flow, Step

# Calls that carry time through unchanged in meaning (their result still changes every call).
_PROPAGATE = frozenset({"str", "repr", "format", "int", "float", "hash", "abs", "bytes", "tuple", "list",
                        "decimal.Decimal", "json.dumps", "pickle.dumps", "hashlib.md5", "hashlib.sha1",
                        "hashlib.sha256", "hashlib.blake2b", "zlib.crc32", "base64.b64encode", "time.strftime",
                        "time.localtime", "time.gmtime", "datetime.datetime.fromtimestamp",
                        "datetime.datetime.utcfromtimestamp", "time.ctime", "time.asctime"})
_BUCKET_CALLS = frozenset({"round", "math.floor", "math.ceil", "math.trunc"})
_FINE_ATTRS = frozenset({"microsecond", "second", "nanosecond", "minute", "timestamp"})
# Methods of a time value that return a coarse field (a day, a weekday, a date).
_COARSE_METHODS = frozenset({"date", "weekday", "isoweekday", "isocalendar", "toordinal", "timetuple", "utctimetuple"})
# strftime/format directives finer than a minute: a format without them is a bucket.
_FINE_DIRECTIVES = re.compile(r"%[SfXTcsNR]|%-?[SfX]")
_DATE_RETURNING = frozenset({"datetime.date.today"})


def spec_is_bucket(spec: str | None) -> bool:
    return spec is not None and "%" in spec and not _FINE_DIRECTIVES.search(spec)


def is_bucket(parent: Step, child: Step) -> bool:
    """Does `parent` turn the time below it into a deliberate bucket?"""
    if spec_is_bucket(child.spec):
        return True
    op, callee = parent.op, parent.callee or ""
    if op == "binop" and callee == "//":
        return True
    if op == "call" and callee in _BUCKET_CALLS:
        return True
    if op == "call" and callee == "time.strftime" and isinstance(parent.node, cst.Call) and parent.node.args:
        fmt = parent.node.args[0].value
        if isinstance(fmt, cst.SimpleString) and spec_is_bucket(str(fmt.evaluated_value)):
            return True
    if child.flow is Flow.ELEMENT and child.op in ("call", "method"):
        return True  # a field unpacked from a time tuple: `year, month, day, *_ = time.gmtime(t)`
    if op == "call" and callee == "int" and isinstance(child.node, cst.BinaryOperation) \
            and isinstance(child.node.operator, (cst.Divide, cst.FloorDivide)):
        return True
    if op == "method":
        name = callee.lstrip(".")
        if name in _COARSE_METHODS:
            return True
        if name == "strftime" and spec_is_bucket(parent.spec):
            return True
        if name == "replace" and isinstance(parent.node, cst.Call):
            keywords = {a.keyword.value for a in parent.node.args if a.keyword is not None}
            return bool(keywords & {"second", "microsecond", "minute", "hour"})
    if op == "attr" and child.flow is Flow.MEMBER and callee not in _FINE_ATTRS:
        return True
    # `now.isoformat()[:10]`: truncated text
    return op == "subscript" and isinstance(parent.node, cst.Subscript) and any(
        isinstance(e.slice, cst.Slice) for e in parent.node.slice
    )


def propagates(parent: Step, child: Step) -> bool:
    """Does time flowing from `child` into `parent` still change the parent's value per call?"""
    if child.flow is not Flow.DERIVE:
        return True
    if parent.op in ("binop", "unary", "construct"):
        return True
    if parent.op == "method":
        return bool(parent.children) and parent.children[0] is child  # a method of the time value itself
    if parent.op == "call":
        return parent.function is not None or (parent.callee or "") in _PROPAGATE
    return False



def time_reaches(path: Sequence[Step]) -> bool:
    """True when a time value at the end of `path` still changes the key at its root: no bucket on
    the way, and every derivation is one that keeps it changing (arithmetic, formatting, hashing,
    methods of the value itself, module helpers)."""
    for parent, child in pairwise(path):
        if is_bucket(parent, child) or not propagates(parent, child):
            return False
    return True
