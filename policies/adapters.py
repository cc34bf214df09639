"""Adapters: hdh plan, `pulumi stack export` v3 and `pulumi preview --json` -> Records.

Each adapter only turns its format into Records (type, name, URN, camelCase props with secret
envelopes kept, provider, property dependencies), every field type-checked, so that no rule ever
sees a hostile document's odd shapes. The root stack's outputs become a Record of their own:
they are state too (a kubeconfig output in clear is a secret in clear).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ground.errors import ConfigError, InputError
from ground.loader import load as read_file

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Record:
    """One resource as every adapter hands it over."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None  # None: the inputs stand for the outputs
    provider: str = ""  # "<provider urn>::<id>"
    parent: str = ""
    id: str = ""
    deps: dict[str, list[str]] = field(default_factory=dict)


def load(path: Path) -> tuple[str, list[Record]]:
    """Read a stack export, a `preview --json` or an hdh plan; InputError if it is neither."""
    try:
        doc = read_file(path, "state")
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    try:
        return records(doc)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def records(doc: Any) -> tuple[str, list[Record]]:
    """(format, records) of a parsed document, format detected from its shape."""
    if not isinstance(doc, dict):
        raise InputError("not a stack export, preview --json or hdh plan (top level not an object)")
    try:
        if doc.get("format") == "hdh-plan/v1":
            return "plan", from_plan(doc)
        if "deployment" in doc:
            if doc.get("version") != 3:
                raise InputError(f"stack export version {doc.get('version')!r}: only 3 is read")
            return "stack-export", from_export(doc["deployment"])
        if isinstance(doc.get("steps"), list):
            return "preview", from_preview(doc)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"malformed document: missing or wrong field {exc}") from None
    raise InputError(
        "unrecognised: expected a `pulumi stack export` (version 3), a `pulumi preview --json` "
        "or an `hdh plan --json` document"
    )


def _record(where: str, **fields: Any) -> Record:
    """A Record whose every field has the type the rules rely on (InputError otherwise)."""
    rec = Record(**fields)
    for name in ("urn", "type", "name", "provider", "parent", "id"):
        if not isinstance(getattr(rec, name), str):
            raise InputError(f"malformed document: {where}.{name}: expected a string")
    if not isinstance(rec.inputs, dict) or not isinstance(rec.outputs, dict | None):
        raise InputError(f"malformed document: {where}: inputs and outputs must be objects")
    ok = isinstance(rec.deps, dict) and all(
        isinstance(v, list) and all(isinstance(u, str) for u in v) for v in rec.deps.values()
    )
    if not ok:
        raise InputError(f"malformed document: {where}.propertyDependencies: lists of URNs")
    return rec


def from_plan(doc: Mapping[str, Any]) -> list[Record]:
    """The credential-free plan (hdh plan --json, or Plan.to_json()): ids as the plan gave them."""
    if not isinstance(doc["stack"], str):
        raise InputError("plan: stack: expected a stack name")
    out = [
        _record(
            f"resources[{i}]",
            urn=r["urn"],
            type=r["type"],
            name=r["name"],
            inputs=r["inputs"],
            provider=r["provider"],
            parent=r["parent"],
            id=r.get("id") or "",
        )
        for i, r in enumerate(doc["resources"])
    ]
    outputs = doc.get("outputs")
    if outputs:  # the stack's outputs, judged like its resources
        urn = f"urn:pulumi:{doc['stack']}::{doc.get('project', 'hdh')}::{STACK_TYPE}::outputs"
        out.append(_record("outputs", urn=urn, type=STACK_TYPE, name="outputs", inputs=outputs))
    return out


def from_export(deployment: Mapping[str, Any]) -> list[Record]:
    """`pulumi stack export`: inputs for resource rules, outputs for stack rules; the root
    stack's outputs stand for its inputs (they are what the state holds)."""
    out = []
    for i, r in enumerate(deployment.get("resources") or []):
        if r.get("delete"):
            continue
        root = r["type"] == STACK_TYPE
        out.append(
            _record(
                f"deployment.resources[{i}]",
                urn=r["urn"],
                type=r["type"],
                name=str(r["urn"]).rsplit("::", 1)[-1],
                inputs=(r.get("outputs") if root else r.get("inputs")) or {},
                outputs=r.get("outputs"),
                provider=r.get("provider", ""),
                parent=r.get("parent", ""),
                id=r.get("id", ""),
                deps=r.get("propertyDependencies") or {},
            )
        )
    return out


def from_preview(doc: Mapping[str, Any]) -> list[Record]:
    """`pulumi preview --json`: each step's new state (deletions have none and are skipped)."""
    out = []
    for i, step in enumerate(doc["steps"]):
        state = step.get("newState")
        if not state:
            continue
        root = state["type"] == STACK_TYPE
        out.append(
            _record(
                f"steps[{i}].newState",
                urn=state["urn"],
                type=state["type"],
                name=str(state["urn"]).rsplit("::", 1)[-1],
                inputs=(state.get("outputs") if root else state.get("inputs")) or {},
                outputs=state.get("outputs") or None,
                provider=state.get("provider") or step.get("provider", ""),
                parent=state.get("parent", ""),
                id=state.get("id", ""),
                deps=state.get("propertyDependencies") or {},
            )
        )
    return out
