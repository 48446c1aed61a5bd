"""JUnit XML for CI systems without a native lint format: one testsuite, a testcase per file
checked, a <failure> per finding. Text that XML 1.0 cannot hold is replaced, never emitted."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from keylint.diagnostics import Diagnostic
from keylint.report import ReportContext

# Characters XML 1.0 forbids even escaped (C0 controls, lone surrogates, U+FFFE/FFFF).
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def render(diagnostics: Sequence[Diagnostic], context: ReportContext) -> str:
    by_file: dict[str, list[Diagnostic]] = {path: [] for path in context.files}
    for d in diagnostics:
        by_file.setdefault(d.path, []).append(d)
    failures = len(diagnostics)
    suites = ET.Element("testsuites", name="keylint", tests=str(len(by_file)), failures=str(failures), errors="0")
    suite = ET.SubElement(
        suites, "testsuite", name="keylint", tests=str(len(by_file)), failures=str(failures), errors="0", skipped="0"
    )
    for path, found in by_file.items():
        case = ET.SubElement(suite, "testcase", name=_clean(path), classname="keylint", file=_clean(path))
        for d in found:
            failure = ET.SubElement(
                case, "failure", message=_clean(f"{d.code} {d.message}"), type=d.code,
                line=str(d.line), column=str(d.column),
            )  # fmt: skip
            failure.text = _clean(f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
