"""Only the declared bastion gets a floating (public) IP, and there is one bastion."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, Stack
from policies.topology import bastion_instances, bastion_ports, declares_bastion

FIP = "openstack:networking/floatingIp:FloatingIp"
ASSOC = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
RULE = Rule(
    id="floating-ip-bastion-only",
    title="Floating IPs go to the one declared bastion only",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove the floating IP; reach the host through the bastion (the instance with "
    "metadata role=bastion, whose floating IP is tagged role=bastion).",
    resource_types=(FIP, ASSOC, "openstack:compute/instance:Instance"),
    scope="stack",
)


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    bastions = bastion_instances(stack)
    if len(bastions) > 1:
        for b in bastions[1:]:
            yield b, f"a second instance declares role=bastion ({len(bastions)} in all): one only"
    ports = bastion_ports(stack)
    for res in stack.of_types(FIP, ASSOC):
        if stack.given(res, "portId"):
            port = stack.ref(res, "portId")
            if port is None or port.urn not in ports:
                shown = port.name if port else "a port this stack does not create"
                yield res, f"a public floating IP on {shown}, which is not the bastion's port"
        elif res.type == FIP and not declares_bastion(res):
            # Allocated alone: it must say it is the bastion's (its association is judged too).
            yield res, "floating IP allocated without declaring role=bastion"
