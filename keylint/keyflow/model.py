"""The records keyflow builds for one module: scopes, bindings, classes, sinks and provenance steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libcst as cst


class Flow(str, Enum):
    """How a step's value reaches its parent step (the parent is nearer the key)."""

    VALUE = "value"  # the same object: assignment, parameter binding, return, attribute store, `or`, await
    TEXT = "text"  # the parent holds this value's text: str()/repr()/format(), f-string, `%`, `.format`
    PART = "part"  # this value is a piece of the parent: a tuple/list item, a `+` operand, a joined element
    ELEMENT = "element"  # the parent is an element of this iterable: `for x in xs`, unpacking, comprehension
    DERIVE = "derive"  # the parent is computed from this value: a call argument, an operand of `//`, a receiver
    MEMBER = "member"  # the parent is an attribute read on this value: `obj` in `obj.name`


@dataclass(frozen=True)
class StmtInfo:
    """Where a statement sits: visit order, enclosing blocks (suite ids, outermost first), loops."""

    index: int
    blocks: tuple[int, ...]
    loops: tuple[int, ...]
    anchor: cst.CSTNode  # the statement (or compound header expression) for suppression comments


@dataclass(eq=False)
class Binding:
    """One definition of a name in a scope."""

    name: str
    kind: str  # "assign" | "augassign" | "unpack" | "for" | "with" | "walrus" | "import" | "def" | "class" | "except" | "param"
    value: cst.CSTNode | None  # the assigned expression (None for except/def/class)
    stmt: StmtInfo
    target: cst.CSTNode  # the Name being bound
    qualname: str | None = None  # for imports: the dotted name bound


@dataclass(eq=False)
class Param:
    name: str
    node: cst.Param
    index: int  # position among positional parameters (-1 for keyword-only / *args / **kwargs)
    annotation: str | None  # dotted name of the annotation (imports resolved), Optional[...] unwrapped
    star: str  # "" | "*" | "**"


@dataclass(eq=False)
class Scope:
    """A module, class body or function body; `bindings` maps a name to its definitions in visit order."""

    kind: str  # "module" | "class" | "function"
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    function: FunctionInfo | None = None
    cls: ClassInfo | None = None  # the class whose body this is, or whose method this is
    globals_: set[str] = field(default_factory=set)  # names declared `global` here
    nonlocals: set[str] = field(default_factory=set)


@dataclass(eq=False)
class FunctionInfo:
    name: str
    node: cst.FunctionDef
    scope: Scope  # the function's own scope
    cls: ClassInfo | None  # set for methods
    params: list[Param]
    decorators: list[str]  # dotted names (imports resolved; `@lru_cache(maxsize=9)` gives "functools.lru_cache")
    returns: list[tuple[cst.BaseExpression, StmtInfo]] = field(default_factory=list)
    return_annotation: str | None = None
    reads_time: bool = False  # the body calls a clock (time.time, datetime.now, loop.time, ...)
    self_reads: set[str] = field(default_factory=set)  # `self.x` attribute names read in the body
    self_writes: set[str] = field(default_factory=set)  # `self.x` names assigned / augmented / mutated

    @property
    def qualname(self) -> str:
        return f"{self.cls.name}.{self.name}" if self.cls else self.name


@dataclass(eq=False)
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: list[str]
    decorators: list[str]
    methods: dict[str, FunctionInfo] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)  # annotated class-body names in order (dataclass fields)
    field_annotations: dict[str, str] = field(default_factory=dict)
    class_attrs: set[str] = field(default_factory=set)  # names assigned in the class body

    @property
    def is_dataclass(self) -> bool:
        return any(d.rsplit(".", 1)[-1] in ("dataclass", "define", "attrs", "frozen", "mutable") for d in self.decorators)

    @property
    def frozen(self) -> bool:
        return any(d.rsplit(".", 1)[-1] == "frozen" for d in self.decorators) or self._frozen_flag

    _frozen_flag: bool = False

    @property
    def is_enum(self) -> bool:
        return any(b.rsplit(".", 1)[-1] in ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag") for b in self.bases)

    def text_methods(self) -> dict[str, FunctionInfo]:
        """`__repr__`, `__str__`, `__format__` defined in this class body."""
        return {n: f for n, f in self.methods.items() if n in ("__repr__", "__str__", "__format__")}

    def mutable_attrs(self) -> set[str]:
        """Attributes assigned or mutated outside `__init__`/`__post_init__`/`__new__`/`__setstate__`."""
        found: set[str] = set()
        for name, method in self.methods.items():
            if name not in ("__init__", "__post_init__", "__new__", "__setstate__", "__init_subclass__"):
                found |= method.self_writes
        return found


@dataclass(frozen=True)
class Where:
    """The context an expression is evaluated in: its scope and statement, plus bindings that are
    active because the trace entered a helper call (parameters) or a comprehension (targets)."""

    scope: Scope
    stmt: StmtInfo
    env: tuple[tuple[str, EnvBinding], ...] = ()

    def lookup_env(self, name: str) -> EnvBinding | None:
        for key, value in reversed(self.env):
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class EnvBinding:
    value: cst.BaseExpression
    where: Where
    flow: Flow
    note: str


@dataclass(eq=False)
class Step:
    """One node of a key's provenance tree. The root is the key expression itself; `children` are
    the values this step was built from, each reaching it by `child.flow`."""

    node: cst.CSTNode
    op: str  # see keyflow's module docstring for the list
    flow: Flow
    note: str
    where: Where
    callee: str | None = None  # dotted callee for "call"/"format", ".name" for "method"; the name for "name"/"param"/"attr"
    spec: str | None = None  # format spec applied to this value (f"{t:%Y}", format(t, "%Y"), strftime argument)
    children: list[Step] = field(default_factory=list)
    param: Param | None = None  # for op "param"
    function: FunctionInfo | None = None  # for op "param"/"call"/"return": the function involved
    cls: ClassInfo | None = None  # for "call" of a module class (constructor) or "self"
    truncated: bool = False  # the walk stopped here (depth/size bound), children may be missing
    incomplete: bool = False  # some step below was truncated (such subtrees are not memoised)


@dataclass(eq=False)
class Sink:
    """A place a value is used as a key."""

    node: cst.CSTNode  # what is reported: the Subscript, Comparison or Call
    key: cst.BaseExpression
    kind: str  # "subscript" | "contains" | "mapping-method" | "cached-call" | "cache-client" | "custom" | "filename"
    operation: str  # "read" | "write" | "delete"
    where: Where
    mapping: cst.BaseExpression | None  # the container / client / cached function expression
    mapping_id: str | None  # "global:NAME", "attr:Class.name" (self.name in Class), "func:NAME" for cached functions
    mapping_label: str  # source text for messages: "self._streams", "cache", "lookup()"
    persistent: bool  # the key leaves the process (redis/memcache/Django/diskcache/shelve/file names)
    method: str | None = None  # "get", "pop", "set", ... for method sinks
    api: str | None = None  # "redis", "memcache", "django", "diskcache", "aiocache", "cachetools", "shelve", "lru_cache", ...
    function: FunctionInfo | None = None  # for "cached-call": the cached function

    @property
    def statement(self) -> cst.CSTNode:
        return self.where.stmt.anchor
