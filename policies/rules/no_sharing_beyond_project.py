"""Nothing is shared beyond the project: no shared or external network, RBAC or public image."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

NETWORK = "openstack:networking/network:Network"
RBAC = "openstack:networking/rbacPolicyV2:RbacPolicyV2"
IMAGE = "openstack:images/image:Image"
TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
RULE = Rule(
    id="no-sharing-beyond-project",
    title="Networks, RBAC policies, images and templates are not shared beyond the project",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove shared/external from networks, RBAC policies to '*' or "
    "access_as_external, and public/community image visibility; keep templates private.",
    resource_types=(NETWORK, RBAC, IMAGE, TEMPLATE),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.type == NETWORK:
        if res.get("shared") is True:
            yield "shared is true: every project of the cloud can attach ports to this network"
        if res.get("external") is True:
            yield "external is true: the network becomes an external (floating IP) network"
    elif res.type == RBAC:
        if res.get("targetTenant") == "*":
            yield f"{res.get('action')} granted to every project of the cloud (targetTenant *)"
        if res.get("action") == "access_as_external":
            yield "access_as_external: the object becomes reachable as an external network"
    elif res.type == IMAGE:
        visibility = str(res.get("visibility") or "private")
        if visibility in ("public", "community"):
            # An image may be a snapshot of a data host: its disk is data.
            yield f"visibility {visibility}: any project of the cloud can boot or read it"
    elif res.get("public") is True:
        yield "public is true: the template is offered to every project of the cloud"
