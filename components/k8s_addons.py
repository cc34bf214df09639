"""What the first control plane installs after `kubeadm init`: CNI, cloud controller, CSR approver.

All in kube-system (the one PSA-exempt namespace): kube-router (pod routes over IP-in-IP and
NetworkPolicy enforcement), the OpenStack cloud controller manager (node addresses and
lifecycle, internal load balancers) and kubelet-csr-approver (kubelet serving certificates
approved only for this cluster's nodes: name pattern, addresses in the processing tier).
Images come from the services tier (mirror or proxy, see `image()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from components.k8s_facts import facts

SYSTEM = "kube-system"
CLOUD_CONFIG_SECRET = "hdh-cloud-config"  # made by the bootstrap from the credential file


@dataclass(frozen=True, kw_only=True)
class AddonSpec:
    cluster_name: str
    node_name_pattern: str  # regular expression of the cluster's node (host) names
    node_cidr: IPv4Network  # the processing tier: where kubelet serving addresses must be
    registry: str | None = None  # image mirror: <registry>/<upstream host>/<path>


def image(upstream: str, registry: str | None) -> str:
    """An image through the services tier: the mirror's copy, else the upstream name (pulled
    through the services proxy)."""
    return f"{registry.rstrip('/')}/{upstream}" if registry else upstream


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": SYSTEM,
        "labels": {"app.kubernetes.io/managed-by": "hdh", **labels},
    }


def _account(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A service account and its cluster role, bound."""
    rbac = "rbac.authorization.k8s.io/v1"
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"hdh:{name}"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name)},
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": f"hdh:{name}"},
            "rules": rules,
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"hdh:{name}"},
            "roleRef": ref,
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM}],
        },
    ]


def _rule(
    groups: list[str], resources: list[str], verbs: list[str], **extra: Any
) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


READ = ["get", "list", "watch"]
# The node's own taints while it waits for the cloud controller, and the control planes'.
SYSTEM_TOLERATIONS = [
    {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
]
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _daemonset(name: str, pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(name, **{"k8s-app": name}),
        "spec": {
            "selector": {"matchLabels": {"k8s-app": name}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"k8s-app": name}}, "spec": pod},
        },
    }


def _host(name: str, path: str, kind: str | None = None) -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, **({"type": kind} if kind else {})}}


