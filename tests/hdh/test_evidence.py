"""`hdh evidence`: a real bundle of the `local` stack's plan, verified; hostile inputs refused."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ground.paths import ROOT
from hdh import cli
from hdh.evidence import scap_summary

SCAP_NS = "http://checklists.nist.gov/xccdf/1.2"


def evidence(*args: str) -> int:
    return cli.main(["evidence", *args])


@pytest.fixture(scope="module")
def plan_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ev") / "bundle"
    assert evidence("--stack", "local", "--plan", "--out", str(out)) == 0
    return out


def test_bundle_holds_every_piece_and_verifies(plan_bundle: Path) -> None:
    names = {p.relative_to(plan_bundle).as_posix() for p in plan_bundle.rglob("*") if p.is_file()}
    assert {
        "MANIFEST.sha256",
        "README.md",
        "bundle.json",
        "policy/report.txt",
        "policy/report.json",
        "policy/report.sarif",
        "policy/report.junit.xml",
        "policy/report.md",
        "hardening/COVERAGE.md",
        "hardening/coverage.json",
        "controls/matrix.json",
        "controls/matrix.md",
        "controls/requirements.json",
    } <= names
    meta = json.loads((plan_bundle / "bundle.json").read_text())
    assert meta["stack"] == "local" and meta["state"]["kind"] == "plan"
    assert meta["summary"]["policy"]["passed"] is True
    assert evidence("--verify", str(plan_bundle)) == 0


def test_matrix_rows_name_requirements_rules_tests_results(plan_bundle: Path) -> None:
    rows = json.loads((plan_bundle / "controls" / "matrix.json").read_text())
    rules = [r for r in rows if r["kind"] == "rule"]
    hard = [r for r in rows if r["kind"] == "hardening"]
    assert {r["implementation"] for r in rules} >= {"provider-region-eu", "volume-encrypted-type"}
    region = next(r for r in rules if r["implementation"] == "provider-region-eu")
    assert "SecNumCloud 3.2 §19.6" in region["requirements"]
    assert all(r["result"] == "pass" for r in rules)
    for r in rules:
        assert (ROOT / r["test"]).is_dir(), r["test"]
    r30 = next(r for r in hard if r["control"] == "R30")
    assert r30["requirements"][0] == "ANSSI BP-028 v2.0 R30" and r30["result"] == "not run"
    assert next(r for r in hard if r["control"] == "R1")["result"].startswith("left out")


@pytest.mark.parametrize(
    "victim", ["policy/report.json", "controls/matrix.md", "bundle.json", "MANIFEST.sha256"]
)
def test_tampered_bundle_fails_verification(
    plan_bundle: Path, tmp_path: Path, victim: str, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(plan_bundle, copy)
    path = copy / victim
    text = path.read_text()
    path.write_text(text.replace("pass", "PASS", 1) if victim != "MANIFEST.sha256" else text[1:])
    assert evidence("--verify", str(copy)) == 1
    err = capsys.readouterr().err
    assert err.strip(), "a tampered bundle names what is wrong"


def test_expect_digest(plan_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evidence("--verify", str(plan_bundle), "--expect-digest", "0" * 64) == 1
    capsys.readouterr()
    assert evidence("--verify", str(plan_bundle)) == 0
    digest = capsys.readouterr().out.split()[-1]
    assert evidence("--verify", str(plan_bundle), "--expect-digest", digest) == 0


def test_host_reports_and_scap_results_reach_the_matrix(tmp_path: Path) -> None:
    report = tmp_path / "r" / "report.json"
    report.parent.mkdir()
    check = {"control": "R30", "check": "c", "host": "h1", "kind": "vm", "result": "failed"}
    report.write_text(
        json.dumps(
            {
                "role": "bastion",
                "hosts": [{"host": "h1", "kind": "vm"}],
                "summary": {"failed": 1},
                "controls": {"R30": {"result": "failed", "checks": [check]}},
            }
        )
    )
    scap = tmp_path / "arf.xml"
    scap.write_text(
        f'<Benchmark xmlns="{SCAP_NS}"><TestResult id="t"><target>h1</target>'
        '<profile idref="xccdf_p"/>'
        '<rule-result idref="r1"><result>pass</result></rule-result>'
        '<rule-result idref="r2"><result>fail</result></rule-result>'
        '<score system="urn:xccdf:scoring:default" maximum="100">84.35</score>'
        "</TestResult></Benchmark>"
    )
    out = tmp_path / "bundle"
    args = ["--stack", "local", "--plan", "--out", str(out), "--host-report", str(report.parent)]
    assert evidence(*args, "--scap", str(scap)) == 0
    rows = json.loads((out / "controls" / "matrix.json").read_text())
    r30 = next(r for r in rows if r["control"] == "R30")
    assert r30["result"] == "failed" and r30["hosts"] == ["failed on h1"]
    summary = json.loads((out / "hardening" / "scap" / "summary.json").read_text())
    assert summary[0]["score"] == 84.35 and summary[0]["failed"] == ["r2"]
    assert evidence("--verify", str(out)) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"controls": []}', "controls: not a hardening control report"),
        ('{"controls": {"X1": {"result": "passed"}}}', "controls.X1: not an R-number"),
        ('{"controls": {"R3": {"result": "great"}}}', "controls.R3.result"),
    ],
)
def test_malformed_host_report_refused_before_writing(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(content)
    out = tmp_path / "bundle"
    assert evidence("--stack", "local", "--plan", "--out", str(out), "--host-report", str(bad)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing written on bad input"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<x", "not XML"),
        ("<a/>", "no XCCDF 1.2 TestResult"),
        (f'<TestResult xmlns="{SCAP_NS}"><score>NaNx</score></TestResult>', "not a number"),
    ],
)
def test_malformed_scap_results(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "arf.xml"
    bad.write_text(content)
    with pytest.raises(Exception, match=message):
        scap_summary(bad)


def test_refuses_non_empty_out_bad_state_and_bad_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert evidence("--stack", "local", "--plan", "--out", str(tmp_path / "full")) == 2
    assert "not empty" in capsys.readouterr().err
    state = tmp_path / "state.json"
    state.write_text('{"hello": 1}')
    assert evidence("--stack", "local", "--state", str(state), "--out", str(tmp_path / "o")) == 2
    assert "unrecognised" in capsys.readouterr().err
    assert evidence("--stack", "nope", "--plan", "--out", str(tmp_path / "o2")) == 2
    assert "no such stack file" in capsys.readouterr().err
    assert evidence("--verify", str(tmp_path / "full")) == 2


def test_bundle_from_a_clean_clone(tmp_path: Path) -> None:
    """From a fresh `git clone` of this commit: build the local stack's bundle, verify it with
    `hdh evidence --verify` and with coreutils' sha256sum, offline."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone)}
    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "hdh.cli"]
    done = subprocess.run(
        [*cmd, "evidence", "--stack", "local", "--plan", "--out", str(out)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "bundle.json").read_text())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert meta["generator"] == {
        "name": "hdh evidence",
        "commit": head.stdout.strip(),
        "dirty": False,
    }
    ok = subprocess.run(
        [*cmd, "evidence", "--verify", str(out)], cwd=clone, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout.startswith("VERIFIED"), ok.stdout + ok.stderr
    assert (
        subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=out).returncode == 0
    )


