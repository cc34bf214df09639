"""LoadBalancer Services are internal (an Octavia VIP on the private network, no public IP)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-lb-service-internal",
    title="LoadBalancer Services are marked internal",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-exposure",),
    remediation='Annotate service.beta.kubernetes.io/openstack-internal-load-balancer: "true".',
    resource_types=("kubernetes:core/v1:Service",),
)
ANNOTATION = "service.beta.kubernetes.io/openstack-internal-load-balancer"


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("spec", "type") != "LoadBalancer":
        return
    value = res.get("metadata", "annotations", ANNOTATION)
    if str(value).lower() != "true":
        yield f'type LoadBalancer without {ANNOTATION}: "true" (got {value!r}): a public VIP'
