"""Reports render one list of findings: SARIF valid against the OASIS schema, JUnit, Markdown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from policies.reports import FORMATS, renderer
from policies.run import Result, evaluate
from tests.policies.formats import load, to_export

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def result() -> Result:
    docs = [load(p) for p in sorted((HERE / "rules").glob("*/*.yaml")) if "config" not in load(p)]
    merged = {"resources": [r for d in docs for r in d["resources"]]}
    return evaluate(to_export(merged))


def test_fixture_mix_has_both_levels(result: Result) -> None:
    assert result.mandatory and len(result.mandatory) < len(result.findings)


def test_sarif_is_valid_2_1_0(result: Result) -> None:
    doc = json.loads(renderer("sarif")(result))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == [f.rule for f in result.findings]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    assert {r["level"] for r in run["results"]} == {"error", "warning"}
    urns = {
        loc["fullyQualifiedName"]
        for r in run["results"]
        for loc in r["locations"][0]["logicalLocations"]
    }
    assert urns == {f.urn for f in result.findings}


def test_sarif_of_a_clean_run_is_valid() -> None:
    clean = evaluate(to_export({"resources": []}))
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(renderer("sarif")(clean)))


def test_junit_one_case_per_rule_failures_for_mandatory(result: Result) -> None:
    root = ET.fromstring(renderer("junit")(result))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {r.id for r in result.rules}
    failed = {c for c, e in cases.items() if e.find("failure") is not None}
    assert failed == {f.rule for f in result.mandatory}
    assert suite.get("failures") == str(len(failed))
    first = result.mandatory[0]
    failure = cases[first.rule].find("failure")
    assert failure is not None and first.urn in (failure.text or "")


def test_markdown_matrix_control_rule_result(result: Result) -> None:
    md = renderer("markdown")(result)
    assert "| Control | Framework | Requirements | Rule | Enforcement | Result |" in md
    assert (
        "| Data and its administration located in the EU | SecNumCloud 3.2 | SecNumCloud 3.2: "
        "Data and its administration located in the EU (to be confirmed)<br>"
        "SecNumCloud 3.2 §19.6 | `provider-region-eu`"
    ) in md
    assert "**fail**" in md and "warn (" in md and "## Violations" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "`" in line]
    assert {r.id for r in result.rules} <= {line.split("`")[1] for line in rows}


def test_text_groups_by_rule(result: Result) -> None:
    text = renderer("text")(result)
    headers = [line for line in text.splitlines() if line.startswith("[") and "]: " not in line[:3]]
    assert len([h for h in headers if "volume-encrypted-type:" in h]) == 1
    assert text.rstrip().endswith("advisory violations") and "FAILED" in text
    for f in result.findings:
        assert f.urn in text


def test_json_shape(result: Result) -> None:
    doc = json.loads(renderer("json")(result))
    assert len(doc["violations"]) == len(result.findings)
    assert doc["summary"]["mandatory"] == len(result.mandatory)


def test_every_format_renders() -> None:
    assert set(FORMATS) == {"text", "json", "sarif", "junit", "markdown"}
