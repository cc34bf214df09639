"""Control report: skipped never counts as passed, the worst result wins per control."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from hardening.report import Recorder


def rep(when: str, outcome: str, longrepr: object = None) -> SimpleNamespace:
    return SimpleNamespace(
        when=when,
        passed=outcome == "passed",
        skipped=outcome == "skipped",
        failed=outcome == "failed",
        longrepr=longrepr,
        longreprtext=str(longrepr or ""),
    )


def test_report_results(tmp_path: Path) -> None:
    r = Recorder()
    r.add("R12", "test_r12_ipv4[a]", rep("call", "passed"), "c1", "container")
    r.add(
        "R12",
        "test_r12_ipv4[b]",
        rep("setup", "skipped", ("f", 1, "Skipped: container: x")),
        "c1",
        "container",
    )
    r.add(
        "R9",
        "test_r9_kernel[a]",
        rep("call", "skipped", ("f", 1, "container: host kernel")),
        "c1",
        "container",
    )
    r.add(
        "R9", "test_r9_kernel[a]", rep("call", "failed", "E   AssertionError: 0 != 2"), "vm", "vm"
    )
    r.add("R31", "test_r31_x", rep("setup", "failed", "E   ConnectionError: refused"), "vm", "vm")
    r.add(
        "R30", "test_r30_x", rep("setup", "skipped", ("f", 1, "no target host: run with")), "", ""
    )
    r.write(tmp_path, role="base")
    doc = json.loads((tmp_path / "report.json").read_text())
    c = doc["controls"]
    assert c["R12"]["result"] == "passed"
    assert [x["result"] for x in c["R12"]["checks"]] == ["passed", "not applicable"]
    assert c["R12"]["checks"][1]["reason"] == "container: x"
    assert c["R9"]["result"] == "failed"  # passes nowhere: failed on the VM, n/a in container
    assert c["R31"]["result"] == "failed" and "error in setup" in c["R31"]["checks"][0]["reason"]
    assert c["R30"]["result"] == "not checked"
    assert doc["summary"] == {"failed": 2, "not checked": 1, "passed": 1, "not applicable": 0}
    md = (tmp_path / "report.md").read_text()
    assert "| R9 | Kernel configuration options | **failed** |" in md
