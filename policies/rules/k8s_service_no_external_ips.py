"""Services set no externalIPs (CVE-2020-8554: they capture traffic to any address)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-service-no-external-ips",
    title="Services set no externalIPs",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove spec.externalIPs; expose through an internal LoadBalancer Service "
    "(components/k8s_baseline.py internal_load_balancer) or an Ingress.",
    resource_types=("kubernetes:core/v1:Service",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    ips = res.get("spec", "externalIPs")
    if ips:
        # Clusters refuse them too (DenyServiceExternalIPs, hdh-no-external-ips): catch it
        # before `pulumi up` rather than as a failed update.
        yield f"spec.externalIPs {ips!r}: traffic to these addresses would be captured"
