"""What one stack builds, checked on the credential-free plan (the real program under mocks)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
import yaml

from components.config import available_stacks, load_stack
from hdh.plan import Plan, PlannedResource, plan_stack
from tests.components.conftest import by_urn, of_type, planned

OS = "openstack:"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
SG = "openstack:networking/secGroup:SecGroup"
PORT = "openstack:networking/port:Port"
STACKS = available_stacks()


def _provider_urn(r: PlannedResource) -> str:
    return r.provider.rsplit("::", 1)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_every_openstack_resource_uses_the_region_pinned_provider(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    providers = of_type(plan, "pulumi:providers:openstack")
    assert len(providers) == 1
    prov = providers[0]
    assert prov.inputs["region"] == cfg.region
    assert prov.inputs.get("authUrl") == cfg.auth_url
    for r in plan.resources:
        if r.type.startswith(OS):
            assert _provider_urn(r) == prov.urn, f"{r.urn}: not under {prov.urn}"


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
def test_every_volume_and_boot_disk_is_of_an_encrypted_type(stack: str) -> None:
    plan = planned(stack)
    encrypted = set(load_stack(stack).profile.encrypted_volume_types)
    for v in of_type(plan, "openstack:blockstorage/volume:Volume"):
        assert v.inputs.get("volumeType") in encrypted, v.urn
    instances = of_type(plan, "openstack:compute/instance:Instance")
    assert instances
    for i in instances:
        devices = i.inputs.get("blockDevices") or []
        assert devices, f"{i.urn}: boots on the hypervisor's local disk"
        for d in devices:
            assert d["destinationType"] == "volume", i.urn
            assert d["volumeType"] in encrypted, i.urn
        assert "adminPass" not in i.inputs, i.urn


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
def test_labels_on_everything_that_takes_them(stack: str) -> None:
    plan = planned(stack)
    tree = by_urn(plan)
    for r in plan.resources:
        if "tags" in r.inputs:
            keys = {t.split("=")[0] for t in r.inputs["tags"]}
            assert {"stack", "tier", "classification"} <= keys, r.urn
        if r.type == "openstack:compute/instance:Instance":
            meta = r.inputs["metadata"]
            assert meta["stack"] == stack and meta["tier"] and meta["classification"], r.urn
            parent = tree[r.parent]
            if parent.name.startswith("bubble-"):
                assert meta["bubble"] and meta["role"] == "workspace", r.urn
    for t in ("network:Network", "subnet:Subnet", "port:Port", "secGroup:SecGroup"):
        for r in of_type(plan, f"openstack:networking/{t}"):
            assert "tags" in r.inputs, r.urn


def test_cloud_init_has_a_key_and_no_password() -> None:
    plan = planned("ovh-gra")
    key = load_stack("ovh-gra").settings.ssh_public_key
    for i in of_type(plan, "openstack:compute/instance:Instance"):
        doc = yaml.safe_load(i.inputs["userData"])
        assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
        (user,) = doc["users"]
        assert user["lock_passwd"] is True and user["ssh_authorized_keys"] == [key]
        assert "passwd" not in user and "plain_text_passwd" not in user
    (kp,) = of_type(plan, "openstack:compute/keypair:Keypair")
    assert kp.inputs["publicKey"] == key


def test_storage_keys_from_barbican_private_versioned_containers() -> None:
    plan = planned("ovh-gra")
    orders = of_type(plan, "pulumi-python:dynamic/keymanager:GeneratedKey")  # components/keys.py
    containers = of_type(plan, "openstack:objectstorage/container:Container")
    # One data store plus one per bubble, each with its own generated key.
    assert len(orders) == len(containers) == 1 + len(load_stack("ovh-gra").bubbles)
    for o in orders:
        assert o.inputs["type"] == "key" and o.inputs["meta"]["bit_length"] == 256
    assert not of_type(plan, "openstack:keymanager/secretV1:SecretV1")
    for c in containers:
        assert "containerRead" not in c.inputs, c.urn
        assert c.inputs["versioning"] is True, c.urn


def test_ha_services_are_anti_affine() -> None:
    plan = planned("ovh-gra")
    (group,) = of_type(plan, "openstack:compute/serverGroup:ServerGroup")
    assert group.inputs["policies"] == "anti-affinity"
    gid = group.id
    services = [
        i for i in of_type(plan, "openstack:compute/instance:Instance") if "services" in i.name
    ]
    assert len(services) == 2
    for s in services:
        assert s.inputs["schedulerHints"] == [{"group": gid}], s.urn


def test_bubble_count_comes_from_config() -> None:
    bubbles = [{"name": f"p{i:03d}", "workspaces": 1} for i in range(20)]
    plan = plan_stack("ovh-gra", overrides={"hdh:bubbles": json.dumps(bubbles)})
    assert len(of_type(plan, "hdh:bubble:Bubble")) == 20
    assert len(plan.outputs["bubbles"]) == 20
    names = {h["name"] for h in plan.outputs["inventory"]["hosts"]}
    assert {f"bubble-p{i:03d}-ws0" for i in range(20)} <= names


def test_plan_json_shape() -> None:
    doc: dict[str, Any] = planned("ovh-gra").to_json()
    assert doc["format"] == "hdh-plan/v1"
    assert doc["summary"]["resources"] == len(doc["resources"])
    assert sum(doc["summary"]["byType"].values()) == len(doc["resources"])
    for r in doc["resources"]:
        assert set(r) == {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "custom",
            "inputs",
            "id",
            "dependencies",
        }
        assert bool(r["id"]) == r["custom"]  # references between resources resolve by id
        assert r["urn"].startswith("urn:pulumi:ovh-gra::hdh::")
        assert r["urn"].endswith(f"::{r['name']}")
    json.dumps(doc)  # serialisable as is
    inv = doc["outputs"]["inventory"]
    assert {h["role"] for h in inv["hosts"]} == {"bastion", "services", "data", "workspace"}


@pytest.mark.parametrize("stack", STACKS)
def test_bastion_address_waits_for_the_edge_router(stack: str) -> None:
    """Neutron refuses a floating IP on a port whose subnet has no router to the external
    network yet (ExternalGatewayForFloatingIPNotFound, seen on the local cloud)."""
    plan = planned(stack)
    (assoc,) = of_type(plan, "openstack:networking/floatingIpAssociate:FloatingIpAssociate")
    (link,) = [r for r in plan.resources if r.name.endswith("-edge-admin")]
    assert link.type == "openstack:networking/routerInterface:RouterInterface"
    assert link.urn in assoc.dependencies