def test_waivers_reach_the_bundle_and_the_matrix(tmp_path: Path) -> None:
    state = tmp_path / "export.json"
    from tests.policies.formats import load, to_export

    fixture = load(ROOT / "tests/policies/rules/volume-encrypted-type/profile-defaults.yaml")
    state.write_text(json.dumps(to_export(fixture)))
    waivers = tmp_path / "waivers.yaml"
    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waivers.write_text(
        "waivers:\n"
        "  - {rule: volume-encrypted-type, resource: fail-ovh-high-speed, owner: secops,\n"
        f"     justification: legacy volume until SEC-201, expires: '{soon}'}}\n"
    )
    out = tmp_path / "bundle"
    args = ["--stack", "local", "--state", str(state), "--out", str(out), "--waivers", str(waivers)]
    assert evidence(*args) == 0
    report = json.loads((out / "policy" / "report.json").read_text())
    assert [w["urn"].rsplit("::", 1)[-1] for w in report["waived"]] == ["fail-ovh-high-speed"]
    assert (out / "policy" / "waivers.yaml").read_text() == waivers.read_text()
    rows = json.loads((out / "controls" / "matrix.json").read_text())
    vol = next(r for r in rows if r["implementation"] == "volume-encrypted-type")
    assert vol["result"] == "fail (1)"  # the other one is not waived
    assert evidence("--verify", str(out)) == 0
