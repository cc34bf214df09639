"""Kubernetes baseline: per-bubble namespace under PSA restricted, default-deny, quota, RBAC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

# The SDK loads its API groups lazily (~0.7 s for these four): load them with this module, not
# in the middle of a plan or an update.
import pulumi_kubernetes.admissionregistration.v1
import pulumi_kubernetes.core.v1
import pulumi_kubernetes.networking.v1
import pulumi_kubernetes.rbac.v1

from components.config import ResolvedBubble, StackConfig
from components.k8s_admission import (
    BUBBLE_LABEL,
    INTERNAL_LB_ANNOTATION,
    admission_bindings,
    admission_policies,
)

PSA_LEVEL = "restricted"
MEMBER_ROLE = "hdh-bubble-member"  # one ClusterRole, bound per namespace by a RoleBinding
# Kinds a bubble may create, each capped at hdh:kubernetes.quotaObjects (objects live in etcd).
COUNTED = (
    "configmaps",
    "secrets",
    "services",
    "persistentvolumeclaims",
    "serviceaccounts",
    "replicationcontrollers",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "jobs.batch",
    "cronjobs.batch",
)
# Stands in for a kubeconfig the plan cannot have (a Magnum cluster's before creation):
# syntactically valid, pointing nowhere, never contacted.
PLACEHOLDER_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: hdh-plan
  cluster: {server: "https://kubernetes.plan.invalid:6443"}
users:
- name: hdh-plan
  user: {}
contexts:
- name: hdh-plan
  context: {cluster: hdh-plan, user: hdh-plan}
current-context: hdh-plan
"""


@dataclass(frozen=True, kw_only=True)
class BaselineArgs:
    cfg: StackConfig
    kubeconfig: pulumi.Input[str]  # secret


def namespace_name(bubble: str) -> str:
    return f"bubble-{bubble}"


class KubernetesBaseline(pulumi.ComponentResource):
    """The cluster-wide guard rails, then six resources per bubble (the plan's cost is per one)."""

    provider: kubernetes.Provider

    def __init__(self, name: str, args: BaselineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hdh:k8s:KubernetesBaseline", name, None, opts)
        # Stacks disable the default kubernetes provider: this one, from the cluster's own
        # kubeconfig, is the only way a Kubernetes resource reaches a cluster.
        self.provider = kubernetes.Provider(
            f"{name}-provider", kubeconfig=args.kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        self._k8s = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self._name, self._cfg = name, args.cfg
        self._cluster_wide()
        for b in args.cfg.bubbles:
            self._bubble(b)
        self.register_outputs({})

    def _cluster_wide(self) -> None:
        name, opts = self._name, self._k8s
        rbac = kubernetes.rbac.v1
        role_meta: Any = {"name": MEMBER_ROLE, "labels": {"app.kubernetes.io/managed-by": "hdh"}}
        rbac.ClusterRole(
            f"{name}-member-role",
            metadata=role_meta,
            rules=member_rules(),
            opts=opts,
        )
        for policy in admission_policies():
            kubernetes.admissionregistration.v1.ValidatingAdmissionPolicy(
                f"{name}-{policy['metadata']['name']}",
                metadata=policy["metadata"],
                spec=policy["spec"],
                opts=opts,
            )
        for binding in admission_bindings():
            kubernetes.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                f"{name}-{binding['metadata']['name']}",
                metadata=binding["metadata"],
                spec=binding["spec"],
                opts=opts,
            )

    def _bubble(self, b: ResolvedBubble) -> None:
        cfg, opts = self._cfg, self._k8s
        prefix = f"{self._name}-{b.name}"
        docs = bubble_manifests(cfg, b)
        ns = kubernetes.core.v1.Namespace(f"{prefix}-ns", metadata=docs[0]["metadata"], opts=opts)
        # Every other object waits for its namespace. depends_on, not `ns.metadata.name`: the
        # name is known, and an Output per object costs more than the dependency (plan time).
        opts = pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[ns])

        def meta(doc: dict[str, Any]) -> Any:  # ObjectMetaArgsDict
            return doc["metadata"]

        net, quota, limits, binding, account = docs[1:]
        kubernetes.networking.v1.NetworkPolicy(
            f"{prefix}-netpol", metadata=meta(net), spec=net["spec"], opts=opts
        )
        kubernetes.core.v1.ResourceQuota(
            f"{prefix}-quota", metadata=meta(quota), spec=quota["spec"], opts=opts
        )
        kubernetes.core.v1.LimitRange(
            f"{prefix}-limits", metadata=meta(limits), spec=limits["spec"], opts=opts
        )
        kubernetes.rbac.v1.RoleBinding(
            f"{prefix}-members",
            metadata=meta(binding),
            role_ref=binding["roleRef"],
            subjects=binding["subjects"],
            opts=opts,
        )
        # The namespace's `default` account exists already (the controller makes it): patch it.
        kubernetes.core.v1.ServiceAccountPatch(
            f"{prefix}-default-sa",
            metadata=meta(account),
            automount_service_account_token=False,
            opts=opts,
        )


