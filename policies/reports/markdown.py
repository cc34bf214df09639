"""Markdown compliance matrix for auditors: control -> rule -> result, then the violations."""

from __future__ import annotations

from policies.controls import CONTROLS
from policies.run import Result


def render(result: Result) -> str:
    s = result.summary()
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    lines = [
        "# Compliance matrix",
        "",
        f"{s['resources']} resources ({s['source']}), {s['rules']} rules: "
        f"**{'PASSED' if s['passed'] else 'FAILED'}** "
        f"({s['mandatory']} mandatory, {s['advisory']} advisory violations"
        f"{', ' + str(s['undetermined']) + ' undetermined' if s['undetermined'] else ''}).",
        "",
        "| Control | Framework | Requirements | Rule | Enforcement | Result |",
        "|---|---|---|---|---|---|",
    ]
    unknown: dict[str, int] = {}
    for u in result.undetermined:
        unknown[u.rule] = unknown.get(u.rule, 0) + 1
    for key, control in CONTROLS.items():
        for rule in (r for r in result.rules if key in r.frameworks):
            n = counts.get(rule.id, 0)
            outcome = result.outcome(rule.id)
            verdict = {
                "passed": "pass",
                "failed": f"**fail** ({n})",
                "warned": f"warn ({n})",
                "undetermined": f"*undetermined* ({unknown.get(rule.id, 0)})",
            }[outcome]
            fw = f"{control.framework} {control.version}".strip()
            reqs = "<br>".join(r.label for r in control.refs)
            lines.append(
                f"| {control.title} | {fw} | {reqs} | `{rule.id}` | {rule.enforcement} "
                f"| {verdict} |"
            )
    if result.findings:
        lines += ["", "## Violations", "", "| Rule | Resource | Message |", "|---|---|---|"]
        for f in result.findings:
            msg = f.message.replace("|", "\\|")
            lines.append(f"| `{f.rule}` | `{f.urn}` | {msg} |")
    if result.undetermined:
        lines += [
            "",
            "## Undetermined",
            "",
            "Values unknown until the cloud creates them (a preview): neither passed nor failed.",
            "",
            "| Rule | Resource | Why |",
            "|---|---|---|",
        ]
        for u in result.undetermined:
            why = u.reason.replace("|", "\\|")
            lines.append(f"| `{u.rule}` | `{u.urn or '(stack)'}` | {why} |")
    if result.waived or result.expired_waivers:
        lines += [
            "",
            "## Waivers",
            "",
            "| Rule | Resource | Owner | Expires | Status | Justification |",
            "|---|---|---|---|---|---|",
        ]
        for f, w in result.waived + result.expired_waivers:
            status = "expired: violation again" if (f, w) in result.expired_waivers else "waived"
            just = w.justification.replace("|", "\\|")
            lines.append(
                f"| `{f.rule}` | `{f.urn}` | {w.owner} | {w.expires} | {status} | {just} |"
            )
    if result.unused_waivers:
        lines += ["", "Unused waivers (match no finding): "]
        lines += [f"- `{w.rule}` on `{w.resource}` ({w.owner})" for w in result.unused_waivers]
    if result.baselined:
        lines += ["", f"{len(result.baselined)} known finding(s) of the baseline not shown."]
    return "\n".join(lines) + "\n"
