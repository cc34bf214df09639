"""Self-managed (kubeadm) control plane: ClusterConfiguration, KMS v2 encryption, audit, PSA."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

import yaml

from components.k8s_facts import psa_exempt_namespaces

CONF_DIR = "/etc/kubernetes/hdh"  # everything this module writes on a control-plane node
AUDIT_DIR = "/var/log/kubernetes/audit"
KMS_DIR = "/var/lib/kms"
KMS_SOCKET = f"unix://{KMS_DIR}/kms.sock"
# The cluster's OpenStack cloud config (cloud controller, KMS plugin: an application credential
# the stack creates). A directory of its own: kube-apiserver mounts CONF_DIR, not this one.
CLOUD_DIR = "/etc/kubernetes/hdh-cloud"
CLOUD_CONF = f"{CLOUD_DIR}/cloud.conf"
API_PORT = 6443
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
# Listed in full, defaults included, so that a change of upstream defaults cannot drop one:
# DenyServiceExternalIPs (CVE-2020-8554), AlwaysPullImages (an image cached by one bubble is not
# run by another without its pull credentials), NodeRestriction (a kubelet edits its own node
# and pods only), Pod Security and the platform's ValidatingAdmissionPolicies, quotas, limits.
ADMISSION_PLUGINS = (
    "NodeRestriction",
    "AlwaysPullImages",
    "DenyServiceExternalIPs",
    "PodSecurity",
    "ValidatingAdmissionPolicy",
    "LimitRanger",
    "ResourceQuota",
    "ServiceAccount",
)


@dataclass(frozen=True, kw_only=True)
class ControlPlaneSpec:
    cluster_name: str
    version: str  # x.y.z
    endpoint: str  # the API load balancer's VIP: controlPlaneEndpoint and a certificate SAN
    pod_cidr: IPv4Network
    service_cidr: IPv4Network
    image_repository: str | None = None  # kubeadm's images from the services mirror


def encryption_config() -> dict[str, Any]:
    """Secrets encrypted with KMS v2: DEKs wrapped by a key that stays in Barbican."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {
                        "kms": {
                            "apiVersion": "v2",
                            "name": "barbican",
                            "endpoint": KMS_SOCKET,
                            "timeout": "3s",
                        }
                    },
                    # Reads only what was written before encryption was on (nothing, on a
                    # fresh cluster); writes always use the first provider.
                    {"identity": {}},
                ],
            }
        ],
    }


def audit_policy() -> dict[str, Any]:
    """Who did what: metadata for secrets and tokens (never their bodies), requests elsewhere."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {
                "level": "None",
                "users": ["system:kube-proxy"],
                "verbs": ["watch"],
                "resources": [{"group": "", "resources": ["endpoints", "services"]}],
            },
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            {
                "level": "RequestResponse",
                "resources": [
                    {"group": "rbac.authorization.k8s.io"},
                    {"group": "", "resources": ["pods/exec", "pods/attach", "pods/portforward"]},
                ],
            },
            {"level": "Request", "verbs": ["create", "update", "patch", "delete"]},
            {"level": "Metadata"},
        ],
    }


def admission_config() -> dict[str, Any]:
    """Pod Security admission: `restricted` by default for every namespace but the system ones."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": {
                        "enforce": "restricted",
                        "enforce-version": "latest",
                        "audit": "restricted",
                        "audit-version": "latest",
                        "warn": "restricted",
                        "warn-version": "latest",
                    },
                    "exemptions": {
                        "usernames": [],
                        "runtimeClasses": [],
                        "namespaces": psa_exempt_namespaces(),
                    },
                },
            }
        ],
    }


