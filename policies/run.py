"""Evaluation: the pack's own policy objects over Records, findings and undetermined outcomes.

The adapters (policies/adapters.py) turn a plan, a stack export or a preview into Records;
`evaluate` builds the SDK's own ResourceValidationArgs / StackValidationArgs from them and calls
the very policy objects the engine runs (policies.pack.POLICIES), as pulumi-policy's own tests do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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

from policies.adapters import Record, load, records
from policies.config import policy_config
from policies.pack import POLICIES, RULES, reset_views
from policies.rule import SECRET, Rule, StackUnknowns

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Undetermined:
    """A rule that could not decide on a resource: a value unknown until the cloud makes it."""

    rule: str
    urn: str
    enforcement: str
    reason: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"


@dataclass
class Result:
    source: str  # plan, stack-export, preview
    resources: int
    rules: list[Rule]
    findings: list[Finding] = field(default_factory=list)
    undetermined: list[Undetermined] = field(default_factory=list)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.mandatory]

    def outcome(self, rule: str) -> str:
        """failed (a mandatory violation), warned (advisory), undetermined (could not decide
        on some resource and found no violation), or passed."""
        found = [f for f in self.findings if f.rule == rule]
        if any(f.mandatory for f in found):
            return "failed"
        if found:
            return "warned"
        return "undetermined" if any(u.rule == rule for u in self.undetermined) else "passed"

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
            "undeterminedMandatory": sum(u.mandatory for u in self.undetermined),
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
            "undetermined": [
                {"rule": u.rule, "urn": u.urn, "enforcement": u.enforcement, "reason": u.reason}
                for u in self.undetermined
            ],
            "summary": self.summary(),
        }


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
    reset_views()
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
            report = reporter(policy.name, rec.type, rec.urn)
            _call(policy, args, report, result, rec.urn, levels[policy.name])
    stack_policies = [p for p in chosen if not isinstance(p, ResourceValidationPolicy)]
    if stack_policies:
        resources = _policy_resources(recs, providers, opts)
        types = {r.urn: r.type for r in recs}
        for stack_policy in stack_policies:
            args_s = StackValidationArgs(resources, per_rule[stack_policy.name])

            def report_s(message: str, urn: str | None = None, _p: str = stack_policy.name) -> None:
                reporter(_p, types.get(urn or "", ""), urn or "")(message, urn)

            _call(stack_policy, args_s, report_s, result, "", levels[stack_policy.name])
    result.findings.sort(key=lambda f: (f.rule, f.urn, f.message))
    result.undetermined.sort(key=lambda u: (u.rule, u.urn))
    return result


def _level(rule: str, per_rule: Mapping[str, Mapping[str, Any]]) -> str:
    return str(per_rule[rule].get("enforcementLevel") or RULES[rule].RULE.enforcement)


def _call(policy: Any, args: Any, report: Any, result: Result, urn: str, level: str) -> None:
    try:
        policy.validate(args, report)
    except StackUnknowns as exc:  # a stack rule: each resource it could not judge
        for where, reason in exc.undecided:
            result.undetermined.append(Undetermined(policy.name, where, level, reason))
    except UnknownValueError as exc:  # the engine reports these as advisory diagnostics too
        result.undetermined.append(Undetermined(policy.name, urn, level, exc.message))


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


__all__ = [
    "SECRET",
    "Finding",
    "Record",
    "Result",
    "Undetermined",
    "evaluate",
    "load",
    "policy_config",
    "records",
]
