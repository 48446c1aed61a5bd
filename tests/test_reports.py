"""Output formats fed the same findings: SARIF (schema-validated), GitHub, GitLab, JUnit, JSON, text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from keylint.diagnostics import ChainStep, Diagnostic, Edit, Fix, Position
from keylint.report import ReportContext, SourceLines, get_renderer

REPO = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = REPO.parent / "shared" / "data" / "sarif-schema-2.1.0.json"

SOURCE = 'import json\n\ndef watch(streams, ctx):\n    key = f"{ctx}"  # キー\n    streams[key] = 1\n    del streams[str(ctx)]\n'
WEIRD = "we<ird> & \"odd\", name: 100%\r\nline\x00two\x1b"


def findings(path: str) -> list[Diagnostic]:
    return [
        Diagnostic(
            "KL101", "the text of `ctx` (a grpc.ServicerContext) carries its deadline, so `streams` gets a new entry per call",
            path, 5, 5, 5, 17, source=Position(3, 20),
            chain=(ChainStep(3, 20, "`ctx` is a context"), ChainStep(4, 11, "formatted by an f-string"),
                   ChainStep(5, 13, "used as the key of `streams`")),
        ),  # fmt: skip
        Diagnostic("KL101", WEIRD, path, 6, 5, 6, 26, fix=Fix("unsafe", "use stable metadata", (Edit(6, 17, 6, 25, "meta"),))),
        Diagnostic("KL001", "cannot parse: invalid syntax", path + "x", 1, 1, 1, 1),
    ]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[Diagnostic], ReportContext]:
    folder = tmp_path / "my pkg"
    folder.mkdir()
    path = folder / "wätch.py"
    path.write_text(SOURCE, encoding="utf-8")
    (folder / "clean.py").write_text("x = 1\n")
    context = ReportContext(files=[str(folder / "clean.py"), str(path)], lines=SourceLines(), root=str(tmp_path),
                            version="0.1.0")  # fmt: skip
    return findings(str(path)), context


def test_sarif_validates_against_the_schema(setup: tuple[list[Diagnostic], ReportContext]) -> None:
    assert SARIF_SCHEMA.is_file(), f"SARIF schema missing at {SARIF_SCHEMA} (CI provides ../shared/data)"
    diagnostics, context = setup
    log = json.loads(get_renderer("sarif")(diagnostics, context))
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "keylint" and driver["version"] == "0.1.0" and driver["informationUri"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert {"KL001", "KL101"} <= set(rules)
    for rule in rules.values():
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"].startswith(f"# {rule['id']} ")
    first = run["results"][0]
    assert first["ruleId"] == "KL101" and first["level"] == "error"
    assert driver["rules"][first["ruleIndex"]]["id"] == "KL101"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "my%20pkg/w%C3%A4tch.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 5, "startColumn": 5, "endLine": 5, "endColumn": 17}
    flow = first["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [(s["location"]["physicalLocation"]["region"]["startLine"], s["location"]["message"]["text"]) for s in flow] == [
        (3, "`ctx` is a context"), (4, "formatted by an f-string"), (5, "used as the key of `streams`")]  # fmt: skip
    prints = [r["partialFingerprints"]["keylint/v1"] for r in run["results"]]
    assert len(set(prints)) == 3
    assert run["results"][1]["message"]["text"] == WEIRD
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///")


def test_sarif_with_no_findings_is_valid(setup: tuple[list[Diagnostic], ReportContext]) -> None:
    _, context = setup
    log = json.loads(get_renderer("sarif")([], context))
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    assert log["runs"][0]["results"] == []


def test_github_annotations_escape_data_and_properties(setup: tuple[list[Diagnostic], ReportContext]) -> None:
    diagnostics, context = setup
    lines = get_renderer("github")(diagnostics, context).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("::error file=my pkg/wätch.py,line=5,col=5,endLine=5,endColumn=17,title=KL101::the text of")
    assert lines[1] == (
        "::error file=my pkg/wätch.py,line=6,col=5,endLine=6,endColumn=26,title=KL101::"
        "we<ird> & \"odd\", name: 100%25%0D%0Aline\x00two\x1b"
    )
    from keylint.report.github import escape_property

    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"


def test_gitlab_code_quality_fields(setup: tuple[list[Diagnostic], ReportContext], tmp_path: Path) -> None:
    diagnostics, context = setup
    issues = json.loads(get_renderer("gitlab")(diagnostics, context))
    assert len(issues) == 3
    for issue, d in zip(issues, diagnostics):
        assert issue["check_name"] == d.code
        assert d.message in issue["description"]
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["lines"]["begin"] == d.line
        assert len(issue["fingerprint"]) == 64 and int(issue["fingerprint"], 16) >= 0
    assert issues[0]["location"]["path"] == "my pkg/wätch.py"
    # The fingerprint follows the line's text, not its number: inserting lines above keeps it.
    path = Path(diagnostics[0].path)
    path.write_text("# moved\n# down\n" + SOURCE, encoding="utf-8")
    moved = [Diagnostic(d.code, d.message, d.path, d.line + 2, d.column, d.end_line + 2, d.end_column) for d in diagnostics[:2]]
    moved_issues = json.loads(get_renderer("gitlab")(moved, ReportContext(root=str(tmp_path))))
    assert [i["fingerprint"] for i in moved_issues] == [i["fingerprint"] for i in issues[:2]]
    # A different line text gives a different fingerprint.
    path.write_text(SOURCE.replace("streams[key] = 1", "streams[key] = 2"), encoding="utf-8")
    changed = json.loads(get_renderer("gitlab")(diagnostics[:1], ReportContext(root=str(tmp_path))))
    assert changed[0]["fingerprint"] != issues[0]["fingerprint"]


def test_junit_reads_back(setup: tuple[list[Diagnostic], ReportContext]) -> None:
    diagnostics, context = setup
    text = get_renderer("junit")(diagnostics, context)
    root = ET.fromstring(text.encode("utf-8"))
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    clean, watch, broken = context.files[0], context.files[1], context.files[1] + "x"
    assert list(cases) == [clean, watch, broken]
    assert cases[clean].findall("failure") == []
    failures = cases[watch].findall("failure")
    assert [f.get("type") for f in failures] == ["KL101", "KL101"]
    # XML-escaped text reads back; characters XML cannot carry are shown escaped, not emitted raw.
    assert failures[1].get("message") == 'KL101 we<ird> & "odd", name: 100%\r\nline\\x00two\\x1b'
    assert suites[0].get("failures") == "3" and suites[0].get("tests") == "3"


def test_json_and_text(setup: tuple[list[Diagnostic], ReportContext]) -> None:
    diagnostics, context = setup
    data = json.loads(get_renderer("json")(diagnostics, context))
    assert [Diagnostic.from_json(d) for d in data] == diagnostics
    assert data[0]["source"] == {"line": 3, "column": 20} and data[1]["fix"]["applicability"] == "unsafe"
    text = get_renderer("text")(diagnostics, context)
    first = text.split("\n\n")[0].splitlines()
    assert first[0] == f"{diagnostics[0].path}:5:5: KL101 {diagnostics[0].message}"
    assert first[2:4] == ["5 |     streams[key] = 1", "  |     ^^^^^^^^^^^^"]
    assert first[4:] == ["  = 3:20: `ctx` is a context", "  = 4:11: formatted by an f-string",
                         "  = 5:13: used as the key of `streams`"]  # fmt: skip
    assert text.endswith("Found 3 findings.\n")
    assert get_renderer("text")([], context) == "All checks passed!\n"


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        get_renderer("yaml")


def test_cli_offers_every_format() -> None:
    from keylint.cli import FORMATS as CLI_FORMATS
    from keylint.report import FORMATS

    assert CLI_FORMATS == FORMATS  # the CLI keeps its own copy so `--version` imports no report code
    for name in FORMATS:
        assert callable(get_renderer(name))
