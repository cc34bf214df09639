"""Ports, NICs and load balancer VIPs sit on the stack's own networks, never the external one."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, Stack, as_list, each
from policies.topology import NETWORK, PORT, SUBNET, in_stack, network_refs

INSTANCE = "openstack:compute/instance:Instance"
DB = "openstack:database/instance:Instance"
ATTACH = "openstack:compute/interfaceAttach:InterfaceAttach"
LBS = (
    "openstack:loadbalancer/loadBalancer:LoadBalancer",
    "openstack:index/lbLoadbalancerV2:LbLoadbalancerV2",
)
RULE = Rule(
    id="attachment-on-stack-networks",
    title="Ports, instances and load balancer VIPs attach to the stack's own networks only",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Attach through a port on a tier or bubble network of the stack; the bastion's "
    "floating IP is the only way in from the external network.",
    resource_types=(PORT, INSTANCE, DB, ATTACH, *LBS),
    scope="stack",
    reads=(NETWORK, SUBNET),
)
OUTSIDE = "a network this stack does not create (the external network?)"


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    names = {str(n.props.get("name")) for n in stack.of_type(NETWORK) if n.has("name")}
    for res in stack.of_types(*RULE.resource_types):
        yield from each(res, _problems(stack, res, names))


def _problems(stack: Stack, res: Resource, names: set[str]) -> Iterator[str]:
    if res.type == PORT and in_stack(stack, res, "networkId", NETWORK) is False:
        yield f"port on {OUTSIDE}"
    elif res.type in (INSTANCE, DB):
        if res.type == INSTANCE and not as_list(res.get("networks")):
            # Nova then picks a network (networkMode auto): possibly the external one.
            yield "no networks: Nova may attach the instance to any network the project sees"
        # In a preview a network's id is unknown until it exists: its dependency names it.
        depends = any(r.type == NETWORK for r in stack.refs(res, "networks"))
        for where, value in network_refs(stack, res):
            known = stack.by_id(value)
            ok = (known is not None and known.type == NETWORK) or str(value) in names
            if not ok and not (depends and not isinstance(value, str)):
                yield f"{where} is {OUTSIDE}"
    elif res.type == ATTACH:
        # Given a network, Nova makes the port (a deployed attachment lists it): judge the net.
        prop, kind = ("networkId", NETWORK) if stack.given(res, "networkId") else ("portId", PORT)
        if in_stack(stack, res, prop, kind) is False:
            yield f"interface {prop} on {OUTSIDE}"
    elif res.type in LBS:
        # Octavia makes the VIP port from the network or subnet: its port is judged only when
        # the program gave the port itself.
        props = [("vipNetworkId", NETWORK), ("vipSubnetId", SUBNET)]
        if not any(stack.given(res, p) for p, _ in props):
            props = [("vipPortId", PORT)]
        for prop, kind in props:
            if in_stack(stack, res, prop, kind) is False:
                yield f"{prop}: the VIP is on {OUTSIDE}"
