"""SARIF 2.1.0 report (GitLab/GitHub code scanning): one rule per policy, one result per finding.

An undetermined outcome is a result of its own: kind "open" (SARIF 2.1.0 §3.27.9: the tool could
not decide whether the result is a pass or a fail) with level "none", as the spec requires for
a kind other than "fail".
"""

from __future__ import annotations

import json
from typing import Any

from policies.controls import CONTROLS
from policies.pack import PACK_NAME, PACK_VERSION
from policies.run import Result

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"mandatory": "error", "advisory": "warning"}
# GitHub reads a 0-10 "security-severity" from rule properties to rank alerts.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def render(result: Result, artifact: str = "Pulumi.yaml") -> str:
    index = {r.id: i for i, r in enumerate(result.rules)}
    rules: list[dict[str, Any]] = [
        {
            "id": r.id,
            "name": r.id,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.title},
            "help": {"text": r.remediation},
            "defaultConfiguration": {"level": LEVEL[r.enforcement]},
            "properties": {
                "security-severity": SECURITY_SEVERITY[r.severity],
                "tags": ["security", *r.frameworks],
                "frameworks": [
                    f"{CONTROLS[c].framework}: {CONTROLS[c].title}" for c in r.frameworks
                ],
            },
        }
        for r in result.rules
    ]
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "kind": "fail",
            "level": LEVEL.get(f.enforcement, "warning"),
            "message": {"text": f"{f.message} ({f.urn})"},
            "locations": [_location(artifact, f.urn)],
            "partialFingerprints": {"hdhPolicy/v1": f"{f.rule}:{f.urn}:{f.message}"},
        }
        for f in result.findings
    ]
    results += [
        {
            "ruleId": u.rule,
            "ruleIndex": index[u.rule],
            "kind": "open",
            "level": "none",
            "message": {"text": f"undetermined: {u.reason} ({u.urn or 'stack'})"},
            "locations": [_location(artifact, u.urn)],
            "partialFingerprints": {"hdhPolicy/v1": f"{u.rule}:{u.urn}:undetermined"},
        }
        for u in result.undetermined
    ]
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": PACK_NAME,
                        "version": PACK_VERSION,
                        "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {"summary": result.summary()},
            }
        ],
    }
    return json.dumps(doc, indent=1) + "\n"


def _location(artifact: str, urn: str) -> dict[str, Any]:
    # Resources have no source line: the project file's first line anchors the alert (code
    # scanning services want one), the URN names the resource.
    out: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": {"uri": artifact}, "region": {"startLine": 1}}
    }
    if urn:
        name = urn.rsplit("::", 1)[-1]
        out["logicalLocations"] = [{"fullyQualifiedName": urn, "name": name, "kind": "resource"}]
    return out
