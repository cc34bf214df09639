"""Plain-text report: violations grouped by rule, each with the resource URN."""

from __future__ import annotations

from itertools import groupby

from policies.run import Result


def render(result: Result) -> str:
    s = result.summary()
    lines = []
    for rule_id, group in groupby(result.findings, key=lambda f: f.rule):
        items = list(group)
        rule = next(r for r in result.rules if r.id == rule_id)
        lines.append(f"[{items[0].enforcement}] [{rule.severity}] {rule_id}: {rule.title}")
        for f in items:
            lines.append(f"    {f.urn}")
            lines.append(f"        {f.message}")
        lines.append(f"    fix: {rule.remediation}")
        lines.append("")
    for u in result.undetermined:
        lines.append(f"[undetermined] [{u.enforcement}] {u.rule}: {u.urn or '(stack)'}: {u.reason}")
    verdict = "PASSED" if s["passed"] else "FAILED"
    lines.append(
        f"{verdict}: {s['resources']} resources ({s['source']}), {s['rules']} rules, "
        f"{s['mandatory']} mandatory and {s['advisory']} advisory violations"
        + (f", {s['undetermined']} undetermined" if s["undetermined"] else "")
    )
    return "\n".join(lines) + "\n"
