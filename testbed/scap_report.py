"""OpenSCAP report: before / our hardening / SSG's remediation, every remaining failure explained.

    hdh testbed report --before B.arf.xml --ours O.arf.xml --ssg S.arf.xml \
        [--kind container] [--role base] --out build/scap

Writes report.json and report.md to --out and prints the Markdown. Exit 0 when every failure on
our host is explained, 1 when some are not, 2 on bad input.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from hardening import tailoring
from hardening.explanations import Explanation, explanations
from testbed import scap

FAILED = ("fail", "error", "unknown")
COUNTED = ("pass", "fixed", *FAILED)  # XCCDF default model: other results do not count
Node = tuple[str, float, tuple[Any, ...]]  # (rule id or "", weight, children)


@cache
def _tree(datastream: Path) -> Node:
    """The Benchmark's group/rule tree, for the XCCDF default scoring model."""
    root = ET.parse(datastream).getroot()
    bench = next(root.iter(f"{scap.XCCDF}Benchmark"))

    def walk(el: ET.Element) -> Node:
        weight = float(el.get("weight", 1))
        if el.tag == f"{scap.XCCDF}Rule":
            return (el.get("id", "").removeprefix(scap.RULE_PREFIX), weight, ())
        kids = tuple(walk(c) for c in el if c.tag in (f"{scap.XCCDF}Group", f"{scap.XCCDF}Rule"))
        return ("", weight, kids)

    return walk(bench)


def default_score(results: Mapping[str, str], datastream: Path) -> float:
    """XCCDF 1.2 default score of rule results {short rule id: result}, as oscap computes it:
    each group is the weighted mean of its counted children (pass 100, fail 0)."""

    def score(node: Node) -> tuple[float, int]:
        rule, _, kids = node
        if rule:
            result = results.get(rule)
            return (100.0 if result in ("pass", "fixed") else 0.0), int(result in COUNTED)
        total = weights = 0.0
        count = 0
        for kid in kids:
            s, c = score(kid)
            if c:
                total, weights, count = total + s * kid[1], weights + kid[1], count + c
        return (total / weights if weights else 0.0), count

    return score(_tree(datastream))[0]


def _order(r: scap.RuleResult) -> tuple[int, str]:
    """By first R-number, then rule id."""
    return (int(r.anssi[0][1:]) if r.anssi else 0, r.rule)


def _scan(res: scap.ScanResult | None) -> dict[str, Any] | None:
    if res is None:
        return None
    return {
        "host": res.host,
        "kind": res.kind,
        "score": round(res.score, 2),
        "counts": res.counts,
        "seconds": round(res.seconds, 1),
        "results_file": str(res.arf) if res.arf else None,
    }


