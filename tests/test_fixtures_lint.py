"""The etcd v3.1 watcher port leaks by the text of its context; the stable port must be clean."""

from __future__ import annotations

import ast
from pathlib import Path

from keylint.engine import check_source
from keylint.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _line_of(source: str, needle: str) -> int:
    lines = [n for n, text in enumerate(source.splitlines(), start=1) if needle in text]
    assert len(lines) == 1, needle
    return lines[0]


def _function_span(source: str, name: str) -> range:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return range(node.lineno, (node.end_lineno or node.lineno) + 1)
    raise AssertionError(name)


def test_leaky_watcher_reports_lookup_insert_and_delete() -> None:
    path = FIXTURES / "leaky_watcher.py"
    source = path.read_text()
    found = check_source(path.read_bytes(), str(path), Settings())
    assert {d.code for d in found} == {"KL101"}
    lines = sorted(d.line for d in found)
    lookup = _line_of(source, "wgs = self.streams.get(ctx_key)")
    insert = _line_of(source, "self.streams[ctx_key] = wgs")
    delete = _line_of(source, "self.streams.pop(wgs.ctx_key, None)")
    assert lines == [lookup, insert, delete]
    assert lookup in _function_span(source, "watch") and delete in _function_span(source, "close_stream")
    by_line = {d.line: d for d in found}
    # The delete's chain crosses three functions: watch() -> _new_watcher_grpc_stream() -> the stream.
    chain = by_line[delete].chain
    assert by_line[delete].source is not None
    assert by_line[delete].source.line in _function_span(source, "watch")
    assert any("ctx_key" in step.note for step in chain)
    assert any(step.line in _function_span(source, "_new_watcher_grpc_stream") and "format" in step.note for step in chain)
    assert "Context" in by_line[delete].message and "self.streams" in by_line[delete].message


def test_stable_watcher_is_clean() -> None:
    path = FIXTURES / "stable_watcher.py"
    assert check_source(path.read_bytes(), str(path), Settings()) == []


def test_fixtures_import_no_grpc() -> None:
    for name in ("leaky_watcher.py", "stable_watcher.py"):
        tree = ast.parse((FIXTURES / name).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(m.split(".")[0] == "grpc" for m in imported)


def _load(name: str) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handle:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def create(self, key: bytes) -> None:
        self.log.append("create")

    def cancel(self) -> None:
        self.log.append("cancel")


def _churn(module: object, rounds: int) -> tuple[int, list[str]]:
    """Lock/unlock churn as etcd's users did it: a watch with a deadline, then cancel."""
    log: list[str] = []
    watcher = module.Watcher(lambda ctx: _Handle(log))  # type: ignore[attr-defined]
    for _ in range(rounds):
        ctx = module.with_timeout(module.background(), 5.0)  # type: ignore[attr-defined]
        watcher.watch(ctx, b"lock/key").cancel()
    return len(watcher.streams), log


def test_the_leak_is_real_and_the_stable_key_fixes_it() -> None:
    leaked, leaky_log = _churn(_load("leaky_watcher"), 50)
    kept, stable_log = _churn(_load("stable_watcher"), 50)
    assert leaked == 50  # every cancelled stream stays in the map: deletes never match
    assert leaky_log.count("cancel") == 50
    assert kept == 0 and stable_log.count("create") == 50 and stable_log.count("cancel") == 50
