"""Every rule's VALID and INVALID examples, run through the whole engine (parametrised over
`all_rules()`, so a new rule module is covered without touching this file)."""

from __future__ import annotations

import pytest

from keylint.engine import check_source
from keylint.registry import all_rules
from keylint.rule import Invalid, Rule, Valid
from keylint.settings import Settings

MIN_EXAMPLES = 12


def _cases(kind: str) -> list[object]:
    cases = []
    for code, rule in all_rules().items():
        valid, invalid = rule.examples()
        for index, example in enumerate(valid if kind == "valid" else invalid):
            cases.append(pytest.param(rule, example, id=f"{code}-{kind}-{index}"))
    return cases


def _findings(rule: type[Rule], source: str | bytes) -> list[tuple[int, int, str]]:
    settings = Settings(select=(rule.code,))
    return [(d.line, d.column, d.message) for d in check_source(source, "example.py", settings) if d.code == rule.code]


@pytest.mark.parametrize(("rule", "example"), _cases("valid"))
def test_valid_example_gives_no_finding(rule: type[Rule], example: Valid) -> None:
    assert _findings(rule, example.code) == [], example.note


@pytest.mark.parametrize(("rule", "example"), _cases("invalid"))
def test_invalid_example_is_reported(rule: type[Rule], example: Invalid) -> None:
    found = _findings(rule, example.code)
    assert found, f"{rule.code} missed: {example.note or example.code!r}"
    if example.line is not None:
        assert found[0][0] == example.line, found
    if example.column is not None:
        assert found[0][1] == example.column, found
    assert all(message.strip() for _, _, message in found)
    if example.expected_fix is not None:
        from keylint.fixes import fix_text

        assert isinstance(example.code, str)
        settings = Settings(select=(rule.code,))
        diagnostics = check_source(example.code, "example.py", settings)
        outcome = fix_text(example.code, diagnostics, lambda t: check_source(t, "example.py", settings), unsafe=True)
        assert outcome.text == example.expected_fix


@pytest.mark.parametrize("code", sorted(all_rules()))
def test_rule_has_docs_and_enough_examples(code: str) -> None:
    rule = all_rules()[code]
    valid, invalid = rule.examples()
    assert len(valid) >= MIN_EXAMPLES and len(invalid) >= MIN_EXAMPLES
    assert rule.name and rule.name == rule.name.lower() and " " not in rule.name
    for section in (rule.summary, rule.what, rule.why, rule.example, rule.use_instead):
        assert section.strip()
    assert "\n" not in rule.summary


def test_registry_finds_the_first_rule_families() -> None:
    rules = all_rules()
    assert {"KL001", "KL101", "KL102", "KL201"} <= set(rules)
    assert list(rules) == sorted(rules)
    assert all(code == cls.code for code, cls in rules.items())
    assert all(cls.__module__.startswith("keylint.rules.") for cls in rules.values())
