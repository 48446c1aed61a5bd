"""One file through the pipeline: decode -> ast (syntax, depth) -> libcst -> keyflow -> rules ->
positions -> suppressions. Never raises for bad input: every failure becomes a KL001 finding.

`check_source(source, path, settings) -> list[Diagnostic]`, sorted by (line, column, code).
Positions come from libcst's PositionProvider, resolved only when a rule reported something.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position
from keylint.parsing import (
    OUT_OF_MEMORY,
    ParseFailure,
    check_depth,
    decode_source,
    parse_ast,
    parse_cst,
)
from keylint.settings import Settings

if TYPE_CHECKING:
    import libcst as cst

    from keylint.rule import Finding, NodeFix, Rule
    from keylint.suppress import Suppressions

KL001 = "KL001"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # Python's line breaks, as positions count them
_LAST_LINE_BREAK = re.compile(r"(?:\r\n|\r|\n)\Z")


def _failure(path: str, failure: ParseFailure, text: str | None = None) -> list[Diagnostic]:
    """One KL001. With the decoded `text`, the position is kept inside it (a syntax error may point
    one past the end of a line or of the file); without it, the range is empty."""
    line, column = failure.line, failure.column
    if text is None:
        return [Diagnostic(KL001, failure.message, path, line, column, line, column)]
    lines = _LINE_BREAK.split(text)
    line = min(max(line, 1), len(lines))
    width = len(lines[line - 1])
    column = min(max(column, 1), width + 1)
    return [Diagnostic(KL001, failure.message, path, line, column, line, min(column + 1, width + 1))]


def enabled_rules(settings: Settings, path: str) -> list[type[Rule]]:
    from keylint.registry import all_rules

    return [rule for code, rule in all_rules().items() if code != KL001 and settings.is_enabled(code, path)]


def check_source(source: str | bytes, path: str, settings: Settings, *, screen: bool = True) -> list[Diagnostic]:
    """`screen=False` skips the `ast` fast path (keylint.screen) and runs libcst on every file."""
    try:
        return _check(source, path, settings, screen)
    except RecursionError:
        return _failure(path, ParseFailure("nesting too deep to analyse (RecursionError)"))
    except MemoryError:
        return _failure(path, ParseFailure(OUT_OF_MEMORY))


def _check(source: str | bytes, path: str, settings: Settings, screen: bool) -> list[Diagnostic]:
    text = decode_source(source, settings.max_file_size)
    if isinstance(text, ParseFailure):
        return _failure(path, text)
    tree = parse_ast(text, path)
    if isinstance(tree, ParseFailure):
        return _failure(path, tree, text)
    # The screen walks the tree anyway and bounds its depth (it is safe on any depth): the exact
    # depth check is only needed when that bound does not settle it.
    firing, depth_bound = _firing(tree, text, path, settings) if screen else (None, None)
    if depth_bound is None or depth_bound > settings.max_depth:
        too_deep = check_depth(tree, settings.max_depth)
        if too_deep is not None:
            return _failure(path, too_deep, text)
    if firing is not None and not firing:
        return []  # no selected rule can report here: libcst and the rules are never loaded
    rules = enabled_rules(settings, path)
    if firing is not None:
        rules = [rule for rule in rules if rule.code in firing]  # the others cannot report here
    if not rules:
        return []
    try:
        return _analyse(text, path, settings, rules)
    except RecursionError:
        # Deep libcst trees the `ast` depth check cannot see (a long implicit string concatenation
        # is flat in `ast` but nested in libcst): retry once on a large thread stack.
        return _on_large_stack(text, path, settings, rules)


def _analyse(text: str, path: str, settings: Settings, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    module = parse_cst(text)
    if isinstance(module, ParseFailure):  # Python's parser accepted it: a libcst limit, say so
        failure = ParseFailure(f"valid Python that libcst cannot parse: {module.message}", module.line, module.column)
        return _failure(path, failure, text)
    return run_rules(module, text, path, settings, rules)


LARGE_STACK_BYTES = 512 * 1024 * 1024  # reserved address space; only touched pages cost memory
LARGE_RECURSION_LIMIT = 40_000


def _on_large_stack(text: str, path: str, settings: Settings, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    import sys
    import threading

    result: list[list[Diagnostic]] = []

    def work() -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(LARGE_RECURSION_LIMIT)
        try:
            result.append(_analyse(text, path, settings, rules))
        except (RecursionError, MemoryError) as exc:
            result.append(_failure(path, ParseFailure(f"nesting too deep to analyse ({type(exc).__name__})")))
        finally:
            sys.setrecursionlimit(old)

    previous = threading.stack_size(LARGE_STACK_BYTES)
    try:
        thread = threading.Thread(target=work, name="keylint-deep-file")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    return result[0] if result else _failure(path, ParseFailure("nesting too deep to analyse"))


def _firing(tree: ast.Module, text: str, path: str, settings: Settings) -> tuple[frozenset[str] | None, int | None]:
    """The rules the `ast` screen cannot rule out here (None: all of them), and its bound on the
    tree's depth (None: not known)."""
    from keylint.screen import enabled_codes, screen_module

    codes = enabled_codes(settings, path)
    return (None, None) if codes is None else screen_module(tree, settings, codes, text)


