"""Networks and security groups (components/network.py), checked on the credential-free plan."""

from __future__ import annotations

import ipaddress
import json

import pytest

from components.config import available_stacks, load_stack
from hdh.plan import Plan, plan_stack
from tests.components.conftest import of_type, planned

RULE = "openstack:networking/secGroupRule:SecGroupRule"
SG = "openstack:networking/secGroup:SecGroup"
PORT = "openstack:networking/port:Port"
STACKS = available_stacks()


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_bastion_has_a_floating_ip(stack: str) -> None:
    plan = planned(stack)
    fips = of_type(plan, "openstack:networking/floatingIp:FloatingIp")
    assocs = of_type(plan, "openstack:networking/floatingIpAssociate:FloatingIpAssociate")
    assert [f.name for f in fips] == ["hdh-bastion-fip"]
    assert len(assocs) == 1
    bastion_port = next(p for p in of_type(plan, PORT) if p.name == "hdh-bastion-port")
    assert assocs[0].inputs["portId"] == bastion_port.id


@pytest.mark.parametrize("stack", STACKS)
def test_no_world_open_ingress_and_no_rule_without_remote(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    allowed = {str(c) for c in cfg.settings.admin_cidrs}
    groups = {g.id: g for g in of_type(plan, SG)}
    for rule in of_type(plan, RULE):
        i = rule.inputs
        assert i.get("remoteGroupId") or i.get("remoteIpPrefix"), f"{rule.urn}: any source"
        if i["direction"] == "ingress" and i.get("remoteIpPrefix"):
            if groups[i["securityGroupId"]].name == "hdh-k8s-api-sg":
                # The one internal exception: an Octavia amphora reaches the API's members from
                # its own port on the processing subnet, which carries no group of ours.
                assert i["remoteIpPrefix"] == str(cfg.settings.tiers.processing), rule.urn
                assert (i["protocol"], i["portRangeMin"], i["portRangeMax"]) == ("tcp", 6443, 6443)
                continue
            assert i["remoteIpPrefix"] in allowed, rule.urn
            assert groups[i["securityGroupId"]].name == "hdh-bastion-sg", rule.urn
    for g in groups.values():
        assert g.inputs["deleteDefaultRules"] is True, g.urn


@pytest.mark.parametrize("stack", STACKS)
def test_port_security_is_never_off(stack: str) -> None:
    plan = planned(stack)
    for r in of_type(plan, "openstack:networking/network:Network") + of_type(plan, PORT):
        assert r.inputs.get("portSecurityEnabled", True) is not False, r.urn


def _port_groups(plan: Plan) -> dict[str, set[str]]:
    """Port name -> ids of its security groups."""
    return {p.name: set(p.inputs.get("securityGroupIds") or []) for p in of_type(plan, PORT)}


def _admits(plan: Plan, target_groups: set[str], source_groups: set[str], src: str) -> bool:
    """Does any ingress rule of the target's groups admit the source (group or address)?"""
    addr = ipaddress.ip_network(src)
    for rule in of_type(plan, RULE):
        i = rule.inputs
        if i["direction"] != "ingress" or i["securityGroupId"] not in target_groups:
            continue
        if i.get("remoteGroupId") in source_groups:
            return True
        prefix = i.get("remoteIpPrefix")
        if prefix and addr.subnet_of(ipaddress.ip_network(prefix)):  # type: ignore[arg-type]
            return True
    return False


def test_no_bubble_can_reach_another() -> None:
    plan = plan_stack(
        "ovh-gra",
        overrides={
            "hdh:bubbles": json.dumps([{"name": f"b{i}", "workspaces": 2} for i in range(4)])
        },
    )
    # The bubbles take the pool's /24s in order.
    pool = ipaddress.ip_network("10.64.0.0/14").subnets(new_prefix=24)
    cidrs = {f"b{i}": str(next(pool)) for i in range(4)}
    ports = _port_groups(plan)
    members = {b: {n: g for n, g in ports.items() if n.startswith(f"bubble-{b}-")} for b in cidrs}
    for a in cidrs:
        for b in cidrs:
            if a == b:
                continue
            for src_groups in members[a].values():
                for name, dst_groups in members[b].items():
                    assert not _admits(plan, dst_groups, src_groups, cidrs[a]), (
                        f"bubble {a} can reach {name}"
                    )
    # ... while the members of one bubble reach each other, and the bastion reaches them on SSH.
    ws0, ws1 = members["b0"].values()
    assert _admits(plan, ws1, ws0, cidrs["b0"])
    bastion = ports["hdh-bastion-port"]
    assert _admits(plan, ws0, bastion, "10.20.0.0/24")


def test_bubbles_and_data_are_not_routed_outside() -> None:
    plan = planned("ovh-gra")
    routers = {r.name: r for r in of_type(plan, "openstack:networking/router:Router")}
    assert "externalNetworkId" in routers["hdh-edge-router"].inputs
    assert "externalNetworkId" not in routers["hdh-core-router"].inputs
    edge_id = routers["hdh-edge-router"].id
    subnets = {s.id: s.name for s in of_type(plan, "openstack:networking/subnet:Subnet")}
    on_edge = {
        subnets[i.inputs["subnetId"]]
        for i in of_type(plan, "openstack:networking/routerInterface:RouterInterface")
        if i.inputs["routerId"] == edge_id
    }
    assert on_edge == {"hdh-admin-subnet", "hdh-services-subnet"}


@pytest.mark.parametrize("stack", STACKS)
def test_bastion_address_waits_for_the_edge_router(stack: str) -> None:
    """Neutron refuses a floating IP on a port whose subnet has no router to the external
    network yet (ExternalGatewayForFloatingIPNotFound, seen on the local cloud)."""
    plan = planned(stack)
    (assoc,) = of_type(plan, "openstack:networking/floatingIpAssociate:FloatingIpAssociate")
    (link,) = [r for r in plan.resources if r.name.endswith("-edge-admin")]
    assert link.type == "openstack:networking/routerInterface:RouterInterface"
    assert link.urn in assoc.dependencies
