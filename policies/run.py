"""Adapters: hdh plan, `pulumi stack export` v3 and `pulumi preview --json` -> the pack's policies.

Each adapter only turns its format into Records (type, name, URN, camelCase props with secret
envelopes kept, provider, property dependencies); `evaluate` builds the SDK's own
ResourceValidationArgs / StackValidationArgs from them and calls the very policy objects the
engine runs (policies.pack.POLICIES), as pulumi-policy's own tests do.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UnknownValueError

from ground.errors import InputError
from policies.config import DESCRIPTIONS
from policies.pack import POLICIES, RULES
from policies.rule import SECRET, Rule

log = logging.getLogger(__name__)
LEVELS = ("mandatory", "advisory", "disabled")


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


@dataclass(frozen=True)
class Finding:
    rule: str
    urn: str
    type: str
    severity: str
    enforcement: str
    message: str

    @property
    def resource_name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


@dataclass
class Result:
    source: str  # plan, stack-export, preview
    resources: int
    rules: list[Rule]
    findings: list[Finding] = field(default_factory=list)
    undetermined: list[tuple[str, str, str]] = field(default_factory=list)  # rule, urn, why

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.mandatory]

    def summary(self) -> dict[str, Any]:
        failed = {f.rule for f in self.findings}
        return {
            "source": self.source,
            "resources": self.resources,
            "rules": len(self.rules),
            "rulesFailed": len(failed),
            "violations": len(self.findings),
            "mandatory": len(self.mandatory),
            "advisory": len(self.findings) - len(self.mandatory),
            "undetermined": len(self.undetermined),
            "passed": not self.mandatory,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "violations": [
                {
                    "rule": f.rule,
                    "urn": f.urn,
                    "severity": f.severity,
                    "enforcement": f.enforcement,
                    "message": f.message,
                }
                for f in self.findings
            ],
            "summary": self.summary(),
        }


# ---------------------------------------------------------------- input formats -> records


def load(path: Path) -> tuple[str, list[Record]]:
    """Read a stack export, a `preview --json` or an hdh plan; InputError if it is neither."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
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


def from_plan(doc: Mapping[str, Any]) -> list[Record]:
    """The credential-free plan (hdh plan --json, or Plan.to_json()): ids as the plan gave them."""
    if not isinstance(doc["stack"], str):
        raise InputError("plan: stack: expected a stack name")
    return [
        Record(
            r["urn"],
            r["type"],
            r["name"],
            r["inputs"],
            None,
            r["provider"],
            r["parent"],
            r.get("id") or "",
        )
        for r in doc["resources"]
    ]


