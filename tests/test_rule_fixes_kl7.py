"""KL701's `cached_property` fix: unsafe only, the result re-parses, a second run changes nothing, and
it is only offered where the module shows every use of the method."""

from __future__ import annotations

import ast

import pytest

from keylint.diagnostics import Diagnostic
from keylint.engine import check_source
from keylint.fixes import fix_text
from keylint.registry import all_rules
from keylint.rule import Invalid
from keylint.settings import Settings

CODES = ("KL601", "KL701", "KL801")



def fixed(source: str, code: str = "KL701", *, unsafe: bool = True) -> tuple[str, int]:
    settings = Settings(select=(code,))

    def check(text: str) -> list[Diagnostic]:
        return check_source(text, "mod.py", settings)

    outcome = fix_text(source, check(source), check, unsafe=unsafe)
    assert outcome.error is None
    return outcome.text, outcome.fixed


def _examples_with_fixes() -> list[object]:
    cases: list[object] = []
    for code in CODES:
        _, invalid = all_rules()[code].examples()
        for index, example in enumerate(invalid):
            if example.expected_fix is not None:
                cases.append(pytest.param(code, example, id=f"{code}-invalid-{index}"))
    return cases


@pytest.mark.parametrize(("code", "example"), _examples_with_fixes())
def test_expected_fix_holds_reparses_and_is_idempotent(code: str, example: Invalid) -> None:
    assert isinstance(example.code, str)
    text, count = fixed(example.code, code)
    assert count >= 1
    assert text == example.expected_fix
    ast.parse(text)
    again, more = fixed(text, code)
    assert (again, more) == (text, 0)
    assert [d for d in check_source(text, "mod.py", Settings(select=(code,))) if d.code == code] == []


def test_at_least_three_kl701_examples_carry_a_fix() -> None:
    assert len([c for c in _examples_with_fixes() if "KL701" in str(c.id)]) >= 3  # type: ignore[attr-defined]


def test_safe_only_run_leaves_kl701_alone() -> None:
    _, invalid = all_rules()["KL701"].examples()
    for example in invalid:
        assert isinstance(example.code, str)
        assert fixed(example.code, unsafe=False) == (example.code, 0)


MANY = '''\
from functools import lru_cache


class Report:
    def __init__(self, rows):
        self.rows = rows

    @lru_cache(maxsize=None)
    def _total(self):
        return sum(self.rows)

    @lru_cache(maxsize=None)
    def _count(self):
        return len(self.rows)

    @property
    @lru_cache(maxsize=None)
    def mean(self):
        return self._total() / self._count()

    def summary(self):
        return f"{self._count()} rows, total {self._total()}, mean {self.mean}"
'''


def test_several_fixes_share_one_import_and_converge() -> None:
    text, count = fixed(MANY)
    assert count == 3
    ast.parse(text)
    assert text.count("from functools import cached_property, lru_cache") == 1
    assert "@lru_cache" not in text and text.count("@cached_property") == 3
    assert "self._total() " not in text and "self._total / self._count" in text
    assert "@property" not in text
    assert fixed(text) == (text, 0)
    # Behaviour kept: the fixed class computes the same values.
    namespace: dict[str, object] = {}
    exec(compile(text, "fixed.py", "exec"), namespace)  # noqa: S102 - our own generated text
    report = namespace["Report"]([1, 2, 3])  # type: ignore[operator]
    assert report.summary() == "3 rows, total 6, mean 2.0"


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import functools\n\nclass A:\n    @functools.cache\n    def public(self):\n        return 1\n", id="public-method"),
        pytest.param("import functools\n\nclass A:\n    @functools.cache\n    def _m(self, x):\n        return x\n", id="arguments"),
        pytest.param("import functools\n\nclass A:\n    @functools.cache\n    async def _m(self):\n        return 1\n", id="async"),
        pytest.param("import functools\n\nclass A:\n    __slots__ = ()\n\n    @functools.cache\n    def _m(self):\n        return 1\n", id="slots"),
        pytest.param("import functools\n\nclass A:\n    @functools.cache\n    def _m(self):\n        return 1\n\n    def clear(self):\n        self._m.cache_clear()\n", id="cache-clear"),
        pytest.param("import functools\n\nclass A:\n    @functools.cache\n    def _m(self):\n        return 1\n\nclass B(A):\n    def _m(self):\n        return 2\n", id="overridden"),
        pytest.param("import functools\nimport abc\n\nclass A:\n    @abc.abstractmethod\n    @functools.cache\n    def _m(self):\n        return 1\n", id="other-decorator"),
        pytest.param("import cachetools\n\nclass A:\n    @cachetools.cached(cache={})\n    def _m(self):\n        return 1\n", id="cachetools"),
        pytest.param("from functools import lru_cache\n\ncached_property = 3\n\nclass A:\n    @lru_cache\n    def _m(self):\n        return 1\n", id="name-taken"),
    ],
)
def test_no_fix_where_behaviour_could_change_unseen(source: str) -> None:
    found = [d for d in check_source(source, "mod.py", Settings(select=("KL701",))) if d.code == "KL701"]
    assert len(found) == 1 and found[0].fix is None


def test_fix_json_shape_is_unsafe_with_edits() -> None:
    source = "import functools\n\nclass A:\n    @functools.cache\n    def _m(self):\n        return 1\n\n    def run(self):\n        return self._m()\n"
    [found] = [d for d in check_source(source, "mod.py", Settings(select=("KL701",))) if d.code == "KL701"]
    assert found.fix is not None and found.fix.applicability == "unsafe"
    assert [(e.line, e.column, e.end_line, e.end_column, e.content) for e in found.fix.edits] == [
        (4, 6, 4, 21, "functools.cached_property"),
        (9, 16, 9, 25, "self._m"),
    ]


def test_import_with_several_names_gains_cached_property_once() -> None:
    source = (
        "from functools import (\n    lru_cache,\n    wraps as w,\n)\n\nclass A:\n    @lru_cache(maxsize=None)\n"
        "    def _m(self):\n        return 1\n\n    def run(self):\n        return self._m()\n"
    )
    text, count = fixed(source)
    assert count == 1
    assert text.startswith("from functools import cached_property, lru_cache, wraps as w\n")
    assert "    @cached_property\n" in text and "return self._m\n" in text
    assert fixed(text) == (text, 0)
