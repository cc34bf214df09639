"""Services carry no externalIPs (CVE-2020-8554: any IP, anyone's traffic, intercepted)."""

from collections.abc import Iterator
from typing import Any

from policies.checks import namespace
from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-no-external-ips",
    title="Services set no externalIPs",
    severity="high",
    enforcement="mandatory",
    frameworks=("anssi-containers", "snc-exposure"),
    remediation="Remove spec.externalIPs; expose through an internal LoadBalancer Service.",
    resource_types=("kubernetes:core/v1:Service",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    # A Service may claim any address as external: kube-proxy then captures the cluster's
    # traffic to it (CVE-2020-8554, not fixed in Kubernetes; the mitigation is to refuse it).
    ips = res.get("spec", "externalIPs")
    if ips:
        ns = namespace(res)
        shown = ", ".join(map(str, ips)) if isinstance(ips, list) else repr(ips)
        yield f"spec.externalIPs {shown} in namespace {ns}: the Service can capture that traffic"
