"""The rule base class and the example types rules carry beside them.

API (stable; KL3xx-KL8xx rules code against it)
-----------------------------------------------
A rule is a module in `rules/` (imported as `keylint.rules.<module>`) defining one `Rule` subclass:

    class FormattedContext(Rule):
        code = "KL101"; name = "formatted-context"; summary = "one line"
        what = "..."; why = "..."; example = "code"; use_instead = "code"   # ruff-style docs
        VALID: ClassVar[list[Valid | str]] = [...]      # >= 12, near-misses included
        INVALID: ClassVar[list[Invalid | str]] = [...]  # >= 12; Invalid(code, line=, column=, expected_fix=)

        def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]: ...
        # or override check(analysis) to look beyond sinks (e.g. decorators for method caches)

`self.settings` is the run's `Settings`. A `Finding(node, message, source=None, chain=(), fix=None,
statement=None)` is reported at `node` (a libcst node; the engine turns it into 1-based line and
code-point columns, end exclusive); `source` is the unstable value's node; `chain` is a sequence of
`(node, note)` from the source to the sink. `self.finding(sink, path, message, source=step)` builds
one from a provenance path (root-first, as `iter_paths` yields it). Fixes: `NodeFix(applicability,
message, edits=[NodeEdit(node, new_text)])` (replace the node's source range), converted by the engine
to `keylint.diagnostics.Fix`; a ready `Fix` is accepted too. Helpers: `consequence(sink)` phrases what
follows for the sink ("`self._streams` gets a new entry per call"); `is_sanitized(step)` is True at a
`Settings.sanitizers` call (pass it as `iter_paths(..., stop=self.is_sanitized)`); `deepest(paths)`
picks the longest matching path (the origin furthest from the sink, best for `source`/`chain`). Rules should never raise; if one does, the engine reports KL001 naming
the rule and the error (the file's other rules still run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from keylint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

    from keylint.diagnostics import Fix
    from keylint.keyflow import ModuleAnalysis, Sink, Step


@dataclass(frozen=True)
class Valid:
    """Code the rule must not report."""

    code: str | bytes
    note: str = ""


@dataclass(frozen=True)
class Invalid:
    """Code the rule must report; `line`/`column` (1-based) pin the first finding when given;
    `expected_fix` is the source after applying the rule's fixes (checked once fixes exist)."""

    code: str | bytes
    line: int | None = None
    column: int | None = None
    expected_fix: str | None = None
    note: str = ""


@dataclass(frozen=True)
class NodeEdit:
    node: cst.CSTNode
    content: str


@dataclass(frozen=True)
class NodeFix:
    applicability: Literal["safe", "unsafe"]
    message: str
    edits: tuple[NodeEdit, ...]


@dataclass
class Finding:
    node: cst.CSTNode
    message: str
    source: cst.CSTNode | None = None
    chain: Sequence[tuple[cst.CSTNode, str]] = ()
    fix: NodeFix | Fix | None = None
    statement: cst.CSTNode | None = None  # accept suppression comments on this statement's last line
    code: str | None = None  # set by the engine


class Rule:
    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    what: ClassVar[str] = ""
    why: ClassVar[str] = ""
    example: ClassVar[str] = ""
    use_instead: ClassVar[str] = ""
    VALID: ClassVar[list[Valid | str]] = []
    INVALID: ClassVar[list[Invalid | str]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check(self, analysis: ModuleAnalysis) -> Iterable[Finding]:
        for sink in analysis.sinks:
            yield from self.check_sink(sink, analysis)

    def check_sink(self, sink: Sink, analysis: ModuleAnalysis) -> Iterable[Finding]:
        return ()

    # ---- helpers ------------------------------------------------------------------------------
    @staticmethod
    def is_sanitized(step: Step) -> bool:
        return step.op == "sanitizer"

    def finding(self, sink: Sink, path: Sequence[Step], message: str, source: Step | None = None,
                fix: NodeFix | Fix | None = None) -> Finding:
        """A finding at the sink with the chain from `source` (default: the path's last step) up."""
        if source is not None and source in path:
            path = path[: list(path).index(source) + 1]
        chain: list[tuple[cst.CSTNode, str]] = []
        seen: set[int] = set()
        for step in reversed(path):
            if id(step.node) in seen:
                continue
            seen.add(id(step.node))
            chain.append((step.node, step.note or step.op))
        return Finding(
            node=sink.node,
            message=message,
            source=path[-1].node if path else None,
            chain=chain,
            fix=fix,
            statement=sink.statement,
        )

    @staticmethod
    def deepest(paths: Iterable[Sequence[Step]]) -> Sequence[Step] | None:
        """The longest of some matching paths: its last step is the value furthest from the sink."""
        best: Sequence[Step] | None = None
        for path in paths:
            if best is None or len(path) > len(best):
                best = path
        return best

    @staticmethod
    def consequence(sink: Sink) -> str:
        label = sink.mapping_label
        if sink.kind == "cached-call":
            return f"{label} never hits and keeps one entry per call"
        if sink.kind == "filename":
            return "each run names a different file"
        if sink.operation == "write":
            return f"`{label}` gets a new entry per call and later lookups and deletes never match"
        if sink.operation == "delete":
            return f"this delete never matches the key the entry was stored under and `{label}` keeps growing"
        return f"lookups in `{label}` miss the entries stored earlier"

    @classmethod
    def examples(cls) -> tuple[list[Valid], list[Invalid]]:
        valid = [v if isinstance(v, Valid) else Valid(v) for v in cls.VALID]
        invalid = [i if isinstance(i, Invalid) else Invalid(i) for i in cls.INVALID]
        return valid, invalid
