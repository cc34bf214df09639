"""Discover policies/rules/*.py and turn each rule into a CrossGuard policy with one factory."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

import policies.rules
from policies.config import defaults, schema
from policies.controls import CONTROLS
from policies.rule import (
    SECRET_SIG,
    SIG_KEY,
    Resource,
    Rule,
    Stack,
    StackUnknowns,
    Undecided,
    _is_unknown,
)

log = logging.getLogger(__name__)
PACK_NAME = "hdh-platform"
PACK_VERSION = "0.1.0"


def discover() -> dict[str, ModuleType]:
    """Every rule module, by rule id; a module's name must be its id in snake case."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(policies.rules.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"policies.rules.{info.name}")
        rule: Rule = module.RULE
        if rule.id.replace("-", "_") != info.name:
            raise ValueError(f"policies/rules/{info.name}.py holds rule {rule.id!r}")
        found[rule.id] = module
    return found


RULES: dict[str, ModuleType] = discover()


def rule_config(rule: Rule, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's config: schema defaults (from the profiles) overlaid by what was given."""
    d = defaults()
    cfg = {k: d[k] for k in rule.config}
    cfg.update({k: v for k, v in (given or {}).items() if k in cfg})
    return cfg


# A resource's view is built once even when every policy asks for it (run.py hands the same
# props object to each policy in turn); the engine deserialises per policy, so no reuse there.
_last_view: list[Any] = [None, Resource("", "", "", {})]
_last_stack: list[Any] = [None, None]


def reset_views() -> None:
    """Forget the cached views (a caller may evaluate the same, mutated, objects again)."""
    _last_view[:] = [None, Resource("", "", "", {})]
    _last_stack[:] = [None, None]


def resource_view(args: ResourceValidationArgs) -> Resource:
    if _last_view[0] is not args.props or _last_view[1].urn != args.urn:
        prov = args.provider.props if args.provider is not None else None
        view = Resource.build(args.urn, args.resource_type, args.name, args.props, prov)
        _last_view[:] = [args.props, view]
    return _last_view[1]


def stack_view(args: StackValidationArgs) -> Stack:
    if _last_stack[0] is args.resources:
        return _last_stack[1]
    stack = Stack(
        lazy=[(r.urn, r.resource_type, _raw_id(r.props), _builder(r)) for r in args.resources]
    )
    _last_stack[:] = [args.resources, stack]
    return stack


def _builder(r: PolicyResource) -> Callable[[], Resource]:
    def build() -> Resource:
        return Resource.build(
            r.urn,
            r.resource_type,
            r.name,
            r.props,
            r.provider.props if r.provider is not None else None,
            {k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
        )

    return build


def _raw_id(props: Any) -> str:
    """A resource's id without building its view ('' when absent or unknown in preview)."""
    target = props if type(props) is dict else props["__target"]  # the SDK's proxy
    rid = target.get("id") if isinstance(target, Mapping) else None
    return rid if isinstance(rid, str) and not _is_unknown(rid) else ""


def _resource_validator(module: ModuleType) -> Callable[..., None]:
    rule: Rule = module.RULE
    check = module.check

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not rule.applies(args.resource_type):
            return
        cfg = rule_config(rule, args.get_config())
        for message in check(resource_view(args), cfg):
            report(message, None)

    return validate


def _stack_validator(module: ModuleType) -> Callable[..., None]:
    rule: Rule = module.RULE
    check_stack = module.check_stack

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        cfg = rule_config(rule, args.get_config())
        undecided: list[tuple[str, str]] = []
        for res, message in check_stack(stack_view(args), cfg):
            if isinstance(message, Undecided):
                undecided.append((res.urn, message.reason))
            else:
                report(message, res.urn)
        if undecided:  # after every decidable resource was judged and reported
            raise StackUnknowns(undecided)

    return validate


def make_policy(module: ModuleType) -> Policy:
    """The one factory: a rule module -> its ResourceValidationPolicy or StackValidationPolicy."""
    rule: Rule = module.RULE
    control = CONTROLS[rule.frameworks[0]]
    common: dict[str, Any] = {
        "name": rule.id,
        "description": rule.title,
        "enforcement_level": EnforcementLevel(rule.enforcement),
        "config_schema": PolicyConfigSchema(schema(rule.config)) if rule.config else None,
        "severity": Severity(rule.severity),
        "framework": PolicyComplianceFramework(
            name=control.framework, version=control.version or None, specification=control.title
        ),
        "tags": list(rule.frameworks),
        "remediation_steps": rule.remediation,
        "url": f"docs/policies.md#{rule.id}",
    }
    if rule.scope == "stack":
        return StackValidationPolicy(validate=_stack_validator(module), **common)
    return ResourceValidationPolicy(validate=_resource_validator(module), **common)


POLICIES: list[Policy] = [make_policy(m) for m in RULES.values()]


def rules() -> Iterator[Rule]:
    for module in RULES.values():
        yield module.RULE


def keep_secret_envelopes() -> None:
    """Make the engine path see which values are secrets, as the other adapters do.

    pulumi_policy unwraps secrets before a validator runs, so a policy could not tell a Pulumi
    secret from plain text; secret-plaintext-state needs exactly that. The analyzer's
    deserialiser is replaced (in the pack process only) by one that keeps the engine's secret
    envelope `{sig: secret, value: ...}`; Resource.build then unwraps it and records the path.
    """
    from pulumi_policy import deserialize, policy

    sig, secret = SIG_KEY, SECRET_SIG

    def keep(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get(sig) == secret:
                return {sig: secret, "value": keep(value.get("value"))}
            if sig in value:
                return deserialize._deserialize_property(value)  # assets, archives
            return {k: keep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [keep(v) for v in value]
        return value

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:  # remediation path: keep the SDK's own behaviour
            return deserialize.deserialize_properties(props, proxy_secrets)
        return {k: keep(v) for k, v in props.items()}

    policy.deserialize_properties = deserialize_properties
