"""No container runs privileged (or may escalate to it)."""

from collections.abc import Iterator
from typing import Any

from policies.checks import WORKLOAD_TYPES, containers, pod_spec
from policies.rule import Resource, Rule, as_map

RULE = Rule(
    id="k8s-no-privileged-container",
    title="Containers are not privileged",
    severity="critical",
    enforcement="mandatory",
    frameworks=("anssi-containers",),
    remediation="Remove securityContext.privileged (and set allowPrivilegeEscalation: false).",
    resource_types=WORKLOAD_TYPES,
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    where, spec = pod_spec(res) or ("", {})
    for name, c in containers(spec):
        if as_map(c.get("securityContext")).get("privileged") is True:
            yield f"{where}.{name}: securityContext.privileged is true"