def from_export(deployment: Mapping[str, Any]) -> list[Record]:
    """`pulumi stack export`: inputs for resource rules, outputs for stack rules."""
    out = []
    for r in deployment.get("resources") or []:
        if r["type"] == "pulumi:pulumi:Stack" or r.get("delete"):
            continue
        out.append(
            Record(
                urn=r["urn"],
                type=r["type"],
                name=r["urn"].rsplit("::", 1)[-1],
                inputs=r.get("inputs") or {},
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
    for step in doc["steps"]:
        state = step.get("newState")
        if not state or state["type"] == "pulumi:pulumi:Stack":
            continue
        out.append(
            Record(
                urn=state["urn"],
                type=state["type"],
                name=state["urn"].rsplit("::", 1)[-1],
                inputs=state.get("inputs") or {},
                outputs=state.get("outputs") or None,
                provider=state.get("provider") or step.get("provider", ""),
                parent=state.get("parent", ""),
                id=state.get("id", ""),
                deps=state.get("propertyDependencies") or {},
            )
        )
    return out


# ---------------------------------------------------------------- config


def policy_config(config: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-rule config from a policy config file (the engine's shape) or flat schema keys.

    `{"all": "advisory", "<rule-id>": {"enforcementLevel": ..., key: value}, key: value}`:
    a flat schema key applies to every rule that reads it.
    """
    per_rule: dict[str, dict[str, Any]] = {rid: {} for rid in RULES}
    flat = {}
    for key, value in (config or {}).items():
        if key == "all":
            if value not in LEVELS:
                raise InputError(f"config: all: {value!r} is not one of {', '.join(LEVELS)}")
            for rc in per_rule.values():
                rc["enforcementLevel"] = value
        elif key in RULES:
            if isinstance(value, str):
                value = {"enforcementLevel": value}
            if not isinstance(value, dict):
                raise InputError(f"config: {key}: expected an object or an enforcement level")
            per_rule[key].update(value)
        elif key in DESCRIPTIONS:
            flat[key] = value
        else:
            raise InputError(f"config: {key}: neither a rule id nor a config key")
    for rid, rc in per_rule.items():
        for key, value in flat.items():
            rc.setdefault(key, value)
        level = rc.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            raise InputError(f"config: {rid}.enforcementLevel: {level!r} is not one of {LEVELS}")
    return per_rule


# ---------------------------------------------------------------- evaluation


def evaluate(
    source: Any,
    config: Mapping[str, Any] | None = None,
    only: list[str] | None = None,
) -> Result:
    """Run the pack's policies over a plan (object or JSON), a stack export or a preview."""
    if hasattr(source, "to_json"):  # an hdh.plan.Plan
        source = source.to_json()
    kind, recs = ("records", source) if isinstance(source, list) else records(source)
    per_rule = policy_config(config)
    chosen = [p for p in POLICIES if (only is None or p.name in only)]
    levels = {p.name: _level(p.name, per_rule) for p in chosen}
    chosen = [p for p in chosen if levels[p.name] != "disabled"]
    result = Result(kind, len(recs), [RULES[p.name].RULE for p in chosen])
    providers = {r.urn: r for r in recs if r.type.startswith("pulumi:providers:")}
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)

    def reporter(rule: str, typ: str, default_urn: str) -> Any:
        meta = RULES[rule].RULE

        def report(message: str, urn: str | None = None) -> None:
            result.findings.append(
                Finding(rule, urn or default_urn, typ, meta.severity, levels[rule], message)
            )

        return report

    resource_policies = [p for p in chosen if isinstance(p, ResourceValidationPolicy)]
    for rec in recs:
        prov = _provider(rec, providers)
        for policy in resource_policies:
            if not RULES[policy.name].RULE.applies(rec.type):
                continue  # the validator says the same; this only saves building the args
            args = ResourceValidationArgs(
                rec.type, rec.inputs, rec.urn, rec.name, opts, prov, per_rule[policy.name]
            )
            _call(policy, args, reporter(policy.name, rec.type, rec.urn), result, rec.urn)
    stack_policies = [p for p in chosen if not isinstance(p, ResourceValidationPolicy)]
    if stack_policies:
        resources = _policy_resources(recs, providers, opts)
        types = {r.urn: r.type for r in recs}
        for stack_policy in stack_policies:
            args_s = StackValidationArgs(resources, per_rule[stack_policy.name])

            def report(message: str, urn: str | None = None, _p: str = stack_policy.name) -> None:
                reporter(_p, types.get(urn or "", ""), urn or "")(message, urn)

            _call(stack_policy, args_s, report, result, "")
    result.findings.sort(key=lambda f: (f.rule, f.urn, f.message))
    return result


def _level(rule: str, per_rule: Mapping[str, Mapping[str, Any]]) -> str:
    return str(per_rule[rule].get("enforcementLevel") or RULES[rule].RULE.enforcement)


def _call(policy: Any, args: Any, report: Any, result: Result, urn: str) -> None:
    try:
        policy.validate(args, report)
    except UnknownValueError as exc:  # the engine reports these as advisory diagnostics too
        result.undetermined.append((policy.name, urn, exc.message))


def _provider(rec: Record, providers: Mapping[str, Record]) -> PolicyProviderResource | None:
    urn = rec.provider.rsplit("::", 1)[0] if rec.provider else ""
    p = providers.get(urn)
    return PolicyProviderResource(p.type, p.inputs, p.urn, p.name) if p else None


def _policy_resources(
    recs: list[Record], providers: Mapping[str, Record], opts: PolicyResourceOptions
) -> list[PolicyResource]:
    """The stack as the engine's AnalyzeStack sees it: outputs, parents, property deps."""
    out = [
        PolicyResource(
            r.type,
            _outputs(r),
            r.urn,
            r.name,
            opts,
            _provider(r, providers),
            None,
            [],
            {},
        )
        for r in recs
    ]
    by_urn = {p.urn: p for p in out}
    for r, p in zip(recs, out, strict=True):
        p.parent = by_urn.get(r.parent)
        p.property_dependencies = {
            k: [by_urn[u] for u in urns if u in by_urn] for k, urns in r.deps.items()
        }
    return out


def _outputs(r: Record) -> dict[str, Any]:
    """Outputs as the engine's AnalyzeStack has them: with the id (the plan records inputs)."""
    props = r.outputs if r.outputs else r.inputs
    return {**props, "id": r.id} if r.id and "id" not in props else props


__all__ = ["SECRET", "Finding", "Record", "Result", "evaluate", "load", "records"]
