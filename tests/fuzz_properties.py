"""The properties keylint must keep on any input, shared by tests/test_fuzz.py, the replay of
tests/regressions/ and bench/fuzz.py (which runs them for longer and saves failing inputs).

`violations(source)` checks one input and returns what went wrong (empty when all is well):
- `check_source` never raises;
- every finding's range (and its source, chain steps and fix edits) lies inside the file:
  line <= number of lines, columns within the line's code-point length (end exclusive, so up to
  length + 1), end >= start;
- the `ast` screen (keylint.screen) hides nothing: the findings equal those of a full libcst run;
- with every fix applied (`--fix --unsafe-fixes`, through keylint.fixes), the text re-parses and
  a second fix changes nothing.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from keylint import fixes
from keylint.diagnostics import Diagnostic
from keylint.engine import check_source
from keylint.registry import all_rules
from keylint.settings import Settings

SETTINGS = Settings()  # every rule
REGRESSIONS_DIR = Path(__file__).resolve().parent / "regressions"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # Python's line breaks (not str.splitlines': no \f, \x1c...)


def file_lines(source: str | bytes) -> list[int]:
    """Length of each line (code points; bytes when the input does not decode), endings excluded."""
    if isinstance(source, bytes):
        decoded = fixes.decode_source(source)
        if decoded is None:
            return [len(line) for line in re.split(rb"\r\n|\r|\n", source)]
        text = decoded.text  # "utf-8-sig" already dropped one BOM; a second one is a character
    else:
        text = source.removeprefix("\ufeff")
    return [len(line) for line in _LINE_BREAK.split(text)]


def _range_problem(what: str, lines: list[int], start: tuple[int, int], end: tuple[int, int]) -> str | None:
    (line, column), (end_line, end_column) = start, end
    for row, col in (start, end):
        if not 1 <= row <= len(lines):
            return f"{what}: line {row} outside 1..{len(lines)}"
        if not 1 <= col <= lines[row - 1] + 1:
            return f"{what}: column {col} outside 1..{lines[row - 1] + 1} on line {row}"
    if (end_line, end_column) < (line, column):
        return f"{what}: end {end} before start {start}"
    return None


def range_problems(found: list[Diagnostic], lines: list[int]) -> list[str]:
    problems = []
    for d in found:
        where = f"{d.code} at {d.line}:{d.column}"
        checks = [(where, (d.line, d.column), (d.end_line, d.end_column))]
        if d.source is not None:
            checks.append((f"{where} source", (d.source.line, d.source.column), (d.source.line, d.source.column)))
        checks += [(f"{where} chain step", (s.line, s.column), (s.line, s.column)) for s in d.chain]
        if d.fix is not None:
            checks += [(f"{where} fix edit", (e.line, e.column), (e.end_line, e.end_column)) for e in d.fix.edits]
        problems += [p for p in (_range_problem(w, lines, s, e) for w, s, e in checks) if p is not None]
    return problems


def _parses(text: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check(text: str) -> list[Diagnostic]:
    return check_source(text, "fuzz.py", SETTINGS)


def fix_problems(source: str | bytes, found: list[Diagnostic]) -> list[str]:
    decoded = fixes.decode_source(source) if isinstance(source, bytes) else fixes.DecodedSource(source, "utf-8")
    if decoded is None or not any(fixes.eligible(d, True) for d in found):
        return []
    first = fixes.fix_text(decoded.text, found, _check, unsafe=True)
    if first.fixed == 0:
        return []
    problem = _parses(first.text)
    if problem is not None:
        return [f"fixed text does not parse: {problem}"]
    problems = [f"after fix: {p}" for p in range_problems(first.remaining, file_lines(first.text))]
    second = fixes.fix_text(first.text, _check(first.text), _check, unsafe=True)
    if second.text != first.text:
        problems.append(f"a second fix changed the text again ({second.fixed} more fixes)")
    return problems


def _libcst_limit(d: Diagnostic) -> bool:
    return d.code == "KL001" and d.message.startswith(("valid Python that libcst cannot parse", "libcst does not reproduce"))


def _codes(found: list[Diagnostic]) -> list[str]:
    return [f"{d.code}@{d.line}:{d.column}" for d in found]


def violations(source: str | bytes) -> list[str]:
    """Everything wrong with keylint's handling of `source` (empty: all properties hold)."""
    try:
        found = check_source(source, "fuzz.py", SETTINGS)
        internal = [d.message for d in found if d.code == "KL001" and "internal error" in d.message]
        # A libcst limit (KL001 on valid Python) shows only when libcst runs: not a hidden finding.
        unscreened = [d for d in check_source(source, "fuzz.py", SETTINGS, screen=False) if not _libcst_limit(d)]
        screened = [d for d in found if not _libcst_limit(d)]
        screen = [] if unscreened == screened else [f"the ast screen changed the findings: {_codes(screened)} != {_codes(unscreened)}"]
        return (
            screen
            + [f"internal error: {m}" for m in internal]
            + range_problems(found, file_lines(source))
            + fix_problems(source, found)
        )
    except Exception:  # noqa: BLE001 - the property under test is "never raises"
        return ["raised: " + traceback.format_exc(limit=8)]


