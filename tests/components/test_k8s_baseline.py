"""The per-bubble Kubernetes baseline on the credential-free plan, and its manifests' schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import load_stack
from components.k8s_baseline import (
    BUBBLE_LABEL,
    INTERNAL_LB_ANNOTATION,
    MEMBER_ROLE,
    bubble_manifests,
    namespace_name,
)
from components.k8s_bootstrap import node_files
from components.k8s_facts import psa_exempt_namespaces
from hdh.commands import k8s as k8s_manifests
from hdh.plan import Plan, PlannedResource, plan_stack
from tests.components.conftest import of_type, planned
from tests.components.test_k8s_bootstrap import make_join

STACKS = ["scs-de", "ovh-sbg"]  # magnum, kubeadm
NS = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PER_BUBBLE = 6  # Namespace, NetworkPolicy, ResourceQuota, LimitRange, RoleBinding, ServiceAccount
CLUSTER_WIDE = 8  # provider, ClusterRole, 3 admission policies and their 3 bindings


def _k8s(plan: Plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:")]


def _in_namespace(plan: Plan, ns: str) -> list[PlannedResource]:
    return [r for r in _k8s(plan) if r.inputs.get("metadata", {}).get("namespace") == ns]


@pytest.mark.parametrize("stack", STACKS)
def test_each_bubble_namespace_enforces_restricted(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    namespaces = {r.inputs["metadata"]["name"]: r for r in of_type(plan, NS)}
    assert set(namespaces) == {namespace_name(b.name) for b in cfg.bubbles}
    for b in cfg.bubbles:
        labels = namespaces[namespace_name(b.name)].inputs["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (b.name, mode)
        assert labels[BUBBLE_LABEL] == b.name


@pytest.mark.parametrize("stack", STACKS)
def test_each_bubble_is_default_deny_both_ways_but_dns_and_proxy(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    s = cfg.settings
    for b in cfg.bubbles:
        policies = [
            r.inputs for r in _in_namespace(plan, namespace_name(b.name)) if r.type == NETPOL
        ]
        deny = [
            p
            for p in policies
            if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        ]
        assert deny, f"{b.name}: no default-deny policy"
        # Whatever policies exist, together they admit no ingress and only DNS + proxy out.
        assert not any(p["spec"].get("ingress") for p in policies), b.name
        peers = []
        for p in policies:
            for rule in p["spec"].get("egress", []):
                ports = {(x["protocol"], int(x["port"])) for x in rule["ports"]}
                for peer in rule["to"]:
                    peers.append((json.dumps(peer, sort_keys=True), ports))
        dns = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
        proxy = {"ipBlock": {"cidr": str(s.tiers.services)}}
        assert sorted(peers) == sorted(
            [
                (json.dumps(dns, sort_keys=True), {("UDP", 53), ("TCP", 53)}),
                (json.dumps(proxy, sort_keys=True), {("TCP", s.proxy_port)}),
            ]
        ), b.name


def test_quota_limits_and_group_come_from_config(edited_stack: Any) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["hdh:kubernetes"] = {
            "enabled": True,
            "quotaCpu": "7",
            "quotaMemory": "21Gi",
            "quotaPods": 13,
            "defaultCpu": "250m",
            "defaultMemory": "512Mi",
            "quotaEphemeralStorage": "30Gi",
            "defaultEphemeralStorage": "1Gi",
            "quotaObjects": 9,
        }
        c["hdh:bubbles"][0]["group"] = "team-cardio"

    plan = plan_stack("ovh-sbg", path=edited_stack(edit, stack="ovh-sbg"))
    ns = namespace_name("demo-cardio")
    objs = {r.inputs["kind"]: r.inputs for r in _in_namespace(plan, ns)}
    hard = objs["ResourceQuota"]["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.memory"], hard["pods"]) == ("7", "21Gi", "13")
    assert hard["services.loadbalancers"] == "0"
    assert hard["requests.ephemeral-storage"] == hard["limits.ephemeral-storage"] == "30Gi"
    counted = {k: v for k, v in hard.items() if k.startswith("count/")}
    assert set(counted.values()) == {"9"}
    assert {"count/configmaps", "count/secrets", "count/jobs.batch"} <= set(counted)
    (limit,) = objs["LimitRange"]["spec"]["limits"]
    compute = {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "1Gi"}
    assert limit["default"] == compute == limit["defaultRequest"]
    binding = objs["RoleBinding"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-cardio"}
    ]
    assert binding["roleRef"]["name"] == MEMBER_ROLE
    assert objs["ServiceAccount"]["metadata"]["name"] == "default"
    assert objs["ServiceAccount"]["automountServiceAccountToken"] is False


def test_members_cannot_widen_their_own_fences() -> None:
    plan = planned("ovh-sbg")
    (role,) = of_type(plan, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    write = {"create", "update", "patch", "delete", "*"}
    for rule in role.inputs["rules"]:
        if write & set(rule["verbs"]):
            assert not {"rbac.authorization.k8s.io", "networking.k8s.io", "*"} & set(
                rule["apiGroups"]
            ), rule
            assert not {"namespaces", "resourcequotas", "limitranges", "*"} & set(
                rule["resources"]
            ), rule
            assert not any(r.endswith(("/exec", "/attach")) for r in rule["resources"]), rule


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_goes_through_the_cluster_provider(stack: str) -> None:
    plan = planned(stack)
    providers = of_type(plan, "pulumi:providers:kubernetes")
    assert len(providers) == 1
    kubeconfig = providers[0].inputs["kubeconfig"]
    assert kubeconfig.get("ciphertext"), "the kubeconfig must be a secret"
    for r in _k8s(plan):
        assert r.provider.rsplit("::", 1)[0] == providers[0].urn, r.urn


@pytest.mark.parametrize("stack", STACKS)
def test_baseline_is_lean_per_bubble(stack: str) -> None:
    n = len(load_stack(stack).bubbles)
    assert len(_k8s(planned(stack))) + 1 == PER_BUBBLE * n + CLUSTER_WIDE


BAD_POD_KEYS = {"privileged", "hostPath", "hostNetwork", "hostPID", "hostIPC"}


def _host_access(value: Any, path: str = "") -> list[str]:
    """Paths of any privileged / host-namespace / host-path setting in an object."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in BAD_POD_KEYS and v not in (False, None):
                found.append(f"{path}.{k}")
            if k == "allowPrivilegeEscalation" and v is True:
                found.append(f"{path}.{k}")
            found += _host_access(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _host_access(v, f"{path}[{i}]")
    return found


def test_host_access_scan_finds_a_privileged_pod() -> None:
    pod = {"spec": {"hostNetwork": True, "containers": [{"securityContext": {"privileged": True}}]}}
    assert len(_host_access(pod)) == 2


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_deployed_is_privileged_or_touches_the_host(stack: str) -> None:
    """Every Kubernetes object the baseline applies, and every manifest a node's bootstrap
    writes but the system add-ons of kube-system (a CNI and the cloud controller need the
    host: that namespace alone is exempt from Pod Security).

    (kubeadm's own static pods are not ours: ClusterConfiguration.extraVolumes only tells
    kubeadm which configuration directories its kube-apiserver reads.)
    """
    plan = planned(stack)
    for r in _k8s(plan):
        assert not _host_access(r.inputs), r.urn
    join = make_join()
    for role in ("init", "control", "worker"):
        for f in node_files(join, role):
            for obj in yaml.safe_load_all(f["content"]) if f["path"].endswith(".yaml") else []:
                if obj.get("kind") == "ClusterConfiguration":
                    continue
                if obj.get("metadata", {}).get("namespace") in psa_exempt_namespaces():
                    continue
                assert "containers" not in json.dumps(obj), f"{role}: a pod in {f['path']}"
                assert not _host_access(obj), f"{role}: {f['path']}"


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_render_and_pass_the_kubernetes_schemas(stack: str, tmp_path: Path) -> None:
    plan = planned(stack)
    docs = k8s_manifests.manifests(plan)
    assert len(docs) == len(_k8s(plan))  # every object (the provider is pulumi:providers:)
    paths = k8s_manifests.write(docs, tmp_path)
    assert [yaml.safe_load(p.read_text()) for p in paths] == docs
    version = load_stack(stack).settings.kubernetes.version
    assert k8s_manifests.validate(docs, version) == []


def test_schema_validation_rejects_a_broken_manifest() -> None:
    cfg = load_stack("ovh-sbg")
    net = bubble_manifests(cfg, cfg.bubbles[0])[1]
    broken = {**net, "spec": {**net["spec"], "policyTypes": "Egress", "egres": []}}
    assert len(k8s_manifests.validate([net, broken], cfg.settings.kubernetes.version)) == 1


def test_load_balancers_must_be_internal() -> None:
    plan = planned("ovh-sbg")
    policies = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in of_type(
            plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
        )
    }
    lb = policies["hdh-internal-load-balancers"]["spec"]
    assert INTERNAL_LB_ANNOTATION in json.dumps(lb["validations"])
    bindings = of_type(
        plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
    )
    actions = {
        b.inputs["spec"]["policyName"]: b.inputs["spec"]["validationActions"] for b in bindings
    }
    assert actions == {name: ["Deny"] for name in policies}
    # Nothing the project applies is a LoadBalancer Service without the annotation.
    for r in _k8s(plan):
        if r.inputs.get("kind") == "Service" and r.inputs["spec"].get("type") == "LoadBalancer":
            assert r.inputs["metadata"]["annotations"][INTERNAL_LB_ANNOTATION] == "true"
