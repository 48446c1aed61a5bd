"""Output formats. Each module has `render(diagnostics, context) -> str`; only the chosen one is
imported. Shared here: the context (files checked, source lines), rule docs and path helpers."""

from __future__ import annotations

import importlib
import io
import os
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from keylint.diagnostics import Diagnostic

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
_MODULES = {"json": "json_format"}



def information_uri() -> str:
    """The project's home page from the installed metadata (PyPI's page when none is declared)."""
    from importlib import metadata

    try:
        meta = metadata.metadata("keylint")
    except metadata.PackageNotFoundError:
        return "https://pypi.org/project/keylint/"
    entries: list[str] = meta.get_all("Project-URL") or []
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository") and url.strip():
            return url.strip()
    home: str | None = meta["Home-page"] if "Home-page" in meta else None
    return home or "https://pypi.org/project/keylint/"


class Renderer(Protocol):
    def __call__(self, diagnostics: Sequence[Diagnostic], context: ReportContext) -> str: ...


@dataclass(frozen=True)
class RuleDoc:
    code: str
    name: str
    summary: str
    what: str
    why: str
    example: str
    use_instead: str

    def markdown(self) -> str:
        """ruff-style rule documentation."""
        parts = [f"# {self.code} {self.name}", "", self.summary.strip(), "", "## What it does", self.what.strip(),
                 "", "## Why is this bad?", self.why.strip()]  # fmt: skip
        if self.example.strip():
            parts += ["", "## Example", "```python", self.example.strip("\n"), "```"]
        if self.use_instead.strip():
            parts += ["", "## Use instead", "```python", self.use_instead.strip("\n"), "```"]
        return "\n".join(parts) + "\n"


KL001_DOC = RuleDoc(
    code="KL001",
    name="unreadable-file",
    summary="A file keylint could not read, decode or parse, or one over the size or depth limits.",
    what="Reports a file that could not be checked at all: it cannot be read, its bytes do not decode "
    "as its declared encoding, it is not valid Python 3, or it exceeds `max-file-size`/`max-depth`.",
    why="A file keylint cannot parse is a file whose keys nobody checked. The finding is always "
    "reported, whatever the selection, so a run never passes silently over it.",
    example="def broken(:\n    pass\n",
    use_instead="def fixed():\n    pass\n",
)


def rule_docs() -> dict[str, RuleDoc]:
    """Docs of every rule, keyed and sorted by code (KL001 included)."""
    from keylint.registry import all_rules

    docs = {"KL001": KL001_DOC}
    for code, rule in all_rules().items():
        docs[code] = RuleDoc(
            code=code,
            name=rule.name,
            summary=rule.summary,
            what=rule.what,
            why=rule.why,
            example=rule.example,
            use_instead=rule.use_instead,
        )
    return dict(sorted(docs.items()))


class SourceLines:
    """Lines of checked files for display, read lazily; texts given up front win (stdin)."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self._texts: dict[str, list[str] | None] = {p: _split(t) for p, t in (texts or {}).items()}

    def add(self, path: str, text: str) -> None:
        self._texts[path] = _split(text)

    def line(self, path: str, number: int) -> str | None:
        if path not in self._texts:
            self._texts[path] = _read_lines(path)
        lines = self._texts[path]
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1]


def _split(text: str) -> list[str]:
    import re

    return re.split(r"\r\n|\r|\n", text)


def _read_lines(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024 * 1024)
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError:
            encoding = "utf-8"
        return _split(data.decode(encoding, errors="replace"))
    except (OSError, LookupError):
        return None


@dataclass
class ReportContext:
    files: Sequence[str] = ()  # every file checked, in order (junit lists passing files too)
    lines: SourceLines = field(default_factory=SourceLines)
    root: str = field(default_factory=os.getcwd)  # relative paths in SARIF/GitLab are taken from here
    fixed: int = 0
    would_fix: int = 0  # --diff: fixes shown, not applied
    statistics: bool = False
    quiet: bool = False
    version: str = ""

    def relative_uri(self, path: str) -> str:
        """`path` relative to `root`, forward slashes (absolute when outside it)."""
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, self.root)
        if rel.startswith(".."):
            rel = absolute
        return rel.replace(os.sep, "/")


def get_renderer(name: str) -> Renderer:
    if name not in FORMATS:
        raise ValueError(f"unknown output format {name!r}; expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"keylint.report.{_MODULES.get(name, name)}")
    renderer: Renderer = module.render
    return renderer


def statistics_rows(diagnostics: Sequence[Diagnostic]) -> list[tuple[int, str]]:
    """(count, code), most frequent first."""
    counts: dict[str, int] = {}
    for d in diagnostics:
        counts[d.code] = counts.get(d.code, 0) + 1
    return sorted(((n, c) for c, n in counts.items()), key=lambda row: (-row[0], row[1]))


def rule_name(code: str) -> str:
    """A rule's name for display; the code itself when the rule set cannot be loaded."""
    try:
        doc = rule_docs().get(code)
    except Exception:
        doc = KL001_DOC if code == "KL001" else None
    return doc.name if doc else code


def fingerprints(diagnostics: Sequence[Diagnostic], context: ReportContext) -> list[str]:
    """Stable per-finding hashes of code, relative path and the line's text (not its number), so
    moving code keeps them; repeats of the same text in one file get an occurrence counter."""
    import hashlib

    seen: dict[str, int] = {}
    result = []
    for d in diagnostics:
        text = (context.lines.line(d.path, d.line) or "").strip()
        base = f"{d.code}\0{context.relative_uri(d.path)}\0{text}"
        occurrence = seen.get(base, 0)
        seen[base] = occurrence + 1
        result.append(hashlib.sha256(f"{base}\0{occurrence}".encode("utf-8", "backslashreplace")).hexdigest())
    return result
