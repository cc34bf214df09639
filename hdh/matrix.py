"""The control matrix: requirement -> control -> rule or hardening operation -> test -> result."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ground.errors import InputError
from hardening import coverage
from hardening.report import SEVERITY
from policies.controls import CONTROLS, hardening_requirements
from policies.run import Result

NOT_RUN = "not run"


def rule_rows(result: Result) -> list[dict[str, Any]]:
    """One row per (control, rule) of the pack, with the rule's result on this stack."""
    counts: dict[str, int] = {}
    blocking = {f.rule for f in result.findings if f.mandatory}
    for f in result.findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    waived: dict[str, int] = {}
    for f, _w in result.waived:
        waived[f.rule] = waived.get(f.rule, 0) + 1
    undetermined: dict[str, int] = {}
    for u in result.undetermined:
        undetermined[u.rule] = undetermined.get(u.rule, 0) + 1
    rows = []
    for key, control in CONTROLS.items():
        for rule in (r for r in result.rules if key in r.frameworks):
            n = counts.get(rule.id, 0)
            if n:
                verdict = f"fail ({n})" if rule.id in blocking else f"warn ({n})"
            elif waived.get(rule.id):
                verdict = f"waived ({waived[rule.id]})"
            elif undetermined.get(rule.id):
                verdict = f"undetermined ({undetermined[rule.id]})"
            else:
                verdict = "pass"
            rows.append(
                {
                    "kind": "rule",
                    "requirements": [r.label for r in control.refs],
                    "control": key,
                    "controlTitle": control.title,
                    "implementation": rule.id,
                    "enforcement": rule.enforcement,
                    "test": f"tests/policies/rules/{rule.id}/",
                    "result": verdict,
                }
            )
    return rows


def host_results(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """R-number -> ["<result> on <host> (<kind>)", ...] over testinfra control reports."""
    out: dict[str, list[str]] = {}
    for name, doc in reports:
        hosts = ", ".join(h.get("host", "?") for h in doc.get("hosts", [])) or name
        for rnum, entry in doc["controls"].items():
            out.setdefault(rnum, []).append(f"{entry['result']} on {hosts}")
    return out


def worst(results: list[str]) -> str:
    verdicts = [r.split(" on ", 1)[0] for r in results]
    return max(verdicts, key=lambda v: SEVERITY.get(v, 3)) if verdicts else NOT_RUN


def hardening_rows(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per ANSSI BP-028 R-number: operations, checks, the hosts' results if given."""
    by_host = host_results(reports)
    rows = []
    for r in coverage.rows():
        if r.out:
            result = f"left out: {r.out}"
        elif r.rnum in by_host:
            result = worst(by_host[r.rnum])
        else:
            result = NOT_RUN if r.checks else "no check"
        rows.append(
            {
                "kind": "hardening",
                "requirements": hardening_requirements(r.rnum),
                "control": r.rnum,
                "controlTitle": r.title,
                "implementation": "; ".join(a.replace("`", "") for a in r.applied) or "-",
                "test": "; ".join(f"tests/hardening/checks/{c}" for c, _ in r.checks) or "-",
                "result": result,
                "hosts": by_host.get(r.rnum, []),
                "status": r.status,
            }
        )
    return rows


def read_host_report(path: Path) -> dict[str, Any]:
    """A testinfra control report (report.json of --hdh-report), checked for the keys we read."""
    if path.is_dir():
        path = path / "report.json"
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("controls"), dict):
        raise InputError(f"{path}: controls: not a hardening control report (no controls object)")
    for rnum, entry in doc["controls"].items():
        if not (isinstance(rnum, str) and rnum[:1] == "R" and rnum[1:].isdigit()):
            raise InputError(f"{path}: controls.{rnum}: not an R-number")
        if not isinstance(entry, dict) or entry.get("result") not in SEVERITY:
            raise InputError(f"{path}: controls.{rnum}.result: expected one of {list(SEVERITY)}")
    hosts = doc.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, dict) for h in hosts):
        raise InputError(f"{path}: hosts: expected a list of objects")
    return doc


def render_markdown(rows: list[dict[str, Any]], title: str) -> str:
    lines = [
        f"# Control matrix — {title}",
        "",
        "Requirement → control → rule or hardening operation → test → result. Requirement numbers",
        "that could not be read in a public source say *to be confirmed* (policies/controls.yaml).",
        "",
        "| Requirements | Control | Implementation | Test | Result |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            "<br>".join(row["requirements"]),
            f"{row['control']} {row['controlTitle']}",
            f"`{row['implementation']}`" if row["kind"] == "rule" else row["implementation"],
            row["test"],
            row["result"],
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
