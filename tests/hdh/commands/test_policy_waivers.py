"""`hdh policy check --waivers / --baseline` end to end: every report format shows waivers,
expired ones are violations again, a baseline hides only what it knew; bad files exit 2."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hdh import cli
from tests.policies.formats import load, to_export

HERE = Path(__file__).parents[2] / "policies"
SCHEMA = json.loads((HERE / "data" / "sarif-schema-2.1.0.json").read_text())
VOLUMES = load(HERE / "rules" / "volume-encrypted-type" / "profile-defaults.yaml")
SOON = (dt.date.today() + dt.timedelta(days=30)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def waiver(resource: str, expires: str = SOON) -> dict[str, str]:
    return {
        "rule": "volume-encrypted-type",
        "resource": resource,
        "owner": "secops@hdh.example",
        "justification": "legacy volume, migration planned in SEC-201",
        "expires": expires,
    }


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(to_export(VOLUMES)))
    return path


def check(tmp_path: Path, state: Path, fmt: str, *extra: str) -> tuple[int, str]:
    out = tmp_path / f"report.{fmt}"
    args = ["policy", "check", "--state", str(state), "--format", fmt, "--output", str(out)]
    code = cli.main([*args, "--rule", "volume-encrypted-type", *extra])
    return code, out.read_text() if out.exists() else ""


def write(tmp_path: Path, doc: Any, name: str = "waivers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))  # JSON is YAML: both are accepted
    return path


def test_all_waived_exits_0_and_json_lists_them(tmp_path: Path, state: Path) -> None:
    ws = write(
        tmp_path, {"waivers": [waiver("fail-ovh-high-speed"), waiver("fail-scs-default-type")]}
    )
    code, report = check(tmp_path, state, "json", "--waivers", str(ws))
    doc = json.loads(report)
    assert code == 0 and doc["violations"] == []
    assert {w["urn"].rsplit("::", 1)[-1] for w in doc["waived"]} == {
        "fail-ovh-high-speed",
        "fail-scs-default-type",
    }
    assert doc["waived"][0]["waiver"]["owner"] == "secops@hdh.example"
    assert doc["summary"]["waived"] == 2 and doc["summary"]["passed"] is True


def test_expired_waiver_is_a_violation_again(tmp_path: Path, state: Path) -> None:
    ws = write(tmp_path, [waiver("fail-ovh-high-speed", PAST), waiver("fail-scs-default-type")])
    code, report = check(tmp_path, state, "json", "--waivers", str(ws))
    doc = json.loads(report)
    assert code == 1
    assert [v["urn"].rsplit("::", 1)[-1] for v in doc["violations"]] == ["fail-ovh-high-speed"]
    assert doc["expiredWaivers"][0]["waiver"]["expires"] == PAST


def test_every_format_shows_the_waiver(tmp_path: Path, state: Path) -> None:
    ws = write(
        tmp_path,
        [waiver("fail-ovh-high-speed"), waiver("fail-scs-default-type", PAST), waiver("gone")],
    )
    _, sarif = check(tmp_path, state, "sarif", "--waivers", str(ws))
    doc = json.loads(sarif)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    suppressed = [r for r in doc["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 1
    s = suppressed[0]["suppressions"][0]
    assert s["kind"] == "external" and s["status"] == "accepted"
    assert s["justification"] == "legacy volume, migration planned in SEC-201"

    _, junit = check(tmp_path, state, "junit", "--waivers", str(ws))
    skipped = ET.fromstring(junit).findall(".//testcase/skipped")
    assert len(skipped) == 1 and "waived by secops@hdh.example" in skipped[0].get("message", "")
    assert ET.fromstring(junit).find("testsuite").get("skipped") == "1"  # type: ignore[union-attr]

    _, text = check(tmp_path, state, "text", "--waivers", str(ws))
    assert "[waived] volume-encrypted-type:" in text and "[waiver expired]" in text
    assert "[unused waiver] volume-encrypted-type: gone" in text

    _, md = check(tmp_path, state, "markdown", "--waivers", str(ws))
    assert "## Waivers" in md and "expired: violation again" in md and "| waived |" in md


def test_baseline_reports_only_new_findings(tmp_path: Path, state: Path) -> None:
    code, first = check(tmp_path, state, "json")
    assert code == 1
    baseline = write(tmp_path, json.loads(first), "baseline.json")
    code, again = check(tmp_path, state, "json", "--baseline", str(baseline))
    doc = json.loads(again)
    assert code == 0 and doc["violations"] == [] and doc["summary"]["baselined"] == 2
    # A new violation shows through the same baseline; SARIF baselines work the same way.
    grown = {"resources": [*VOLUMES["resources"], {**VOLUMES["resources"][2], "name": "fail-new"}]}
    state.write_text(json.dumps(to_export(grown)))
    code, later = check(tmp_path, state, "json", "--baseline", str(baseline))
    assert code == 1
    assert [v["urn"].rsplit("::", 1)[-1] for v in json.loads(later)["violations"]] == ["fail-new"]
    _, sarif = check(tmp_path, state, "sarif")
    code, _ = check(
        tmp_path, state, "json", "--baseline", str(write(tmp_path, json.loads(sarif), "b.sarif"))
    )
    assert code == 0


def test_a_baseline_does_not_hide_an_expired_waiver(tmp_path: Path, state: Path) -> None:
    _, first = check(tmp_path, state, "json")
    baseline = write(tmp_path, json.loads(first), "baseline.json")
    ws = write(tmp_path, [waiver("fail-ovh-high-speed", PAST)])
    code, report = check(tmp_path, state, "json", "--baseline", str(baseline), "--waivers", str(ws))
    doc = json.loads(report)
    assert code == 1
    assert [v["urn"].rsplit("::", 1)[-1] for v in doc["violations"]] == ["fail-ovh-high-speed"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"violations": "all"}', "violations: expected a list"),
        ('{"violations": [{"rule": 1, "urn": "u", "message": "m"}]}', "violations[0].rule"),
        ('{"runs": [{"results": [{"ruleId": "x"}]}]}', "properties.hdh: missing"),
        ("[]", "not a policy report"),
    ],
)
def test_malformed_baseline_exits_2(
    tmp_path: Path, state: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    code, report = check(tmp_path, state, "json", "--baseline", str(bad))
    err = capsys.readouterr().err
    assert code == 2 and report == "" and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([waiver("*")], "waivers[0].resource: one resource"),
        ([{**waiver("x"), "expires": "tomorrow"}], "waivers[0].expires"),
        ([{**waiver("x"), "owner": ""}], "waivers[0].owner"),
        ("everything", "waivers: expected a list"),
    ],
)
def test_malformed_waivers_exit_2(
    tmp_path: Path, state: Path, doc: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = check(tmp_path, state, "json", "--waivers", str(write(tmp_path, doc)))
    err = capsys.readouterr().err
    assert code == 2 and report == "" and message in err, err
    assert err.startswith(str(tmp_path / "waivers.yaml"))
