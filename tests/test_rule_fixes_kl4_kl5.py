"""KL401/KL501 fixes through the real engine and `keylint.fixes`: the expected text, unsafe-only
applicability, re-parsing, idempotence, one `import hashlib` for several findings, and the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from keylint.cli import main
from keylint.engine import check_source
from keylint.fixes import fix_text
from keylint.registry import get_rule
from keylint.rule import Invalid
from keylint.settings import Settings

CODES = ("KL401", "KL501")


def _fix_cases() -> list[object]:
    cases = []
    for code in CODES:
        rule = get_rule(code)
        assert rule is not None
        for index, example in enumerate(rule.examples()[1]):
            if example.expected_fix is not None:
                cases.append(pytest.param(code, example, id=f"{code}-{index}"))
    return cases


def _fix(code: str, text: str, unsafe: bool = True) -> tuple[str, int, list[str]]:
    settings = Settings(select=(code,))
    check = lambda t: check_source(t, "example.py", settings)
    outcome = fix_text(text, check(text), check, unsafe=unsafe)
    assert outcome.error is None
    return outcome.text, outcome.fixed, [d.code for d in outcome.remaining]


def test_both_rules_carry_fix_examples() -> None:
    codes = {case.values[0] for case in _fix_cases()}  # type: ignore[attr-defined]
    assert codes == set(CODES)


@pytest.mark.parametrize(("code", "example"), _fix_cases())
def test_fix_gives_expected_text_reparses_and_is_idempotent(code: str, example: Invalid) -> None:
    assert isinstance(example.code, str) and example.expected_fix is not None
    diagnostics = [d for d in check_source(example.code, "example.py", Settings(select=(code,))) if d.code == code]
    assert diagnostics and all(d.fix is not None and d.fix.applicability == "unsafe" for d in diagnostics)
    assert all("no longer found" in d.fix.message for d in diagnostics if d.fix)
    fixed, count, remaining = _fix(code, example.code)
    assert fixed == example.expected_fix and count >= 1
    ast.parse(fixed)
    assert code not in remaining  # the fixed file no longer has the finding
    again, count_again, _ = _fix(code, fixed)
    assert (again, count_again) == (fixed, 0)


@pytest.mark.parametrize(("code", "example"), _fix_cases())
def test_fixes_change_keys_so_safe_mode_leaves_them(code: str, example: Invalid) -> None:
    assert isinstance(example.code, str)
    text, count, remaining = _fix(code, example.code, unsafe=False)
    assert (text, count) == (example.code, 0) and code in remaining


def test_several_hash_findings_add_one_import_and_keep_bytes_and_text_forms() -> None:
    source = (
        "import redis\n\nr = redis.Redis()\n\n"
        "def get(url: str, blob: bytes):\n"
        "    a = r.get(f\"p:{hash(url)}\")\n"
        "    b = r.get(\"b:%d\" % hash(blob))\n"
        "    return a, b\n"
    )
    fixed, count, remaining = _fix("KL401", source)
    assert fixed.count("import hashlib") == 1 and count == 2 and remaining == []
    assert 'f"p:{hashlib.sha256(url.encode()).hexdigest()}"' in fixed
    assert '"b:%d" % int(hashlib.sha256(blob).hexdigest()[:16], 16)' in fixed
    namespace: dict[str, object] = {}
    exec(compile(fixed.replace("import redis\n", "").replace("r = redis.Redis()\n", ""), "<fixed>", "exec"), namespace)
    assert _fix("KL401", fixed)[:2] == (fixed, 0)


def test_fixed_hash_key_is_the_same_in_two_processes(tmp_path: Path) -> None:
    """The point of the fix: the digest does not depend on PYTHONHASHSEED (run with two seeds)."""
    import os
    import subprocess
    import sys

    # The module starts with a def: `import hashlib` goes in as a line of its own.
    source = 'def path(url: str):\n    return open(f"/tmp/x-{hash(url)}.json")\n'
    fixed, count, _ = _fix("KL401", source)
    assert count == 1 and fixed.startswith("import hashlib\n")
    expression = fixed.split("open(", 1)[1].rsplit(")", 1)[0]
    program = f"import hashlib\nurl = 'https://example.org/a'\nprint({expression})\n"
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outputs.add(subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True).stdout)
    assert len(outputs) == 1
    broken = {subprocess.run([sys.executable, "-c", "print(hash('https://example.org/a'))"],
                             env=dict(os.environ, PYTHONHASHSEED=seed), capture_output=True, text=True, check=True).stdout
              for seed in ("1", "2")}
    assert len(broken) == 2  # and the original really differed


def test_cli_fix_applies_kl5_fixes_only_with_unsafe_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    original = (
        "import json\n\n_cache = {}\n\n"
        "def get(tags: set, **kw):\n"
        "    return _cache.get((\",\".join(tags), json.dumps(kw)))\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(original)
    assert main(["check", "mod.py", "--select", "KL501", "--no-cache", "--fix"]) == 1
    assert path.read_text() == original  # unsafe fixes are not applied by --fix alone
    capsys.readouterr()
    assert main(["check", "mod.py", "--select", "KL501", "--no-cache", "--fix", "--unsafe-fixes"]) == 0
    fixed = path.read_text()
    assert '",".join(sorted(tags))' in fixed and "json.dumps(kw, sort_keys=True)" in fixed
    ast.parse(fixed)
    assert main(["check", "mod.py", "--select", "KL501", "--no-cache", "--fix", "--unsafe-fixes"]) == 0
    assert path.read_text() == fixed


def test_fixes_keep_the_layout_of_multi_line_calls_and_files_without_imports() -> None:
    source = 'import json\n_c = {}\n\n\ndef g(**kw):\n    return _c.get(json.dumps(\n        kw,\n    ))\n'
    fixed, count, _ = _fix("KL501", source)
    assert count == 1 and fixed == source.replace("        kw,\n", "        kw, sort_keys=True,\n")
    # No import yet and a decorated def first: the import goes above the decorator, after the header.
    source = '#!/usr/bin/env python\n# header\n\n@register\ndef path(url: str):\n    return open(f"/tmp/{hash(url)}")\n'
    fixed, count, _ = _fix("KL401", source)
    assert count == 1 and fixed.startswith("#!/usr/bin/env python\n# header\n\nimport hashlib\n@register\n")
    ast.parse(fixed)
    assert _fix("KL401", fixed)[:2] == (fixed, 0)
