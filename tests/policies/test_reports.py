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
        "| Data and its administration located in the EU | SecNumCloud 3.2 | "
        "SecNumCloud 3.2 §19.2<br>SecNumCloud 3.2 §19.6 | `provider-region-eu`"
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


# ---------------------------------------------------------------- undetermined (issue 19)

# In a preview the volume's type comes from another resource not created yet: unknown.
UNDECIDED = {
    "resources": [
        {"name": "type-source", "type": "openstack:blockstorage/volume:Volume", "props": {}},
        {
            "name": "vol",
            "type": "openstack:blockstorage/volume:Volume",
            "props": {"size": 1, "volumeType": {"!ref": "type-source"}},
        },
    ]
}


@pytest.fixture(scope="module")
def undecided() -> Result:
    from tests.policies.formats import to_preview

    result = evaluate(to_preview(UNDECIDED), only=["volume-encrypted-type", "image-allowed"])
    assert [u.rule for u in result.undetermined] == ["volume-encrypted-type"]
    return result


def test_undetermined_is_its_own_outcome(undecided: Result, unknown_only: Result) -> None:
    assert undecided.outcome("volume-encrypted-type") == "failed"  # type-source has no type
    assert unknown_only.outcome("volume-encrypted-type") == "undetermined"
    assert unknown_only.outcome("image-allowed") == "passed"
    summary = unknown_only.summary()
    assert summary["passed"] is True and summary["undeterminedMandatory"] == 1


def _preview_steps() -> list[dict[str, object]]:
    from tests.policies.formats import to_preview

    steps: list[dict[str, object]] = to_preview(UNDECIDED)["steps"]
    return steps


@pytest.fixture(scope="module")
def unknown_only() -> Result:
    steps = [s for s in _preview_steps() if str(s["urn"]).endswith("::vol")]
    return evaluate({"steps": steps}, only=["volume-encrypted-type", "image-allowed"])


def test_junit_skips_an_undetermined_rule_with_its_reason(unknown_only: Result) -> None:
    root = ET.fromstring(renderer("junit")(unknown_only))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("failures") == "0"
    case = next(c for c in suite.iter("testcase") if c.get("name") == "volume-encrypted-type")
    skipped = case.find("skipped")
    assert skipped is not None and "undetermined" in (skipped.get("message") or "")
    assert "::vol" in (skipped.text or "")
    passed = next(c for c in suite.iter("testcase") if c.get("name") == "image-allowed")
    assert passed.find("skipped") is None and passed.find("failure") is None


def test_sarif_reports_undetermined_as_open_results(unknown_only: Result) -> None:
    doc = json.loads(renderer("sarif")(unknown_only))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    (res,) = doc["runs"][0]["results"]
    assert (res["ruleId"], res["kind"], res["level"]) == ("volume-encrypted-type", "open", "none")
    assert "undetermined" in res["message"]["text"]


def test_json_markdown_text_show_undetermined(unknown_only: Result) -> None:
    doc = json.loads(renderer("json")(unknown_only))
    assert [u["rule"] for u in doc["undetermined"]] == ["volume-encrypted-type"]
    assert doc["summary"]["undetermined"] == 1
    md = renderer("markdown")(unknown_only)
    assert "`volume-encrypted-type` | mandatory | *undetermined* (1)" in md
    assert "## Undetermined" in md
    text = renderer("text")(unknown_only)
    assert "[undetermined] [mandatory] volume-encrypted-type" in text


def test_cli_fails_on_undetermined_only_when_asked(unknown_only: Result, tmp_path: Path) -> None:
    from hdh import cli

    steps = [s for s in _preview_steps() if str(s["urn"]).endswith("::vol")]
    state = tmp_path / "preview.json"
    state.write_text(json.dumps({"steps": steps}))
    base = ["policy", "check", "--state", str(state), "--rule", "volume-encrypted-type"]
    assert cli.main([*base, "--output", str(tmp_path / "r")]) == 0
    assert cli.main([*base, "--output", str(tmp_path / "r"), "--fail-on-undetermined"]) == 1
    # An advisory rule that cannot decide does not fail the gate.
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"volume-encrypted-type": "advisory"}))
    args = [
        *base,
        "--fail-on-undetermined",
        "--config",
        str(config),
        "--output",
        str(tmp_path / "r"),
    ]
    assert cli.main(args) == 0