def compare(
    before: scap.ScanResult | None,
    ours: scap.ScanResult,
    ssg: scap.ScanResult | None,
    kind: str,
    role: str = "",
    why: Mapping[str, Explanation] | None = None,
    datastream: Path | None = None,
    ours_stock: scap.ScanResult | None = None,
    ssg_stock: scap.ScanResult | None = None,
) -> dict[str, Any]:
    """The comparison as one JSON-able document: scores, failures joined with their reasons.

    Judged on `ours.profile`. When that is our tailored profile, the tailoring's changes are in
    the document, with the stock profile's verdicts on the rules they touch (`ours_stock`,
    `ssg_stock`: the same hosts scanned with the stock profile). When it is a stock profile, a
    failure the tailoring accounts for is explained by it (never on a tailored scan: there such
    a failure is real)."""
    tailored = tailoring.is_tailored(ours.profile)
    if why is None:
        why = explanations()
        if datastream is not None and not tailored:
            why = {**tailoring.explanations(datastream), **why}
    ssg_by = {r.rule: r.result for r in ssg.rules} if ssg else {}
    joined: list[tuple[scap.RuleResult, Explanation | None]] = []
    for r in sorted(ours.failed(), key=_order):
        e = why.get(r.rule)
        joined.append((r, e if e and e.covers(kind) else None))
    failures: list[dict[str, Any]] = [
        {
            "rule": r.rule,
            "title": r.title,
            "severity": r.severity,
            "anssi": list(r.anssi),
            "result": r.result,
            "ssg_result": ssg_by.get(r.rule),
            "explanation": (
                {"control": e.control, "category": e.category, "why": e.why} if e else None
            ),
        }
        for r, e in joined
    ]
    ours_by = {r.rule: r.result for r in ours.rules}
    ssg_better = sorted(
        k for k, v in ssg_by.items() if v in ("pass", "fixed") and ours_by.get(k) in FAILED
    )
    ours_better = sorted(
        k for k, v in ours_by.items() if v in ("pass", "fixed") and ssg_by.get(k) in FAILED
    )
    deviations = {r.rule for r, e in joined if e and e.category == "deliberate-deviation"}
    adjusted = None
    if datastream is not None:
        # What the judge would say if our deliberate deviations were SSG's choices: the score
        # cost of each documented decision, never a replacement for the real score.
        adjusted = round(
            default_score(
                {**ours_by, **{d: ssg_by.get(d, "pass") for d in deviations}}, datastream
            ),
            2,
        )
    unexplained = [r.rule for r, e in joined if e is None]
    return {
        "profile": scap.short_profile(ours.profile),
        "tailoring": _tailoring(ours.profile, datastream, ours_stock, ssg_stock)
        if tailored
        else None,
        "ssg_package": scap.ssg_version(),
        "kind": kind,
        "role": role,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "scans": {"before": _scan(before), "ours": _scan(ours), "ssg": _scan(ssg)},
        "ours_minus_ssg": round(ours.score - ssg.score, 2) if ssg else None,
        "ours_with_deviations_as_ssg": adjusted,
        "failures": failures,
        "categories": dict(Counter(e.category if e else "unexplained" for _, e in joined)),
        "unexplained": unexplained,
        "ssg_better": ssg_better,
        "ssg_better_not_deliberate": sorted(set(ssg_better) - deviations),
        "ours_better": ours_better,
    }


def _tailoring(
    profile: str,
    datastream: Path | None,
    ours_stock: scap.ScanResult | None,
    ssg_stock: scap.ScanResult | None,
) -> dict[str, Any]:
    """The tailoring's changes, and the stock verdicts on the rules they touch."""
    level = tailoring.LEVELS.get(tailoring.base_name(profile), "intermediary")
    touched: dict[str, Explanation] = tailoring.explanations(datastream) if datastream else {}
    ours_by = {r.rule: r.result for r in ours_stock.rules} if ours_stock else {}
    ssg_by = {r.rule: r.result for r in ssg_stock.rules} if ssg_stock else {}
    return {
        "file": tailoring.PATH,
        "base_profile": tailoring.base_name(profile),
        "changes": tailoring.summary(level),
        "stock": {"ours": _scan(ours_stock), "ssg": _scan(ssg_stock)},
        "stock_verdicts": [
            {
                "rule": rule,
                "control": e.control,
                "ours": ours_by.get(rule, "notselected"),
                "ssg": ssg_by.get(rule, "notselected"),
            }
            for rule, e in sorted(touched.items())
            if rule in ours_by or rule in ssg_by
        ],
    }


