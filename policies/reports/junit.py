"""JUnit XML: one test case per rule; a mandatory violation fails it, an undetermined rule
(a value unknown until deployed) is skipped with the reason, never shown as passed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from policies.run import Result


def render(result: Result) -> str:
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    failed = sum(1 for r in result.rules if result.outcome(r.id) == "failed")
    skipped = sum(1 for r in result.rules if result.outcome(r.id) == "undetermined")
    unknown: dict[str, list] = {}
    for u in result.undetermined:
        unknown.setdefault(u.rule, []).append(u)
    suite = ET.Element(
        "testsuite",
        name="hdh-policy",
        tests=str(len(result.rules)),
        failures=str(failed),
        errors="0",
        skipped=str(skipped),
    )
    for rule in result.rules:
        case = ET.SubElement(
            suite, "testcase", classname=f"policies.{rule.enforcement}", name=rule.id
        )
        found = by_rule.get(rule.id, [])
        body = "\n".join(f"{f.urn}: {f.message}" for f in found)
        if any(f.mandatory for f in found):
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(found)} violation(s): {rule.title}",
                type="mandatory",
            )
            failure.text = body
        elif found:  # advisory: reported, not failed
            ET.SubElement(case, "system-out").text = body
        elif rule.id in unknown:  # could not decide: not a pass
            items = unknown[rule.id]
            skip = ET.SubElement(
                case,
                "skipped",
                message=f"undetermined on {len(items)} resource(s): {items[0].reason}",
            )
            skip.text = "\n".join(f"{u.urn or '(stack)'}: {u.reason}" for u in items)
    root = ET.Element(
        "testsuites", tests=suite.get("tests", "0"), failures=str(failed), skipped=str(skipped)
    )
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
