"""What a stack declares about itself, derived once for the stack-level rules.

Roles are read from what the program declares, never from names: the bastion is the instance
whose metadata (or tags) say `role=bastion` (components/compute.py sets it), its ports are the
ports that instance's `networks` name, and a floating IP may declare `role=bastion` as the
bastion's address. A name containing "bastion" means nothing.
"""

from __future__ import annotations

from typing import Any

from policies.rule import Resource, Stack, as_list

INSTANCE = "openstack:compute/instance:Instance"
PORT = "openstack:networking/port:Port"
NETWORK = "openstack:networking/network:Network"
SUBNET = "openstack:networking/subnet:Subnet"
SECGROUP = "openstack:networking/secGroup:SecGroup"
PORT_SG = "openstack:networking/portSecGroupAssociate:PortSecGroupAssociate"
ROLE, BASTION = "role", "bastion"


def declares_bastion(res: Resource) -> bool:
    return res.tags().get(ROLE) == BASTION


def bastion_instances(stack: Stack) -> list[Resource]:
    return [r for r in stack.of_type(INSTANCE) if declares_bastion(r)]


def bastion_ports(stack: Stack) -> set[str]:
    """URNs of the ports the declared bastion instance(s) sit on."""
    if "bastion_ports" not in stack.memo:
        stack.memo["bastion_ports"] = {
            p.urn
            for i in bastion_instances(stack)
            for p in stack.refs(i, "networks")
            if p.type == PORT
        }
    out: set[str] = stack.memo["bastion_ports"]
    return out


def group_holders(stack: Stack) -> dict[str, list[Resource]]:
    """Security group URN -> the ports and instances carrying it."""
    if "group_holders" not in stack.memo:
        holders: dict[str, list[Resource]] = {}
        by_name = {str(g.props.get("name")): g for g in stack.of_type(SECGROUP) if g.has("name")}
        for port in stack.of_type(PORT):
            for g in stack.refs(port, "securityGroupIds"):
                holders.setdefault(g.urn, []).append(port)
        for assoc in stack.of_type(PORT_SG):
            holder = stack.ref(assoc, "portId") or assoc
            for g in stack.refs(assoc, "securityGroupIds"):
                holders.setdefault(g.urn, []).append(holder)
        for inst in stack.of_type(INSTANCE):
            for name in as_list(inst.props.get("securityGroups")):
                if isinstance(name, str) and name in by_name:
                    holders.setdefault(by_name[name].urn, []).append(inst)
        stack.memo["group_holders"] = holders
    out: dict[str, list[Resource]] = stack.memo["group_holders"]
    return out


def is_bastion_group(stack: Stack, group: Resource | None) -> bool:
    """A group carried by the bastion and by nothing else."""
    if group is None:
        return False
    holders = group_holders(stack).get(group.urn, [])
    ports = bastion_ports(stack)
    return bool(holders) and all(
        h.urn in ports or (h.type == INSTANCE and declares_bastion(h)) for h in holders
    )


def in_stack(stack: Stack, res: Resource, prop: str, *types: str) -> bool | None:
    """Whether `res.props[prop]` names a resource of `types` that this stack creates (None:
    the property is not set)."""
    if not stack.given(res, prop):
        return None
    target = stack.ref(res, prop)
    return target is not None and (not types or target.type in types)


def network_refs(stack: Stack, res: Resource) -> list[tuple[str, Any]]:
    """(where, value) of an instance's network attachments not made through a port of the
    stack (a deployed instance lists Nova's own port beside the network it was given)."""
    out = []
    for i, net in enumerate(as_list(res.props.get("networks"))):
        if not isinstance(net, dict):
            continue
        port = net.get("port")
        if port and (not isinstance(port, str) or stack.by_id(port) is not None):
            continue  # a port of the stack (or, in a preview, one not created yet)
        out.append((f"networks[{i}]", net.get("uuid") or net.get("name")))
    return out
