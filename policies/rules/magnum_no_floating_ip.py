"""Magnum clusters get no floating IP: nodes and API stay on private networks."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="magnum-no-floating-ip",
    title="Magnum templates and clusters assign no floating IPs",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-exposure",),
    remediation="Set floating_ip_enabled=false and the label master_lb_floating_ip_enabled="
    "'false'; reach the API through the bastion.",
    resource_types=(
        "openstack:containerinfra/clusterTemplate:ClusterTemplate",
        "openstack:containerinfra/cluster:Cluster",
    ),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    flag = res.get("floatingIpEnabled")
    # Magnum's template default is floating IPs ON; a cluster without the flag inherits its
    # template's (judged on the template).
    if flag is True or (flag is None and res.type.endswith("ClusterTemplate")):
        yield f"floatingIpEnabled is {'unset (Magnum default: true)' if flag is None else 'true'}"
    if str(res.get("labels", "master_lb_floating_ip_enabled")).lower() == "true":
        yield "label master_lb_floating_ip_enabled=true gives the API load balancer a public IP"
