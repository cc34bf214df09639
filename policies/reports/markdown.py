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
        "| Control | Framework | Rule | Enforcement | Result |",
        "|---|---|---|---|---|",
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
            lines.append(
                f"| {control.title} | {fw} | `{rule.id}` | {rule.enforcement} | {verdict} |"
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
    return "\n".join(lines) + "\n"
