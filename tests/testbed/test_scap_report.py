"""The OpenSCAP comparison report: scoring model, failures joined with explanations, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardening.explanations import Explanation
from hdh import cli
from testbed import scap, scap_report
from testbed.scap import parse_results

FIXTURE = Path(__file__).parent / "data" / "results-container-intermediary.xml"
# Two groups: a (weight 1) with r1, r2; b (weight 3) with r3. Default model: groups average.
BENCHMARK = """<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="b">
  <Group id="a"><Rule id="xccdf_org.ssgproject.content_rule_r1"/>
    <Rule id="xccdf_org.ssgproject.content_rule_r2"/></Group>
  <Group id="b" weight="3"><Rule id="xccdf_org.ssgproject.content_rule_r3"/></Group>
</Benchmark>"""


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    path = tmp_path / "ds.xml"
    path.write_text(BENCHMARK)
    return path


def test_default_score_is_a_weighted_mean_of_groups(ds: Path) -> None:
    assert scap_report.default_score({"r1": "pass", "r2": "fail", "r3": "pass"}, ds) == 87.5
    # notapplicable / notselected rules do not count; a group with none counted drops out.
    assert scap_report.default_score({"r1": "pass", "r2": "notapplicable"}, ds) == 100.0
    assert scap_report.default_score({"r1": "fail", "r3": "pass"}, ds) == 75.0


def test_fixture_failures_joined_with_explanations() -> None:
    """A stock-profile scan: the rule our tailoring deselects is explained by the tailoring."""
    res = parse_results(FIXTURE, host="hdh-tb-c1", kind="container")
    doc = scap_report.compare(None, res, None, "container", "base", datastream=FIXTURE)
    by_rule = {f["rule"]: f for f in doc["failures"]}
    aide = by_rule["aide_build_database"]["explanation"]
    assert aide["category"] == "deliberate-deviation" and aide["why"].startswith("deselected: ")
    assert aide["control"] == "R79" and doc["tailoring"] is None
    assert by_rule["aide_build_database"]["anssi"] == ["R76", "R79"]
    assert doc["unexplained"] == ["accounts_password_pam_minlen"]
    assert doc["categories"] == {"deliberate-deviation": 1, "unexplained": 1}
    assert doc["scans"]["ours"]["score"] == 56.4 and doc["ours_minus_ssg"] is None


def test_tailored_scan_is_not_excused_by_the_tailoring(tmp_path: Path) -> None:
    """Judged on the tailored profile, a failure of a re-valued rule is real: unexplained. The
    report carries the tailoring and the stock verdicts of the rules it touches."""
    ds = tmp_path / "ds.xml"
    ds.write_text(
        '<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="b"><Group id="g">'
        '<Rule id="xccdf_org.ssgproject.content_rule_postfix_client_configure_mail_alias">'
        '<check system="oval"><check-export export-name="x"'
        ' value-id="xccdf_org.ssgproject.content_value_var_postfix_root_mail_alias"/></check>'
        "</Rule></Group></Benchmark>"
    )
    rule = "postfix_client_configure_mail_alias"

    def result(profile: str, verdict: str) -> scap.ScanResult:
        rules = [scap.RuleResult(rule, verdict, "medium", "alias", ("R75",))]
        return scap.ScanResult("o", "container", profile, 0.0, 100.0, rules)

    ours = result(scap.INTERMEDIARY_HDH, "fail")
    stock = result(scap.INTERMEDIARY, "fail")
    doc = scap_report.compare(None, ours, None, "container", datastream=ds, ours_stock=stock)
    assert doc["unexplained"] == [rule] and doc["profile"] == "anssi_bp28_intermediary_hdh"
    tl = doc["tailoring"]
    assert tl["base_profile"] == "anssi_bp28_intermediary"
    assert {c["id"] for c in tl["changes"]} >= {
        "var_postfix_root_mail_alias",
        "aide_build_database",
    }
    assert tl["stock_verdicts"] == [
        {"rule": rule, "control": "R75", "ours": "fail", "ssg": "notselected"}
    ]
    text = scap_report.markdown(doc)
    assert (
        "## Tailoring" in text
        and "| set-value | `var_postfix_root_mail_alias` | R75 | hdh-admins |" in text
    )
    # The same failure on a stock scan is the tailored value: explained, by the tailoring.
    doc = scap_report.compare(None, stock, None, "container", datastream=ds)
    assert doc["unexplained"] == [] and doc["failures"][0]["explanation"]["why"].startswith(
        "tailored: "
    )


def test_kind_limits_not_applicable_and_ssg_side(ds: Path, tmp_path: Path) -> None:
    def result(host: str, verdicts: dict[str, str], score: float) -> scap.ScanResult:
        rules = [scap.RuleResult(r, v, "medium", r, ("R9",)) for r, v in verdicts.items()]
        return scap.ScanResult(host, "vm", scap.INTERMEDIARY, score, 100.0, rules)

    why = {
        "r1": Explanation("r1", "R9", "not-applicable-on-container", "host kernel"),
        "r2": Explanation("r2", "R9", "deliberate-deviation", "on purpose"),
    }
    ours = result("o", {"r1": "fail", "r2": "fail", "r3": "pass"}, 75.0)
    ssg = result("s", {"r1": "pass", "r2": "pass", "r3": "fail"}, 25.0)
    doc = scap_report.compare(None, ours, ssg, "vm", why=why, datastream=ds)
    assert doc["unexplained"] == ["r1"]  # not applicable on containers says nothing about a VM
    assert doc["ssg_better"] == ["r1", "r2"] and doc["ssg_better_not_deliberate"] == ["r1"]
    assert doc["ours_better"] == ["r3"] and doc["ours_minus_ssg"] == 50.0
    # r2 counted as SSG's host counts it (pass): group a 50, group b 100 -> 87.5.
    assert doc["ours_with_deviations_as_ssg"] == 87.5

    js, md = scap_report.write(doc, tmp_path / "out")
    assert json.loads(js.read_text())["ssg_better"] == ["r1", "r2"]
    text = md.read_text()
    assert "| our hardening | o | 75.00 | 1 | 2 | 0 | 0 | 0 |" in text
    assert "| `r1` | R9 | medium | **unexplained** |" in text
    assert "| `r2` | R9 | medium | deliberate-deviation | on purpose | pass |" in text
    assert "Ours minus SSG's: **+50.00** points." in text


def test_cli_writes_both_files_and_exits_1_on_unexplained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(scap, "ensure_datastream", lambda: FIXTURE)
    rc = cli.main(["testbed", "report", "--ours", str(FIXTURE), "--out", str(tmp_path)])
    assert rc == 1  # accounts_password_pam_minlen has no explanation
    assert (tmp_path / "report.json").exists() and (tmp_path / "report.md").exists()
    assert "**Unexplained**: accounts_password_pam_minlen." in capsys.readouterr().out
    assert cli.main(["testbed", "report", "--ours", str(tmp_path / "missing.xml")]) == 2
