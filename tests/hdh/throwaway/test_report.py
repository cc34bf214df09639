"""The JSON summary and JUnit of a throwaway run say exactly which phases passed, failed or not."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hdh.throwaway.report import Report


def _report(tmp_path: Path) -> Report:
    r = Report("cycle", "tw-local-abcd", "local", "file:///s", "2026-12-04T20:00:00Z")
    r.json_path, r.junit_path = tmp_path / "out" / "env.json", tmp_path / "out" / "env.xml"
    for name, status, detail in [
        ("create", "passed", ""),
        ("up", "passed", ""),
        ("policy", "passed", ""),
        ("ssh", "failed", "no SSH answer after 30 s"),
        ("harden", "not-run", "needs ssh (failed)"),
        ("verify", "not-run", "needs harden (not-run)"),
        ("destroy", "passed", ""),
        ("remove", "passed", ""),
    ]:
        p = r.phase(name)
        p.status, p.detail, p.seconds = status, detail, 1.25
    r.phase("ssh").facts = {"secondsToSsh": {}}
    return r


def test_json_and_junit_name_every_phase(tmp_path: Path) -> None:
    r = _report(tmp_path)
    r.write()
    doc = json.loads(r.json_path.read_text())  # type: ignore[union-attr]
    assert doc["format"] == "hdh-env/v1" and doc["result"] == "failed"
    assert [p["status"] for p in doc["phases"]].count("not-run") == 2
    suite = ET.parse(r.junit_path).getroot().find("testsuite")  # type: ignore[arg-type]
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "2")
    ssh = suite.find("testcase[@name='ssh']")
    assert ssh is not None and ssh.find("failure") is not None
    harden = suite.find("testcase[@name='harden']/skipped")
    assert harden is not None and "not-run" in harden.get("message", "")
    assert r.exit_code == 1 and not r.passed


def test_a_phase_not_run_is_never_a_pass(tmp_path: Path) -> None:
    r = _report(tmp_path)
    r.phase("ssh").status = "passed"
    assert not r.passed, "harden and verify did not run: the run did not pass"


def test_interruption_exit_codes(tmp_path: Path) -> None:
    r = _report(tmp_path)
    r.interrupted_by = "SIGTERM"
    assert r.exit_code == 143
    r.interrupted_by = "SIGINT"
    assert r.exit_code == 130


def test_all_passed(tmp_path: Path) -> None:
    r = _report(tmp_path)
    for p in r.phases:
        p.status = "passed"
    assert r.passed and r.exit_code == 0
    assert r.summary_lines()[-1] == "cycle tw-local-abcd: passed"