def bubble_manifests(cfg: StackConfig, b: ResolvedBubble) -> list[dict[str, Any]]:
    """Namespace, NetworkPolicy, ResourceQuota, LimitRange, RoleBinding, default ServiceAccount."""
    s, k = cfg.settings, cfg.settings.kubernetes
    ns = namespace_name(b.name)
    labels = {
        BUBBLE_LABEL: b.name,
        "hdh/stack": cfg.stack,
        "hdh/classification": b.classification,
        **{
            f"pod-security.kubernetes.io/{mode}": PSA_LEVEL for mode in ("enforce", "audit", "warn")
        },
        **{
            f"pod-security.kubernetes.io/{mode}-version": "latest"
            for mode in ("enforce", "audit", "warn")
        },
    }

    def meta(obj: str) -> dict[str, Any]:
        return {"name": obj, "namespace": ns, "labels": {BUBBLE_LABEL: b.name}}

    compute = {
        "cpu": k.default_cpu,
        "memory": k.default_memory,
        "ephemeral-storage": k.default_ephemeral_storage,
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("hdh-default-deny"),
            # Every pod, both directions; no ingress rule at all; out only to DNS and the proxy.
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                    {
                        "to": [{"ipBlock": {"cidr": str(s.tiers.services)}}],
                        "ports": [{"protocol": "TCP", "port": s.proxy_port}],
                    },
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta("hdh-quota"),
            "spec": {
                "hard": {
                    "requests.cpu": k.quota_cpu,
                    "limits.cpu": k.quota_cpu,
                    "requests.memory": k.quota_memory,
                    "limits.memory": k.quota_memory,
                    "requests.storage": k.quota_storage,
                    # Node-local disk: layers, logs and emptyDir count; the kubelet evicts a
                    # pod over its limit, so one bubble cannot fill a node and evict others.
                    "requests.ephemeral-storage": k.quota_ephemeral_storage,
                    "limits.ephemeral-storage": k.quota_ephemeral_storage,
                    "pods": str(k.quota_pods),
                    **{f"count/{kind}": str(k.quota_objects) for kind in COUNTED},
                    # No way in from outside the cluster: no load balancer, no node port.
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": meta("hdh-limits"),
            "spec": {
                "limits": [{"type": "Container", "default": compute, "defaultRequest": compute}]
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("hdh-members"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": MEMBER_ROLE,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": b.group}
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta("default"),
            "automountServiceAccountToken": False,
        },
    ]


def member_rules() -> list[Any]:  # PolicyRuleArgsDict
    """What a project team may do in its own namespace: run work, never widen its own fences."""
    rw = ["get", "list", "watch", "create", "update", "patch", "delete"]
    ro = ["get", "list", "watch"]
    return [
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "services",
                "serviceaccounts",
            ],
            "verbs": rw,
        },
        {"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ro},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "replicasets"],
            "verbs": rw,
        },
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": rw},
        # Read-only: the fences themselves (quota, limits, network policy).
        {"apiGroups": [""], "resources": ["resourcequotas", "limitranges"], "verbs": ro},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ro},
    ]


def internal_load_balancer(
    name: str,
    namespace: pulumi.Input[str],
    selector: dict[str, str],
    ports: list[dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> kubernetes.core.v1.Service:
    """A Service of type LoadBalancer that the OpenStack CCM puts on an internal VIP only.

    The project deploys none today; this is the one way to add one (the admission policy
    above rejects any other), and bubble quotas allow none (services.loadbalancers: 0).
    """
    metadata: Any = {
        "name": name,
        "namespace": namespace,
        "annotations": {INTERNAL_LB_ANNOTATION: "true"},
    }
    spec: Any = {"type": "LoadBalancer", "selector": selector, "ports": ports}
    return kubernetes.core.v1.Service(name, metadata=metadata, spec=spec, opts=opts)
