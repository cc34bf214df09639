"""Namespaces enforce the Pod Security `restricted` profile."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-namespace-psa-restricted",
    title="Namespaces enforce Pod Security Admission 'restricted'",
    severity="high",
    enforcement="mandatory",
    frameworks=("anssi-containers", "hds-protection"),
    remediation="Label the namespace pod-security.kubernetes.io/enforce: restricted.",
    resource_types=("kubernetes:core/v1:Namespace",),
    config=("psaExemptNamespaces",),
)
LABEL = "pod-security.kubernetes.io/enforce"


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("metadata", "name") in cfg["psaExemptNamespaces"]:
        return
    level = res.get("metadata", "labels", LABEL)
    if level != "restricted":
        yield f"{LABEL} is {level!r}, not 'restricted'" if level else f"no {LABEL} label"
