"""JSON: an array of findings in the shape of `Diagnostic.to_json()` (or statistics rows)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext, rule_name, statistics_rows


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    if context.statistics:
        data: object = [{"code": c, "name": rule_name(c), "count": n} for n, c in statistics_rows(diagnostics)]
    else:
        data = [d.to_json() for d in diagnostics]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
