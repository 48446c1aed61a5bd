"""A small stand-in engine for the user-facing layer's tests (CLI, reports, fixes).

It keeps the engine's contract (KL001 for undecodable/unparsable input, selection applied,
sorted, never raises) with trivially predictable findings, so the tests of the CLI, the formats
and the fixer do not depend on what the real rules decide:
- KL101 at every `str(ctx)`, with a two-step chain;
- KL102 at every `json.dumps(NAME)` without sort_keys, with an *unsafe* fix adding it;
- KL201 at every `",".join(NAME)`, with a *safe* fix wrapping NAME in sorted().
(Registered codes are reused so that selection flags validate; the messages are made up.)
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

import pytest

from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position
from keylint.settings import Settings

_DUMPS = re.compile(r"json\.dumps\((\w+)\)")
_JOIN = re.compile(r'",".join\((\w+)\)')


def _kl001(path: str, message: str) -> Diagnostic:
    return Diagnostic("KL001", message, path, 1, 1, 1, 1)


def fake_check_source(source: str | bytes, path: str, settings: Settings) -> list[Diagnostic]:
    if isinstance(source, bytes):
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
            text = source.decode(encoding)
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            return [_kl001(path, f"cannot decode: {exc}")]
    else:
        text = source
    try:
        ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        return [_kl001(path, f"cannot parse: {exc}")]
    found = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        for m in re.finditer(r"str\(ctx\)", line):
            col = m.start() + 1
            found.append(Diagnostic(
                "KL101", "the text of `ctx` changes between calls", path, number, col, number, m.end() + 1,
                source=Position(number, col + 4),
                chain=(ChainStep(number, col + 4, "`ctx` is a context"), ChainStep(number, col, "formatted by str()")),
            ))  # fmt: skip
        for m in _DUMPS.finditer(line):
            e = m.end(1) + 1
            fix = Fix("unsafe", "add sort_keys=True", (Edit(number, e, number, e, ", sort_keys=True"),))
            found.append(Diagnostic("KL102", "dict text depends on insertion order", path, number, m.start() + 1,
                                    number, m.end() + 1, fix=fix))  # fmt: skip
        for m in _JOIN.finditer(line):
            s, e = m.start(1) + 1, m.end(1) + 1
            fix = Fix("safe", "sort before joining", (Edit(number, s, number, e, f"sorted({m.group(1)})"),))
            found.append(Diagnostic("KL201", "set order varies between processes", path, number, m.start() + 1,
                                    number, m.end() + 1, fix=fix))  # fmt: skip
    found = [d for d in found if settings.is_enabled(d.code, path)]
    return sorted(found, key=Diagnostic.sort_key)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from keylint import engine

    monkeypatch.setattr(engine, "check_source", fake_check_source)


LEAKY = 'def watch(streams, ctx):\n    key = str(ctx)\n    streams[key] = 1\n'
CLEAN = 'def watch(streams, meta):\n    streams[meta] = 1\n'