def run_rules(module: cst.Module, text: str, path: str, settings: Settings, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    from keylint.keyflow import ModuleAnalysis

    analysis = ModuleAnalysis(module, settings)
    findings: list[Finding] = []
    errors: list[Diagnostic] = []
    for rule_class in rules:
        rule = rule_class(settings)
        try:
            for finding in rule.check(analysis):
                finding.code = rule_class.code
                findings.append(finding)
        except Exception as exc:  # noqa: BLE001 - a rule bug must not lose the file's other findings
            errors.append(Diagnostic(KL001, f"internal error in rule {rule_class.code}: {type(exc).__name__}: {exc}", path, 1, 1, 1, 2))
    from keylint.suppress import Suppressions, may_hold_directives
    from keylint.unused_suppressions import UNUSED_SUPPRESSION, unused_suppressions

    suppressions = Suppressions(text) if may_hold_directives(text) else None
    found = _to_diagnostics(module, text, path, findings, suppressions) if findings else []
    if suppressions is not None and not errors and any(r.code == UNUSED_SUPPRESSION for r in rules):
        # After the findings used their directives; not when a rule crashed (its findings are unknown).
        found += unused_suppressions(suppressions, text, path, settings)
    if not found:
        return errors
    return sorted(errors + found, key=lambda d: (d.line, d.column, d.code, d.end_line, d.end_column, d.message))


def _to_diagnostics(
    module: cst.Module, text: str, path: str, findings: list[Finding], suppressions: Suppressions | None
) -> list[Diagnostic]:

    wanted: list[cst.CSTNode] = []
    for finding in findings:
        wanted.append(finding.node)
        wanted.extend(n for n in (finding.source, finding.statement) if n is not None)
        wanted.extend(node for node, _ in finding.chain)
        if finding.fix is not None and not isinstance(finding.fix, Fix):
            wanted.extend(edit.node for edit in finding.fix.edits)
    try:
        positions = node_positions(module, wanted, text)
    except SourceMismatch as exc:
        failure = ParseFailure(f"libcst does not reproduce this file exactly from line {exc.line} on, so findings cannot be placed", exc.line)
        return _failure(path, failure, text)
    seen: set[tuple[str, int, int, int, int]] = set()
    found: list[Diagnostic] = []

    def where(node: cst.CSTNode) -> tuple[int, int, int, int] | None:
        span = positions.get(node)
        if span is None:
            return None
        return span.start.line, span.start.column + 1, span.end.line, span.end.column + 1

    for finding in findings:
        span = where(finding.node)
        if span is None:
            continue
        code = finding.code or ""
        key = (code, *span)
        if key in seen:
            continue
        if suppressions is not None:
            lines = [span[0]]
            statement = where(finding.statement) if finding.statement is not None else None
            if statement is not None:
                lines.append(statement[2])
            if suppressions.is_suppressed(code, tuple(lines)):
                continue
        seen.add(key)
        source = where(finding.source) if finding.source is not None else None
        chain = []
        for node, note in finding.chain:
            step = where(node)
            if step is not None:
                chain.append(ChainStep(step[0], step[1], note))
        found.append(
            Diagnostic(
                code=code,
                message=finding.message,
                path=path,
                line=span[0],
                column=span[1],
                end_line=span[2],
                end_column=span[3],
                source=Position(source[0], source[1]) if source else None,
                chain=tuple(chain),
                fix=_fix(finding.fix, where),
            )
        )
    return found


class _Done(Exception):
    pass


class _Reached(Exception):
    pass


class SourceMismatch(Exception):
    """libcst's code generation differs from the parsed text (libcst 1.9 drops a line holding only
    a backslash continuation), so its positions would point at the wrong places."""

    def __init__(self, line: int) -> None:
        super().__init__(f"generated code differs from the source from line {line}")
        self.line = line


def node_positions(module: cst.Module, wanted: Sequence[cst.CSTNode], text: str | None = None) -> dict[cst.CSTNode, Any]:
    """libcst's PositionProvider ranges for `wanted` nodes, without MetadataWrapper's extra tree walk.
    Top-level statements before the first one holding a wanted node are generated without position
    tracking (a third of the cost), and the code generation stops once every wanted node has been
    placed. With `text`, raises SourceMismatch unless the code generated so far is exactly the start
    of `text`."""
    import libcst as cst
    from libcst._nodes.internal import CodegenState
    from libcst._position import CodePosition, CodeRange
    from libcst.metadata.position_provider import PositionProvidingCodegenState

    _NOWHERE = CodeRange(CodePosition(0, 0), CodePosition(0, 0))

    class Ranges(dict[cst.CSTNode, CodeRange]):
        def __missing__(self, key: cst.CSTNode) -> CodeRange:
            return _NOWHERE  # only asked while unwinding after the early stop

    class Recorder:
        def __init__(self) -> None:
            self._computed = Ranges()

    todo = {id(n) for n in wanted}

    class Tripwire(CodegenState):  # type: ignore[misc]
        def before_codegen(self, node: cst.CSTNode) -> None:
            if id(node) in todo:
                raise _Reached

    class State(PositionProvidingCodegenState):  # type: ignore[misc]
        def after_codegen(self, node: cst.CSTNode) -> None:
            super().after_codegen(node)
            if id(node) in todo:
                todo.discard(id(node))
                if not todo:
                    raise _Done

    indent, newline = module.default_indent, module.default_newline
    # The header and the top-level statements holding no wanted node: their text, untracked.
    plain = Tripwire(default_indent=indent, default_newline=newline)
    first = -1  # the first statement holding a wanted node (-1: none found, track the whole module)
    try:
        if id(module) in todo:
            raise _Reached  # the module's own range: track it from its start
        for line in module.header:
            line._codegen(plain)
        for index, statement in enumerate(module.body):
            done = len(plain.tokens)
            try:
                statement._codegen(plain)
            except _Reached:
                del plain.tokens[done:]
                first = index
                break
    except _Reached:
        pass  # the module itself, or a header line
    recorder = Recorder()
    state = State(default_indent=indent, default_newline=newline, provider=recorder)  # type: ignore[arg-type]
    try:
        if first < 0:
            module._codegen(state)
        else:  # the rest of Module._codegen_impl, from that statement on
            prefix = "".join(plain.tokens)
            lines = _LINE_BREAK.split(prefix)
            state.tokens.append(prefix)
            state.line, state.column = len(lines), len(lines[-1])
            for statement in module.body[first:]:
                statement._codegen(state)
            for line in module.footer:
                line._codegen(state)
            if not module.has_trailing_newline:
                state.pop_trailing_newline()
    except _Done:
        pass
    if text is not None:
        produced = "".join(state.tokens)
        if not module.has_trailing_newline and len(produced) > len(text):
            # stopped in the last line: the newline Module drops at the end was not dropped yet
            produced = _LAST_LINE_BREAK.sub("", produced, count=1)
        if not text.startswith(produced):
            differs = next((i for i, (a, b) in enumerate(zip(produced, text)) if a != b), min(len(produced), len(text)))
            raise SourceMismatch(len(_LINE_BREAK.findall(text, 0, differs)) + 1)
    return {node: recorder._computed[node] for node in wanted if node in recorder._computed}


def _fix(fix: NodeFix | Fix | None, where: object) -> Fix | None:
    from keylint.rule import NodeFix

    if fix is None or isinstance(fix, Fix):
        return fix
    assert isinstance(fix, NodeFix)
    edits = []
    for edit in fix.edits:
        span = where(edit.node)  # type: ignore[operator]
        if span is None:
            return None
        edits.append(Edit(span[0], span[1], span[2], span[3], edit.content))
    return Fix(fix.applicability, fix.message, tuple(edits))
