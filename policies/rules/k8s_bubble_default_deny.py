"""Every bubble namespace has a default-deny NetworkPolicy (all pods, ingress and egress)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, Stack, as_list

RULE = Rule(
    id="k8s-bubble-default-deny",
    title="Bubble namespaces have a default-deny NetworkPolicy",
    severity="critical",
    enforcement="mandatory",
    frameworks=("hds-protection", "anssi-containers"),
    remediation="Add a NetworkPolicy with podSelector {}, policyTypes [Ingress, Egress], no "
    "ingress rule (components/k8s_baseline.py builds it).",
    resource_types=("kubernetes:core/v1:Namespace",),
    scope="stack",
)
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    denied = {
        str(p.get("metadata", "namespace")) for p in stack.of_type(NETPOL) if _default_deny(p)
    }
    for ns in stack.of_type(RULE.resource_types[0]):
        name = ns.get("metadata", "name")
        if not (ns.get("metadata", "labels", "hdh/bubble") or str(name).startswith("bubble-")):
            continue
        if str(name) not in denied:
            yield ns, f"bubble namespace {name} has no default-deny NetworkPolicy"


def _default_deny(p: Resource) -> bool:
    selector = p.get("spec", "podSelector")
    types = {t for t in as_list(p.get("spec", "policyTypes")) if isinstance(t, str)}
    return selector == {} and {"Ingress", "Egress"} <= types and not p.get("spec", "ingress")
