"""Processing clusters on the credential-free plan: Magnum flags, kubeadm files, the API's reach."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml

from components.config import load_stack
from components.k8s_baseline import PLACEHOLDER_KUBECONFIG
from components.k8s_cluster import TLS_PASSTHROUGH_TAG, api_client_cidrs, api_vip
from ground.errors import ConfigErrors
from hdh.plan import Plan, PlannedResource, plan_stack
from tests.components.conftest import of_type, planned

MAGNUM, KUBEADM = "scs-de", "ovh-sbg"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
SG = "openstack:networking/secGroup:SecGroup"
PORT = "openstack:networking/port:Port"
INSTANCE = "openstack:compute/instance:Instance"
TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
CLUSTER = "openstack:containerinfra/cluster:Cluster"


def _named(plan: Plan, name: str) -> PlannedResource:
    return next(r for r in plan.resources if r.name == name)


def _files(instance: PlannedResource) -> dict[str, str]:
    doc = yaml.safe_load(instance.inputs["userData"])
    return {f["path"]: f["content"] for f in doc.get("write_files", [])}


def _controls(plan: Plan) -> list[PlannedResource]:
    return [i for i in of_type(plan, INSTANCE) if i.inputs["metadata"]["role"] == "k8s-control"]


# -- magnum -------------------------------------------------------------------------------------


def test_stacks_choose_their_profile_mode() -> None:
    assert load_stack(MAGNUM).kubernetes_mode == "magnum"
    assert load_stack(KUBEADM).kubernetes_mode == "kubeadm"
    for stack in ("ovh-gra", "local"):
        plan = planned(stack)
        assert not [r for r in plan.resources if r.type.startswith(("kubernetes:", "hdh:k8s"))]


def test_magnum_template_is_private_tls_and_not_public() -> None:
    plan = planned(MAGNUM)
    cfg = load_stack(MAGNUM)
    (t,) = of_type(plan, TEMPLATE)
    i = t.inputs
    assert i["tlsDisabled"] is False
    assert i["floatingIpEnabled"] is False
    assert i["masterLbEnabled"] is True
    assert i["public"] is False
    assert not i.get("insecureRegistry")
    assert i["coe"] == "kubernetes"
    assert i["networkDriver"] == "calico"  # the CNI must enforce NetworkPolicy
    labels = i["labels"]
    assert labels["master_lb_floating_ip_enabled"] == "false"
    assert labels["boot_volume_type"] in cfg.profile.encrypted_volume_types
    assert labels["etcd_volume_type"] in cfg.profile.encrypted_volume_types
    assert labels["kube_tag"] == f"v{cfg.settings.kubernetes.version}"
    assert labels["audit_log_enabled"] == "true"
    allowed = set(labels["master_lb_allowed_cidrs"].split(","))
    assert allowed == {str(c) for c in api_client_cidrs(cfg)}
    assert "0.0.0.0/0" not in allowed
    processing = _named(plan, "hdh-processing-net")
    assert i["fixedNetwork"] == processing.id


def test_magnum_cluster_counts_and_flavors_from_config(edited_stack: Any) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["hdh:kubernetes"] = {"enabled": True, "controlPlaneCount": 5, "workerCount": 7}
        c["hdh:flavors"] = {"k8s-worker": "SCS-16V-32"}

    plan = plan_stack(MAGNUM, path=edited_stack(edit, stack=MAGNUM))
    (c,) = of_type(plan, CLUSTER)
    assert (c.inputs["masterCount"], c.inputs["nodeCount"]) == (5, 7)
    assert c.inputs["flavor"] == "SCS-16V-32"
    assert c.inputs["masterFlavor"] == load_stack(MAGNUM).profile.flavors["k8s-control"]
    assert c.inputs["floatingIpEnabled"] is False
    assert c.inputs["clusterTemplateId"] == of_type(plan, TEMPLATE)[0].id


def test_magnum_api_egress_only_from_bastion_and_bubbles() -> None:
    plan = planned(MAGNUM)
    cfg = load_stack(MAGNUM)
    rules = [r for r in of_type(plan, RULE) if r.inputs.get("portRangeMin") == 6443]
    names = {r.name for r in rules}
    assert names == {"hdh-k8s-bastion-to-api"} | {f"hdh-k8s-{b.name}-to-api" for b in cfg.bubbles}
    for r in rules:
        assert r.inputs["direction"] == "egress"
        assert r.inputs["remoteIpPrefix"] == str(cfg.settings.tiers.processing)


# -- kubeadm ------------------------------------------------------------------------------------


def test_kubeadm_nodes_anti_affine_on_processing_with_hardening_roles() -> None:
    plan = planned(KUBEADM)
    k = load_stack(KUBEADM).settings.kubernetes
    roles = [i.inputs["metadata"]["role"] for i in of_type(plan, INSTANCE)]
    assert roles.count("k8s-control") == k.control_plane_count == 3
    assert roles.count("k8s-worker") == k.worker_count
    group = _named(plan, "hdh-k8s-k8s-control-group")
    assert group.inputs["policies"] == "anti-affinity"
    processing = _named(plan, "hdh-processing-net").id
    for vm in _controls(plan):
        assert vm.inputs["schedulerHints"] == [{"group": group.id}], vm.urn
        port = _named(plan, vm.name.removesuffix("-vm") + "-port")
        assert port.inputs["networkId"] == processing, port.urn
    hosts = plan.outputs["inventory"]["hosts"]
    assert sum(h["role"] == "k8s-control" for h in hosts) == 3
    assert sum(h["role"] == "k8s-worker" for h in hosts) == k.worker_count


def test_kubeadm_api_lb_is_internal_tcp_passthrough() -> None:
    plan = planned(KUBEADM)
    cfg = load_stack(KUBEADM)
    (lb,) = of_type(plan, "openstack:loadbalancer/loadBalancer:LoadBalancer")
    assert lb.inputs["vipAddress"] == api_vip(cfg)
    assert lb.inputs["vipSubnetId"] == _named(plan, "hdh-processing-subnet").id
    (listener,) = of_type(plan, "openstack:loadbalancer/listener:Listener")
    assert (listener.inputs["protocol"], listener.inputs["protocolPort"]) == ("TCP", 6443)
    assert TLS_PASSTHROUGH_TAG in listener.inputs["tags"]
    assert set(listener.inputs["allowedCidrs"]) == {str(c) for c in api_client_cidrs(cfg)}
    (pool,) = of_type(plan, "openstack:loadbalancer/pool:Pool")
    assert pool.inputs["protocol"] == "TCP"
    (monitor,) = of_type(plan, "openstack:loadbalancer/monitor:Monitor")
    assert monitor.inputs["type"] == "TLS-HELLO"
    (members,) = of_type(plan, "openstack:loadbalancer/members:Members")
    assert len(members.inputs["members"]) == cfg.settings.kubernetes.control_plane_count


def test_kubeadm_user_data_is_secret_and_the_kms_key_only_referenced() -> None:
    """Nodes' user data carries join secrets: a secret in state (its content is checked by
    tests/components/test_k8s_bootstrap.py); the KMS key is Barbican-generated."""
    plan = planned(KUBEADM)
    for vm in of_type(plan, INSTANCE):
        if vm.inputs["metadata"]["role"].startswith("k8s-"):
            assert vm.inputs["userData"].get("ciphertext"), vm.urn
    order = _named(plan, "hdh-k8s-kms-key")
    assert order.type == "pulumi-python:dynamic/keymanager:GeneratedKey"
    assert order.inputs["type"] == "key"


def test_kubeadm_cluster_is_waited_for_then_given_its_baseline() -> None:
    plan = planned(KUBEADM)
    ready = _named(plan, "hdh-k8s-ready")
    assert ready.inputs["server"] == f"https://{api_vip(load_stack(KUBEADM))}:6443"
    assert ready.inputs["key"].get("ciphertext"), "the admin key must be a secret"
    waits_for = {d.rsplit("::", 1)[1] for d in ready.dependencies}
    assert {vm.name for vm in _controls(plan)} | {"hdh-k8s-api-members"} <= waits_for
    (provider,) = of_type(plan, "pulumi:providers:kubernetes")
    assert ready.urn in provider.dependencies, "the baseline's provider must wait for the API"
    assert plan.outputs["kubeconfig"].get("ciphertext")


# Key material would show as a payload, a literal key list or a long base64 run.
KEY_FIELDS = re.compile(r'"(payload|secret|aescbc|aesgcm|secretbox)"', re.I)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{44,}")


def _key_material(text: str) -> list[str]:
    found = KEY_FIELDS.findall(text)
    for run in BASE64_RUN.findall(text):
        try:
            if len(base64.b64decode(run + "=" * (-len(run) % 4))) >= 16:
                found.append(run)
        except ValueError:
            continue
    return found


def test_key_scan_finds_a_literal_key() -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    assert _key_material(json.dumps({"aescbc": {"keys": [{"name": "k", "secret": key}]}}))


@pytest.mark.parametrize("stack", [KUBEADM, MAGNUM])
def test_no_key_or_kubeconfig_in_plain_text_anywhere(stack: str) -> None:
    plan = planned(stack)
    everything = json.dumps(plan.to_json())
    assert not of_type(plan, "openstack:keymanager/secretV1:SecretV1"), "a payload in state"
    assert PLACEHOLDER_KUBECONFIG not in everything, "a kubeconfig was recorded in clear"
    for r in plan.resources:
        # A dynamic resource's `__provider` is its pickled code (tests/components/test_keys.py
        # checks it holds no credential): a long base64 run by construction.
        text = json.dumps({k: v for k, v in r.inputs.items() if k != "__provider"})
        # The deploy user's public key is the one long base64 run that is meant to be there.
        text = text.replace(load_stack(stack).settings.ssh_public_key.split()[1], "")
        assert not _key_material(text), r.urn


def _rules_into(plan: Plan, group_ids: set[str], port: int) -> list[PlannedResource]:
    out = []
    for r in of_type(plan, RULE):
        i = r.inputs
        if i["direction"] != "ingress" or i["securityGroupId"] not in group_ids:
            continue
        lo, hi = i.get("portRangeMin"), i.get("portRangeMax")
        if lo is None or hi is None or (lo <= port <= hi):  # no range: every port
            out.append(r)
    return out


def test_kubeadm_api_reachable_only_from_bastion_bubbles_and_nodes() -> None:
    plan = planned(KUBEADM)
    cfg = load_stack(KUBEADM)
    groups = {g.name: g.id for g in of_type(plan, SG)}
    allowed = {groups["hdh-bastion-sg"], groups["hdh-processing-sg"]} | {
        groups[f"bubble-{b.name}-sg"] for b in cfg.bubbles
    }
    lb = of_type(plan, "openstack:loadbalancer/loadBalancer:LoadBalancer")[0]
    targets = {
        "lb-vip": set(lb.inputs["securityGroupIds"]),
        **{
            p.name: set(p.inputs["securityGroupIds"])
            for p in of_type(plan, PORT)
            if p.name.startswith("hdh-k8s-control")
        },
    }
    for target, target_groups in targets.items():
        rules = _rules_into(plan, target_groups, 6443)
        sources = {r.inputs.get("remoteGroupId") for r in rules} - {None}
        cidrs = {r.inputs.get("remoteIpPrefix") for r in rules} - {None}
        assert sources <= allowed, f"{target}: 6443 open to {sources - allowed}"
        assert cidrs <= {str(cfg.settings.tiers.processing)}, f"{target}: {cidrs}"
    # ... and each of the bastion and the bubbles is really let through, both ways.
    api = groups["hdh-k8s-api-sg"]
    vip_sources = {r.inputs.get("remoteGroupId") for r in _rules_into(plan, {api}, 6443)}
    assert allowed <= vip_sources
    egress = {
        r.inputs["securityGroupId"]
        for r in of_type(plan, RULE)
        if r.inputs["direction"] == "egress" and r.inputs.get("remoteGroupId") == api
    }
    assert egress == allowed


def test_pod_and_service_ranges_must_not_shadow_the_platform(edited_stack: Any) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["hdh:kubernetes"] = {
            "enabled": True,
            "podCidr": "10.30.32.0/20",
            "serviceCidr": "10.68.0.0/16",
        }

    with pytest.raises(ConfigErrors) as exc:
        plan_stack(KUBEADM, path=edited_stack(edit, stack=KUBEADM))
    text = "\n".join(exc.value.lines())
    assert "hdh:kubernetes.serviceCidr: 10.68.0.0/16 overlaps the bubble pool" in text
    assert "hdh:kubernetes.podCidr: 10.30.32.0/20 overlaps processing tier 10.30.32.0/19" in text
