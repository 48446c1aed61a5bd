"""keyflow: where values are used as keys, and what each key was built from. It knows nothing about
which values are bad: rules decide that (see `keylint.rule`).

API (stable; rules code against it)
-----------------------------------
`ModuleAnalysis(module: libcst.Module, settings)` - built once per file by the engine; rules get it.
  .sinks: list[Sink]                    every key use in the module
  .provenance(sink) -> Step             the key's provenance tree (lazy, memoised)
  .steps(sink) -> list[Step]            its distinct steps: reject a sink cheaply before iter_paths
  .trace(expr, where, note="") -> Step  provenance of any expression (e.g. a decorator argument)
  .type_of(step) -> str | None          class of a step's value: annotation ("grpc.ServicerContext"),
                                        module class ("Context"), factory (asyncio.timeout -> "asyncio.Timeout")
  .classes: dict[str, ClassInfo]        module classes; .functions: list[FunctionInfo] (every def)
  .text_is_unstable(cls) -> str | None  why a module class's str/repr/format changes (clock / mutable state)
  .qualname(expr, where) -> str | None  dotted name with imports resolved ("datetime.datetime.now")
  .call_target(call, where)             FunctionInfo / ClassInfo a call runs in this module, or None
  .call_sites(fn) / .calls_named(name)  calls of a module function / of any callee named `name`
  .mapping_identity(expr, where)        "global:NAME" | "attr:Class.attr" | None
  .collected.attr_stores[attr]          every `obj.attr = value` (AttrStore: receiver, value, flow, where, owner)
  .collected.calls                      every (Call, Where) in the module (for facts such as weakref.finalize)
  .label(node) -> str                   short source text for messages
`iter_paths(step, stop=None)` yields every root-first path (tuple[Step, ...]); `stop(step)` -> True
  prunes below a step (a rule's sanitizer).

Sink: node (reported: Subscript/Comparison/Call), key (expression), kind ("subscript" | "contains" |
  "mapping-method" | "cache-client" | "cached-call" | "custom" | "filename"), operation ("read" | "write" |
  "delete"), where, mapping (container expr), mapping_id, mapping_label ("self._streams"), persistent
  (key leaves the process), method ("get", "set", ...), api ("redis", "memcache", "django", "diskcache",
  "aiocache", "cachetools", "shelve", "lru_cache", "file", "custom", "cache"), function (cached function),
  statement (anchor for suppression comments).

Step: node, op, flow, note, where, callee, spec, children, param, function, cls, truncated.
  op: "name" (callee=name), "param" (param/function set), "self" (cls set), "import" (callee=qualname),
  "def" / "class" / "except", "attr" (callee=attr name; children = stored values, then the receiver
  with Flow.MEMBER unless the receiver is self), "call" (callee=qualname; function set for module
  helpers, children = their returns with parameters bound; otherwise the arguments, Flow.DERIVE),
  "construct" (cls set; arguments, Flow.DERIVE), "method" (callee=".name"; receiver and arguments,
  Flow.DERIVE; spec = strftime format), "format" (str/repr/format/ascii/.format/map(str, ...):
  children Flow.TEXT; spec = format spec), "fstring" (children Flow.TEXT, spec = `:...` spec),
  "percent" (`"..." % x`, Flow.TEXT), "concat" (`+`, Flow.PART), "join" (iterable, Flow.ELEMENT),
  "collection" (tuple/list/set/dict items, Flow.PART), "comprehension" (element, Flow.PART),
  "binop" (callee="//", "-", ...; Flow.DERIVE), "unary", "subscript" (container, Flow.DERIVE),
  "choice" (if/else, and/or), "await", "walrus", "starred", "literal", "lambda", "builtin",
  "sanitizer" (a `Settings.sanitizers` call: no children), "expr" (anything else).
Helpers: `keylint.keyflow.paths` (text_taken(path): the key holds the text of the path's last value;
  plain_flow, identifier(step), only_literals, has_value_children), `keylint.keyflow.timeflow`
  (time_reaches(path): a clock value still changes the key - no bucket such as `//`, round(),
  .replace(second=0), .date(), date-only strftime on the way), `keylint.keyflow.sources` (tables:
  CLOCK_FUNCTIONS, CONTEXT_TYPES/FACTORIES, DEADLINE_NAMES, CACHE_DECORATORS, CLIENT_CONSTRUCTORS,
  CLIENT_METHODS; name_matches(name, globs)). Extend a table here rather than in a rule when two
  rules need it.
Flow (how a child reaches its parent): VALUE (same object), TEXT (parent holds its text), PART (a
  piece of the parent), ELEMENT (parent is an element of it), DERIVE (computed from it), MEMBER
  (parent is an attribute of it).
"""

from __future__ import annotations

from keylint.keyflow.analysis import ModuleAnalysis, iter_paths, unique_steps
from keylint.keyflow.model import (
    Binding,
    ClassInfo,
    Flow,
    FunctionInfo,
    Param,
    Scope,
    Sink,
    Step,
    StmtInfo,
    Where,
)

__all__ = [
    "Binding", "ClassInfo", "Flow", "FunctionInfo", "ModuleAnalysis", "Param", "Scope", "Sink", "Step",
    "StmtInfo", "Where", "iter_paths", "unique_steps",
]
