"""GitHub Actions workflow commands: one `::error ...::message` annotation per finding."""

from __future__ import annotations

from collections.abc import Sequence

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    lines = []
    for d in diagnostics:
        props = {
            "file": context.relative_uri(d.path),
            "line": d.line,
            "col": d.column,
            "endLine": d.end_line,
            "endColumn": d.end_column,
            "title": d.code,
        }
        text = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
        lines.append(f"::error {text}::{escape_data(d.message)}\n")
    return "".join(lines)
