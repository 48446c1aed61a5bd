"""SARIF 2.1.0 for code-scanning services (GitHub, Azure DevOps): rules with help, results with
regions in Unicode code points, the source-to-sink chain as a code flow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext, RuleDoc, fingerprints, information_uri, rule_docs

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to the source root when inside it, else an absolute file URI."""
    if path.startswith("/") or (len(path) > 2 and path[1] == ":"):
        return Path(path).as_uri(), None
    return quote(path.encode("utf-8", "surrogateescape"), safe="/"), SRCROOT


def _rule(doc: RuleDoc) -> dict[str, Any]:
    text = f"{doc.what.strip()}\n\n{doc.why.strip()}"
    return {
        "id": doc.code,
        "name": doc.name,
        "shortDescription": {"text": doc.summary.strip() or doc.name},
        "fullDescription": {"text": doc.what.strip() or doc.summary.strip() or doc.name},
        "help": {"text": text, "markdown": doc.markdown()},
        "defaultConfiguration": {"level": "error"},
    }


def _location(uri: tuple[str, str | None], line: int, column: int, end_line: int | None = None, end_column: int | None = None,
              message: str | None = None) -> dict[str, Any]:  # fmt: skip
    region: dict[str, int] = {"startLine": max(line, 1), "startColumn": max(column, 1)}
    if end_line is not None and end_column is not None:
        region["endLine"] = max(end_line, region["startLine"])
        end = max(end_column, 1)
        if region["endLine"] == region["startLine"]:
            end = max(end, region["startColumn"])
        region["endColumn"] = end
    artifact = {"uri": uri[0]} if uri[1] is None else {"uri": uri[0], "uriBaseId": uri[1]}
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": region}}
    if message is not None:
        location["message"] = {"text": message}
    return location


def _code_flow(d: Diagnostic, uri: tuple[str, str | None]) -> list[dict[str, Any]]:
    steps = [(s.line, s.column, s.note) for s in d.chain]
    if not steps and d.source is not None:
        steps = [(d.source.line, d.source.column, "unstable value"), (d.line, d.column, "used as a key")]
    if not steps:
        return []
    flow = [{"location": _location(uri, line, col, message=note)} for line, col, note in steps]
    return [{"threadFlows": [{"locations": flow}]}]


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    try:
        docs = rule_docs()
    except Exception:  # the rule set failed to load; findings are still worth reporting
        from keylint.report import KL001_DOC

        docs = {"KL001": KL001_DOC}
    for code in sorted({d.code for d in diagnostics} - set(docs)):
        docs[code] = RuleDoc(code, code, code, code, "", "", "")
    index = {code: i for i, code in enumerate(docs)}
    results = []
    for d, fingerprint in zip(diagnostics, fingerprints(diagnostics, context)):
        uri = _uri(context.relative_uri(d.path))
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error",
            "message": {"text": d.message},
            "locations": [_location(uri, d.line, d.column, d.end_line, d.end_column)],
            "partialFingerprints": {"keylint/v1": fingerprint},
        }
        flows = _code_flow(d, uri)
        if flows:
            result["codeFlows"] = flows
        results.append(result)
    root_uri = Path(context.root).resolve().as_uri().rstrip("/") + "/"
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "keylint",
                        "version": context.version,
                        "semanticVersion": context.version,
                        "informationUri": information_uri(),
                        "rules": [_rule(doc) for doc in docs.values()],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "invocations": [{"executionSuccessful": True}],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
