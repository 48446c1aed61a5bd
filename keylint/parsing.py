"""Guarded reading and parsing: bytes -> text -> `ast` -> libcst, never raising for bad input.

Each stage reports a `ParseFailure` (which the engine turns into KL001) instead of an exception:
undecodable bytes (PEP 263 coding cookies and a UTF-8 BOM are honoured), NUL bytes, files over
the size cap, syntax errors, and nesting deeper than the depth cap. `ast.parse` runs first because
CPython's parser rejects pathological input quickly, while libcst recurses (RecursionError near
1,000 levels; segfaults reported around 3,000 nested parentheses); the depth is measured on the
`ast` tree iteratively, before libcst ever sees the text.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libcst as cst


OUT_OF_MEMORY = "out of memory while parsing: the file is too large for the memory available (see max-file-size)"


@dataclass(frozen=True)
class ParseFailure:
    """Why a file cannot be checked; `line`/`column` are 1-based (column in code points)."""

    message: str
    line: int = 1
    column: int = 1


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_source(source: str | bytes, max_size: int) -> str | ParseFailure:
    """Text of `source`, or why it has none. Bytes are decoded as Python would decode the file."""
    if isinstance(source, str):
        if len(source) > max_size or len(source.encode("utf-8", "surrogatepass")) > max_size:
            return ParseFailure(f"file is larger than the {max_size}-byte limit")
        nul = source.find("\0")
        if nul >= 0:
            return ParseFailure(f"source contains a NUL character at offset {nul}", source.count("\n", 0, nul) + 1)
        return source.removeprefix("\ufeff")
    if len(source) > max_size:
        return ParseFailure(f"file is {len(source)} bytes, larger than the {max_size}-byte limit")
    nul = source.find(b"\0")
    if nul >= 0:
        return ParseFailure(f"source contains a NUL byte at byte {nul}", _line_of_offset(source, nul))
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as exc:  # unknown encoding in the cookie, a BOM with another cookie, or bad UTF-8
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        if "invalid or missing encoding declaration" not in message:
            return ParseFailure(f"cannot decode: {message}")
        encoding = "utf-8-sig" if source.startswith(b"\xef\xbb\xbf") else "utf-8"  # locate the bad byte below
    try:
        return source.decode(encoding)  # "utf-8-sig" drops the BOM
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
        return ParseFailure(f"cannot decode as {shown} at byte {exc.start}", _line_of_offset(source, exc.start))
    except LookupError:
        return ParseFailure(f"cannot decode: unknown encoding {encoding!r}")


def parse_ast(text: str, path: str) -> ast.Module | ParseFailure:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the checked code's SyntaxWarnings are not keylint's output
            return ast.parse(text, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = exc.offset or 1
        return ParseFailure(f"syntax error: {exc.msg} (line {line})", line, max(column, 1))
    except RecursionError:
        return ParseFailure("nesting too deep to parse")
    except MemoryError:  # CPython's parser also says MemoryError for some deep nesting
        return ParseFailure("nesting too deep, or file too large, to parse (MemoryError)")
    except (ValueError, OverflowError, UnicodeError) as exc:
        return ParseFailure(f"cannot parse: {exc}")


def nesting_depth(tree: ast.AST) -> int:
    """Deepest node of `tree`, counted without recursion (the tree may be arbitrarily deep). Leaves
    (names, constants, operators, contexts) add their fixed height without being pushed."""
    best = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    pop, push = stack.pop, stack.append
    node_type = ast.AST
    leaves = _LEAF_HEIGHT
    while stack:
        node, depth = pop()
        if depth > best:
            best = depth
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, node_type):
                height = leaves.get(type(value))
                if height is None:
                    push((value, depth + 1))
                elif depth + height > best:
                    best = depth + height
            elif type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        height = leaves.get(type(item))
                        if height is None:
                            push((item, depth + 1))
                        elif depth + height > best:
                            best = depth + height
    return best


# Node types whose subtree height never varies: a Name holds its context, the rest hold no node.
_LEAF_HEIGHT: dict[type, int] = {
    ast.Name: 2, ast.Constant: 1, ast.Load: 1, ast.Store: 1, ast.Del: 1, ast.alias: 1, ast.Pass: 1, ast.Break: 1,
    ast.Continue: 1, ast.Global: 1, ast.Nonlocal: 1,
    **{kind: 1 for base in (ast.operator, ast.boolop, ast.cmpop, ast.unaryop) for kind in base.__subclasses__()},
}


def check_depth(tree: ast.AST, max_depth: int) -> ParseFailure | None:
    depth = nesting_depth(tree)
    if depth > max_depth:
        return ParseFailure(f"nesting depth {depth} exceeds the limit of {max_depth}")
    return None


def parse_cst(text: str) -> cst.Module | ParseFailure:
    import libcst

    try:
        return libcst.parse_module(text)
    except libcst.ParserSyntaxError as exc:
        return ParseFailure(f"syntax error: {exc.message} (line {exc.raw_line})", exc.raw_line, exc.raw_column + 1)
    except RecursionError:
        return ParseFailure("nesting too deep to parse")
    except MemoryError:
        return ParseFailure(OUT_OF_MEMORY)
    except Exception as exc:  # noqa: BLE001 - libcst's native parser raises assorted errors on odd input
        return ParseFailure(f"cannot parse: {type(exc).__name__}: {exc}")
