"""Rule fixtures -> the three input formats (plan, stack export v3, preview --json), as real.

A fixture is `{config, resources: [{name, type, props, provider?}]}`; in props, `{"!secret": v}`
is a value the program passed as a Pulumi secret and `{"!ref": name}` the id of another fixture
resource (a property dependency). Each converter writes them the way its format does: the plan
as ciphertext objects and mock ids, the export as ciphertext (or `--show-secrets` plaintext)
objects with ids and propertyDependencies, the preview as "[secret]" and unknown ids.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rule import SECRET, SECRET_SIG, SIG_KEY

STACK = "fixture"
ROOT_URN = f"urn:pulumi:{STACK}::hdh::pulumi:pulumi:Stack::hdh-{STACK}"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def urn(res: dict[str, Any]) -> str:
    return f"urn:pulumi:{STACK}::hdh::{res['type']}::{res['name']}"


def _ids(doc: dict[str, Any], plan: bool) -> dict[str, str]:
    """Ids as a plan (recorded with each resource) or an export would carry them."""
    space = f"plan:{STACK}:" if plan else ""
    return {
        r["name"]: str(uuid.uuid5(uuid.NAMESPACE_URL, space + r["name"])) for r in doc["resources"]
    }


def _props(value: Any, secret: Any, ref: Any, deps: dict[str, list[str]], top: str = "") -> Any:
    if isinstance(value, dict):
        if "!secret" in value:
            return secret(value["!secret"])
        if "!ref" in value:
            deps.setdefault(top, []).append(value["!ref"])
            return ref(value["!ref"])
        return {k: _props(v, secret, ref, deps, top or k) for k, v in value.items()}
    if isinstance(value, list):
        return [_props(v, secret, ref, deps, top) for v in value]
    return value


def _resources(doc: dict[str, Any], secret: Any, ref: Any) -> list[dict[str, Any]]:
    by_name = {r["name"]: r for r in doc["resources"]}
    out = []
    for r in doc["resources"]:
        deps: dict[str, list[str]] = {}
        props = _props(r.get("props") or {}, secret, ref, deps)
        out.append(
            {
                "res": r,
                "urn": urn(r),
                "props": props,
                "deps": {k: [urn(by_name[n]) for n in v] for k, v in deps.items()},
                "provider": by_name[r["provider"]] if r.get("provider") else None,
            }
        )
    return out


def to_plan(doc: dict[str, Any]) -> dict[str, Any]:
    ids = _ids(doc, plan=True)
    rows = _resources(
        doc,
        lambda v: {SIG_KEY: SECRET_SIG, "ciphertext": "[secret: not recorded by plan]"},
        lambda n: ids[n],
    )
    return {
        "format": "hdh-plan/v1",
        "stack": STACK,
        "resources": [
            {
                "urn": x["urn"],
                "type": x["res"]["type"],
                "name": x["res"]["name"],
                "parent": "",
                "provider": f"{urn(p)}::{ids[p['name']]}" if (p := x["provider"]) else "",
                "custom": True,
                "inputs": x["props"],
                "id": ids[x["res"]["name"]],
            }
            for x in rows
        ],
    }


def to_export(doc: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    ids = _ids(doc, plan=False)

    def secret(v: Any) -> dict[str, str]:
        if show_secrets:
            return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(v)}
        return {SIG_KEY: SECRET_SIG, "ciphertext": "v1:c2VjcmV0IGZpeHR1cmU="}

    rows = _resources(doc, secret, lambda n: ids[n])
    resources: list[dict[str, Any]] = [
        {"urn": ROOT_URN, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}}
    ]
    for x in rows:
        r = x["res"]
        resources.append(
            {
                "urn": x["urn"],
                "custom": True,
                "id": ids[r["name"]],
                "type": r["type"],
                "inputs": x["props"],
                "outputs": {**x["props"], "id": ids[r["name"]]},
                "parent": ROOT_URN,
                "provider": f"{urn(p)}::{ids[p['name']]}" if (p := x["provider"]) else "",
                "propertyDependencies": x["deps"],
            }
        )
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "2026-11-23T00:00:00Z", "magic": "", "version": "v3.259.0"},
            "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:fixture"}},
            "resources": resources,
        },
    }


def to_preview(doc: dict[str, Any]) -> dict[str, Any]:
    # In a preview, ids of resources not yet created are unknown; deps say where they come from.
    rows = _resources(doc, lambda v: SECRET, lambda n: UNKNOWN_STRING_VALUE)
    steps = []
    for x in rows:
        r = x["res"]
        provider = f"{urn(p)}::{UNKNOWN_STRING_VALUE}" if (p := x["provider"]) else ""
        state = {
            "urn": x["urn"],
            "custom": True,
            "type": r["type"],
            "inputs": {**x["props"], "__defaults": []},
            "parent": ROOT_URN,
            "provider": provider,
            "propertyDependencies": x["deps"],
        }
        steps.append({"op": "create", "urn": x["urn"], "provider": provider, "newState": state})
    return {"config": {}, "steps": steps, "diagnostics": [], "duration": 1, "changeSummary": {}}


FORMATS = {
    "plan": to_plan,
    "stack-export": to_export,
    "stack-export-plaintext": lambda d: to_export(d, show_secrets=True),
    "preview": to_preview,
}