def _args(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def api_server_args(conf_dir: str = CONF_DIR, audit_dir: str = AUDIT_DIR) -> dict[str, str]:
    """kube-apiserver flags of the platform (kubeadm's apiServer.extraArgs), files under conf_dir.

    The test tier starts a real kube-apiserver with these very flags (files in a scratch dir).
    """
    return {
        "encryption-provider-config": f"{conf_dir}/encryption-config.yaml",
        "audit-policy-file": f"{conf_dir}/audit-policy.yaml",
        "audit-log-path": f"{audit_dir}/audit.log",
        "audit-log-maxage": "30",
        "audit-log-maxbackup": "10",
        "audit-log-maxsize": "100",
        "admission-control-config-file": f"{conf_dir}/admission.yaml",
        "enable-admission-plugins": ",".join(ADMISSION_PLUGINS),
        "profiling": "false",
        "tls-min-version": "VersionTLS12",
    }


def node_registration() -> dict[str, Any]:
    """Every node: containerd, and no cloud provider in the kubelet (the CCM initialises nodes)."""
    return {"criSocket": CRI_SOCKET, "kubeletExtraArgs": _args({"cloud-provider": "external"})}


def cluster_config(spec: ControlPlaneSpec) -> list[dict[str, Any]]:
    """ClusterConfiguration (kubeadm v1beta4) + KubeletConfiguration: what init uploads."""
    cluster: dict[str, Any] = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "clusterName": spec.cluster_name,
        "kubernetesVersion": f"v{spec.version}",
        "controlPlaneEndpoint": f"{spec.endpoint}:{API_PORT}",
        "encryptionAlgorithm": "ECDSA-P256",  # the stack's CA is P-256 too (k8s_secrets.py)
        "networking": {
            "podSubnet": str(spec.pod_cidr),
            "serviceSubnet": str(spec.service_cidr),
        },
        "apiServer": {
            "certSANs": [spec.endpoint],
            "extraArgs": _args(api_server_args()),
            # Host paths of the control-plane's own static pod (kubeadm's, in kube-system):
            # its config files, its audit log and the KMS plugin's socket.
            "extraVolumes": [
                _volume("hdh-config", CONF_DIR, read_only=True),
                _volume("audit-log", AUDIT_DIR, read_only=False),
                _volume("kms-socket", KMS_DIR, read_only=False),
            ],
        },
        "controllerManager": {
            "extraArgs": _args({"profiling": "false", "cloud-provider": "external"})
        },
        "scheduler": {"extraArgs": _args({"profiling": "false"})},
    }
    if spec.image_repository:
        cluster["imageRepository"] = spec.image_repository
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "readOnlyPort": 0,
        # The kubelet then refuses to start unless the node's sysctls are its defaults: the
        # bootstrap sets them (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops).
        "protectKernelDefaults": True,
        # Serving certificates from the cluster CA, approved by kubelet-csr-approver.
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
    }
    return [cluster, kubelet]


def _volume(name: str, path: str, *, read_only: bool) -> dict[str, Any]:
    return {
        "name": name,
        "hostPath": path,
        "mountPath": path,
        "readOnly": read_only,
        "pathType": "DirectoryOrCreate",
    }


KMS_UNIT = f"""[Unit]
Description=Barbican KMS v2 plugin for kube-apiserver secrets encryption (hdh)
# Installed and started by the node's bootstrap (components/k8s_bootstrap.py).
ConditionPathExists={CLOUD_CONF}
Before=kubelet.service

[Service]
UMask=0077
ExecStartPre=/bin/mkdir -p {KMS_DIR}
ExecStart=/usr/local/bin/barbican-kms-plugin --socketpath={KMS_DIR}/kms.sock \\
  --cloud-config={CLOUD_CONF}
Restart=always

[Install]
WantedBy=multi-user.target
"""


def cloud_conf(
    *, auth_url: str, region: str, credential_id: str, credential_secret: str,
    subnet_id: str, kms_key_id: str,
) -> str:  # fmt: skip
    """The cloud config the CCM and the KMS plugin read (an application credential)."""
    return (
        "[Global]\n"
        f"auth-url = {auth_url}\n"
        f"region = {region}\n"
        f"application-credential-id = {credential_id}\n"
        f"application-credential-secret = {credential_secret}\n"
        "\n[LoadBalancer]\n"
        f"subnet-id = {subnet_id}\n"
        "internal-lb = true\n"  # no public VIP, whatever a Service asks
        "\n[KeyManager]\n"
        f'key-id = "{kms_key_id}"\n'
    )


def _yaml(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def api_server_files() -> dict[str, str]:
    """The files api_server_args() names, by file name under its conf_dir."""
    return {
        "encryption-config.yaml": _yaml(encryption_config()),
        "audit-policy.yaml": _yaml(audit_policy()),
        "admission.yaml": _yaml(admission_config()),
    }