def kube_router(spec: AddonSpec) -> list[dict[str, Any]]:
    """Routes pods between nodes (BGP, IP-in-IP everywhere: Neutron's anti-spoofing sees node
    addresses only) and enforces NetworkPolicy; kube-proxy (kubeadm's) keeps Services."""
    cni = {
        "cniVersion": "0.3.0",
        "name": "kube-router",
        "plugins": [
            {"type": "bridge", "name": "kubernetes", "bridge": "kube-bridge",
             "isDefaultGateway": True, "ipam": {"type": "host-local"}},
        ],
    }  # fmt: skip
    import json

    img = image(facts().addons.cni.image, spec.registry)
    rules = [
        _rule([""], ["namespaces", "pods", "services", "nodes", "endpoints"], READ),
        _rule(["networking.k8s.io"], ["networkpolicies"], READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
    ]
    conf = "/etc/cni/net.d/10-kuberouter.conflist"
    pod = {
        "serviceAccountName": "kube-router",
        "priorityClassName": "system-node-critical",
        "hostNetwork": True,
        "tolerations": [{"operator": "Exists"}],  # every node, whatever its taints
        "initContainers": [
            {
                "name": "install-cni",
                "image": img,
                "command": [
                    "/bin/sh",
                    "-c",
                    f"[ -f {conf} ] || cp /etc/kube-router/cni-conf.json {conf}",
                ],
                "volumeMounts": [
                    {"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                    {"name": "kube-router-cfg", "mountPath": "/etc/kube-router"},
                ],
            }
        ],
        "containers": [
            {
                "name": "kube-router",
                "image": img,
                "args": [
                    "--run-router=true",
                    "--run-firewall=true",
                    "--run-service-proxy=false",
                    "--enable-overlay=true",
                    "--overlay-type=full",
                    "--enable-pod-egress=true",
                    "--bgp-graceful-restart=true",
                    "--metrics-port=0",
                ],
                "env": [
                    {
                        "name": "NODE_NAME",
                        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                    },
                    {"name": "KUBE_ROUTER_CNI_CONF_FILE", "value": conf},
                ],
                "securityContext": {"privileged": True},  # routes, iptables, ipsets, tunnels
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": 20244},
                    "periodSeconds": 10,
                },
                "volumeMounts": [
                    {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
                    {"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                    {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
                ],
            }
        ],
        "volumes": [
            _host("lib-modules", "/lib/modules"),
            _host("cni-conf-dir", "/etc/cni/net.d"),
            _host("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
            {"name": "kube-router-cfg", "configMap": {"name": "kube-router-cfg"}},
        ],
    }
    return [
        *_account("kube-router", rules),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("kube-router-cfg"),
            "data": {"cni-conf.json": json.dumps(cni, indent=1)},
        },
        _daemonset("kube-router", pod),
    ]


def cloud_controller(spec: AddonSpec) -> list[dict[str, Any]]:
    """OpenStack CCM on the control planes; its credential is the Secret the bootstrap makes."""
    rules = [
        _rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
        _rule([""], ["events"], ["create", "patch", "update"]),
        _rule([""], ["nodes"], ["get", "list", "watch", "update", "patch", "delete"]),
        _rule([""], ["nodes/status", "services/status"], ["patch", "update"]),
        _rule([""], ["services"], ["list", "watch", "patch", "update"]),
        _rule([""], ["serviceaccounts"], ["create", "get"]),
        _rule([""], ["endpoints"], ["create", "get", "list", "watch", "update"]),
        _rule([""], ["configmaps"], READ),
        _rule([""], ["secrets"], READ, resourceNames=[CLOUD_CONFIG_SECRET]),
    ]
    conf = "/etc/config/cloud.conf"
    pod = {
        "serviceAccountName": "cloud-controller-manager",
        "priorityClassName": "system-cluster-critical",
        "hostNetwork": True,  # it must run before the CNI has given any pod an address
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": SYSTEM_TOLERATIONS,
        "securityContext": RESTRICTED_POD,
        "containers": [
            {
                "name": "openstack-cloud-controller-manager",
                "image": image(facts().addons.cloud_controller.image, spec.registry),
                "args": [
                    "/bin/openstack-cloud-controller-manager",
                    "--v=1",
                    f"--cluster-name={spec.cluster_name}",
                    f"--cloud-config={conf}",
                    "--cloud-provider=openstack",
                    "--use-service-account-credentials=false",
                    "--bind-address=127.0.0.1",
                ],
                "securityContext": RESTRICTED_CONTAINER,
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "volumeMounts": [
                    {"name": "cloud-config", "mountPath": "/etc/config", "readOnly": True},
                    {"name": "ca-certs", "mountPath": "/etc/ssl/certs", "readOnly": True},
                ],
            }
        ],
        "volumes": [
            {"name": "cloud-config", "secret": {"secretName": CLOUD_CONFIG_SECRET}},
            _host("ca-certs", "/etc/ssl/certs", "Directory"),  # the host's trust store, read-only
        ],
    }
    return [
        *_account("cloud-controller-manager", rules),
        _daemonset("openstack-cloud-controller-manager", pod),
    ]


def csr_approver(spec: AddonSpec) -> list[dict[str, Any]]:
    """kubelet-csr-approver: approves a kubelet-serving CSR only when it comes from the node it
    names (system:node:<name>), that name matches the cluster's pattern, its one DNS name is the
    node's, and every address is in the processing tier; denies the rest."""
    rules = [
        _rule(["certificates.k8s.io"], ["certificatesigningrequests"], READ),
        _rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"]),
        _rule(["certificates.k8s.io"], ["signers"], ["approve"],
              resourceNames=["kubernetes.io/kubelet-serving"]),
        _rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
        _rule([""], ["events"], ["create"]),
    ]  # fmt: skip
    env = {
        "PROVIDER_REGEX": spec.node_name_pattern,
        "PROVIDER_IP_PREFIXES": str(spec.node_cidr),
        "MAX_EXPIRATION_SEC": str(367 * 24 * 3600),
        # Neutron's internal DNS need not resolve node names: addresses are checked instead.
        "BYPASS_DNS_RESOLUTION": "true",
        "ALLOWED_DNS_NAMES": "1",
        "LEADER_ELECTION": "true",
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("kubelet-csr-approver"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kubelet-csr-approver"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kubelet-csr-approver"}},
                "spec": {
                    "serviceAccountName": "kubelet-csr-approver",
                    "priorityClassName": "system-cluster-critical",
                    "tolerations": SYSTEM_TOLERATIONS,
                    "securityContext": RESTRICTED_POD,
                    "containers": [
                        {
                            "name": "kubelet-csr-approver",
                            "image": image(facts().addons.csr_approver.image, spec.registry),
                            "args": [
                                "-metrics-bind-address",
                                "0",
                                "-health-probe-bind-address",
                                ":8081",
                            ],
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                            "securityContext": RESTRICTED_CONTAINER,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8081}},
                        }
                    ],
                },
            },
        },
    }
    return [*_account("kubelet-csr-approver", rules), deployment]


def addons(spec: AddonSpec) -> list[dict[str, Any]]:
    return [*kube_router(spec), *cloud_controller(spec), *csr_approver(spec)]