# -- inputs ----------------------------------------------------------------------------------------


def seed_files() -> list[Path]:
    """Real files to mutate: a slice of the stdlib, the test fixtures and keylint's own sources."""
    repo = Path(__file__).resolve().parent.parent
    stdlib = Path(ast.__file__).parent
    picks = ["ast.py", "functools.py", "asyncio/locks.py", "json/encoder.py", "string.py", "textwrap.py"]
    files = [stdlib / p for p in picks if (stdlib / p).is_file()]
    files += sorted((repo / "tests" / "fixtures").glob("*.py"))
    files += sorted((repo / "rules").glob("kl*.py"))[:4]
    return files


def rule_examples() -> list[str | bytes]:
    codes: list[str | bytes] = []
    for rule in all_rules().values():
        valid, invalid = rule.examples()
        codes += [e.code for e in valid] + [e.code for e in invalid]
    return codes


def seed_corpus() -> list[bytes]:
    """Small, interesting inputs: the rule examples (they carry findings and fixes) and real files."""
    seeds = [c.encode("utf-8") if isinstance(c, str) else c for c in rule_examples()]
    seeds += [p.read_bytes() for p in seed_files()]
    return seeds


_SPLICE = [
    b"\0", b"\r", b"\r\n", b"\n", b"\t", b"\xef\xbb\xbf", b"\xff", b"\xe9", b"\\", b"(", b")", b"[", b"]",
    b"{", b"}", b":", b"'", b'"', b'"""', b"#", b" ", b"    ", b"f'{", b"}'", b"lambda: ", b"-", b"\x0c",
    b"# -*- coding: latin-1 -*-\n", b"# keylint: noqa\n", b"  # noqa: KL101", b"\xe2\x80\xa8", b"\xf0\x9f\x90\x8d",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four byte-level edits: flip, insert, delete, duplicate or splice in a token."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(6)
        if op == 0 and buf and pos < len(buf):
            buf[pos] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice(_SPLICE)
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3 and buf:
            chunk = buf[pos : pos + rng.randint(1, 64)]
            where = rng.randint(0, len(buf))
            buf[where:where] = chunk
        elif op == 4:
            buf[pos:pos] = bytes([rng.randrange(256)])
        else:  # swap line endings in a region
            end = min(len(buf), pos + rng.randint(1, 400))
            buf[pos:end] = bytes(buf[pos:end]).replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n"]))
    return bytes(buf)


def small_slices(data: bytes, rng: random.Random, limit: int = 6000) -> bytes:
    """A whole-line window of `data`, so mutated stdlib files stay quick to check."""
    if len(data) <= limit:
        return data
    start = data.rfind(b"\n", 0, rng.randrange(len(data) - limit)) + 1
    end = data.find(b"\n", start + limit)
    return data[start : end if end > 0 else len(data)]


def save_regression(source: str | bytes) -> Path:
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    REGRESSIONS_DIR.mkdir(exist_ok=True)
    path = REGRESSIONS_DIR / f"{hashlib.sha256(data).hexdigest()[:16]}.py.bin"
    path.write_bytes(data)
    return path


def regression_inputs() -> Iterator[Path]:
    yield from sorted(REGRESSIONS_DIR.glob("*.bin"))


if __name__ == "__main__":  # check one file: python tests/fuzz_properties.py FILE
    for name in sys.argv[1:]:
        print(name, violations(Path(name).read_bytes()) or "ok")
