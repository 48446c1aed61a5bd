"""GitLab Code Quality (a CodeClimate subset): description, check_name, fingerprint, severity,
location.path and location.lines.begin. Fingerprints hash the line's text, not its number."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext, fingerprints

SEVERITY = "major"  # GitLab: info, minor, major, critical, blocker


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    issues: list[dict[str, Any]] = []
    for d, fingerprint in zip(diagnostics, fingerprints(diagnostics, context)):
        issues.append(
            {
                "type": "issue",
                "description": f"{d.code} {d.message}",
                "check_name": d.code,
                "categories": ["Bug Risk"],
                "fingerprint": fingerprint,
                "severity": SEVERITY,
                "location": {"path": context.relative_uri(d.path), "lines": {"begin": d.line, "end": d.end_line}},
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
