"""Control report: each R-number's checks on each host -> passed / failed / not applicable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hardening import data

PASSED, FAILED, NOT_APPLICABLE, NOT_CHECKED = "passed", "failed", "not applicable", "not checked"
# A control's verdict over its checks: the worst wins; "not applicable" only if nothing ran.
SEVERITY = {FAILED: 3, NOT_CHECKED: 2, PASSED: 1, NOT_APPLICABLE: 0}


@dataclass
class CheckResult:
    control: str
    check: str
    host: str
    kind: str
    result: str
    reason: str = ""


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, message)
        return str(longrepr[2]).removeprefix("Skipped: ")
    text = str(getattr(report, "longreprtext", "") or longrepr or "")
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    if lines:
        return " ".join(ln[1:].strip() for ln in lines[:3])
    tail = text.strip().splitlines()
    return tail[-1] if tail else ""


class Recorder:
    """Collects pytest reports of `test_r<n>_*` checks and renders the control report."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], CheckResult] = {}

    def add(self, control: str, check: str, report: Any, host: str, kind: str) -> None:
        if report.when == "call" and report.passed:
            result, reason = PASSED, ""
        elif report.skipped:
            reason = _reason(report)
            result = NOT_CHECKED if reason.startswith("no target host") else NOT_APPLICABLE
        elif report.failed:
            result = FAILED
            reason = ("error in " + report.when + ": " if report.when != "call" else "") + (
                _reason(report) or "failed"
            )
        else:
            return  # setup/teardown that passed: the call decides
        key = (host, check)
        old = self.results.get(key)
        if old is None or SEVERITY[result] > SEVERITY[old.result]:
            self.results[key] = CheckResult(control, check, host, kind or "unknown", result, reason)

    def by_control(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in sorted(self.results.values(), key=lambda r: (data.rnum_key(r.control), r.check)):
            entry = out.setdefault(r.control, {"result": NOT_APPLICABLE, "checks": []})
            entry["checks"].append(asdict(r))
            if SEVERITY[r.result] > SEVERITY[entry["result"]]:
                entry["result"] = r.result
        return out

    def write(self, directory: str | Path, role: str) -> None:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        controls = self.by_control()
        hosts = sorted({(r.host, r.kind) for r in self.results.values()})
        counts = {k: sum(1 for c in controls.values() if c["result"] == k) for k in SEVERITY}
        doc = {
            "role": role,
            "hosts": [{"host": h, "kind": k} for h, k in hosts],
            "summary": counts,
            "controls": controls,
        }
        (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
        (out / "report.md").write_text(render_markdown(doc))


def render_markdown(doc: dict[str, Any]) -> str:
    catalogue = data.controls()
    hosts = ", ".join(f"{h['host']} ({h['kind']})" for h in doc["hosts"])
    lines = [
        f"# ANSSI BP-028 control report — role `{doc['role']}`",
        "",
        f"Hosts: {hosts}",
        "",
        "Summary by control: " + ", ".join(f"{n} {k}" for k, n in doc["summary"].items() if n),
        "",
        "| Control | Title | Result | Check | Host (kind) | Result | Reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for rnum, entry in doc["controls"].items():
        title = catalogue.get(rnum, {}).get("title", "")
        for i, c in enumerate(entry["checks"]):
            head = f"{rnum} | {title} | **{entry['result']}**" if i == 0 else " | | "
            reason = c["reason"].replace("|", "\\|").replace("\n", " ")
            where = f"{c['host']} ({c['kind']})"
            lines.append(f"| {head} | `{c['check']}` | {where} | {c['result']} | {reason} |")
    return "\n".join(lines) + "\n"