def markdown(doc: Mapping[str, Any]) -> str:
    """The report for auditors: scores side by side, then every remaining failure and its reason."""
    scans = doc["scans"]
    lines = [
        f"# OpenSCAP `{doc['profile']}`: our hardening vs SSG's own remediation",
        "",
        f"SSG data stream: `{doc['ssg_package'] or 'unknown'}`; host kind: {doc['kind']}"
        f"{'; role: ' + doc['role'] if doc['role'] else ''}; scanned {doc['date']}. Score: XCCDF "
        "default model (what `oscap` prints), 0-100.",
        "",
        "| host state | host | score | pass | fail | notapplicable | notchecked | error |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "before": "before hardening",
        "ours": "our hardening",
        "ssg": "SSG's generated remediation",
    }
    rows = [(label, scans.get(key)) for key, label in labels.items()]
    tl = doc.get("tailoring")
    if tl:
        rows += [
            (f"our hardening, stock `{tl['base_profile']}` (for the record)", tl["stock"]["ours"]),
            (
                f"SSG's remediation, stock `{tl['base_profile']}` (for the record)",
                tl["stock"]["ssg"],
            ),
        ]
    for label, s in rows:
        if s:
            c = s["counts"]
            lines.append(
                f"| {label} | {s['host']} | {s['score']:.2f} | {c['pass']} | {c['fail']} | "
                f"{c['notapplicable']} | {c['notchecked']} | {c['error']} |"
            )
    lines.append("")
    if doc["ours_minus_ssg"] is not None:
        lines.append(f"- Ours minus SSG's: **{doc['ours_minus_ssg']:+.2f}** points.")
    if doc["ours_with_deviations_as_ssg"] is not None:
        lines.append(
            "- With our deliberate deviations counted as SSG counts them (the score cost of those "
            f"decisions, not a score): {doc['ours_with_deviations_as_ssg']:.2f}."
        )
    cats = ", ".join(f"{n} {c}" for c, n in sorted(doc["categories"].items()))
    lines.append(f"- Failures left on our host: {len(doc['failures'])} ({cats or 'none'}).")
    if doc["unexplained"]:
        lines.append(f"- **Unexplained**: {', '.join(doc['unexplained'])}.")
    if doc["ssg_better_not_deliberate"]:
        lines.append(
            "- **SSG passes, ours fails, not a deliberate deviation**: "
            + ", ".join(doc["ssg_better_not_deliberate"])
        )
    lines += [
        "",
        "## Remaining failures on our host",
        "",
        "Category: `not-applicable-on-<kind>` cannot hold on this kind of host; `fixed-elsewhere` "
        "is done by another part of the platform; `deliberate-deviation` is a documented choice. "
        "Reasons come from `hardening/data/scap_explanations.yaml`.",
        "",
        "| rule | BP-028 | severity | category | why | SSG's host |",
        "|---|---|---|---|---|---|",
    ]
    for f in doc["failures"]:
        e = f["explanation"] or {"control": "", "category": "**unexplained**", "why": ""}
        lines.append(
            f"| `{f['rule']}` | {e['control'] or ' '.join(f['anssi'])} | {f['severity']} | "
            f"{e['category']} | {e['why']} | {f['ssg_result'] or '-'} |"
        )
    if tl:
        lines += [
            "",
            "## Tailoring",
            "",
            f"Both hosts are judged on `{doc['profile']}`: SSG's `{tl['base_profile']}` tailored "
            f"by `{tl['file']}` (an XCCDF Tailoring file; SSG's remediation was generated from "
            "the same tailored profile). It changes only this:",
            "",
            "| change | SSG id | BP-028 | value | why |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['change']} | `{c['id']}` | {c['control']} | {c['value']} | {c['why']} |"
            for c in tl["changes"]
        ]
        if tl["stock_verdicts"]:
            lines += [
                "",
                "Verdicts of the stock profile on the rules the tailoring touches:",
                "",
                "| rule | BP-028 | our host | SSG's host |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| `{v['rule']}` | {v['control']} | {v['ours']} | {v['ssg']} |"
                for v in tl["stock_verdicts"]
            ]
    for title, key in (
        ("Rules SSG's remediation passes and ours fails", "ssg_better"),
        ("Rules ours passes and SSG's remediation fails", "ours_better"),
    ):
        lines += ["", f"## {title}", ""]
        lines += [f"- `{r}`" for r in doc[key]] or ["None."]
    return "\n".join(lines) + "\n"


def write(doc: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "report.json", out_dir / "report.md"
    js.write_text(json.dumps(doc, indent=1) + "\n")
    md.write_text(markdown(doc))
    return js, md
