"""Self-managed (kubeadm) control plane files: KMS v2 secrets encryption, audit, Pod Security."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

import yaml

from components.cloudinit import user_data
from components.k8s_facts import psa_exempt_namespaces

CONF_DIR = "/etc/kubernetes/hdh"  # everything this module writes on a control-plane node
AUDIT_DIR = "/var/log/kubernetes/audit"
KMS_DIR = "/var/lib/kms"
KMS_SOCKET = f"unix://{KMS_DIR}/kms.sock"
# The OpenStack credential of the cluster (CCM, Cinder CSI, KMS plugin): an application credential
# the operator creates and copies during bootstrap. Never written by Pulumi: it would land in the
# instance's user data, hence in Nova metadata and in the Pulumi state.
OPENSTACK_AUTH = f"{CONF_DIR}/openstack-auth.conf"
API_PORT = 6443
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
    kms_key_id: str  # the Barbican secret's UUID: a reference, never the key itself


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


def kubeadm_config(spec: ControlPlaneSpec) -> list[dict[str, Any]]:
    """InitConfiguration + ClusterConfiguration (kubeadm v1beta4) + KubeletConfiguration."""
    api_args = api_server_args()
    return [
        {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "InitConfiguration",
            "localAPIEndpoint": {"bindPort": API_PORT},
            "nodeRegistration": {
                "criSocket": "unix:///run/containerd/containerd.sock",
                "kubeletExtraArgs": _args({"cloud-provider": "external"}),
            },
        },
        {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "ClusterConfiguration",
            "clusterName": spec.cluster_name,
            "kubernetesVersion": f"v{spec.version}",
            "controlPlaneEndpoint": f"{spec.endpoint}:{API_PORT}",
            "networking": {
                "podSubnet": str(spec.pod_cidr),
                "serviceSubnet": str(spec.service_cidr),
            },
            "apiServer": {
                "certSANs": [spec.endpoint],
                "extraArgs": _args(api_args),
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
        },
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "systemd",
            "readOnlyPort": 0,
            "protectKernelDefaults": True,
            "serverTLSBootstrap": True,
            "rotateCertificates": True,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
            "authorization": {"mode": "Webhook"},
        },
    ]


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
# The credential arrives at bootstrap (docs/kubernetes.md); until then there is nothing to run.
ConditionPathExists={OPENSTACK_AUTH}
Before=kubelet.service

[Service]
RuntimeDirectory=hdh-kms
RuntimeDirectoryMode=0700
UMask=0077
ExecStartPre=/bin/mkdir -p {KMS_DIR}
ExecStartPre=/bin/sh -c 'cat {OPENSTACK_AUTH} {CONF_DIR}/keymanager.conf > /run/hdh-kms/cloud.conf'
ExecStart=/usr/local/bin/barbican-kms-plugin --socketpath={KMS_DIR}/kms.sock \\
  --cloud-config=/run/hdh-kms/cloud.conf
Restart=always

[Install]
WantedBy=multi-user.target
"""


def _file(path: str, content: str, mode: str = "0600") -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": mode, "content": content}


def _yaml(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def api_server_files() -> dict[str, str]:
    """The files api_server_args() names, by file name under its conf_dir (KMS key id apart)."""
    return {
        "encryption-config.yaml": _yaml(encryption_config()),
        "audit-policy.yaml": _yaml(audit_policy()),
        "admission.yaml": _yaml(admission_config()),
    }


def control_plane_user_data(
    deploy_user: str, public_key: str, hostname: str, spec: ControlPlaneSpec
) -> str:
    """The host's minimal cloud-init plus the control-plane files kubeadm init/join reads.

    Nothing here is secret: the KMS key stays in Barbican (only its id is written), the
    OpenStack credential and the join tokens arrive over SSH during bootstrap.
    """
    doc = yaml.safe_load(user_data(deploy_user, public_key, hostname))
    doc["write_files"] = [
        _file(f"{CONF_DIR}/kubeadm.yaml", _yaml(*kubeadm_config(spec))),
        *(_file(f"{CONF_DIR}/{name}", text) for name, text in api_server_files().items()),
        _file(f"{CONF_DIR}/keymanager.conf", f'[KeyManager]\nkey-id = "{spec.kms_key_id}"\n'),
        _file("/etc/systemd/system/hdh-barbican-kms.service", KMS_UNIT, mode="0644"),
    ]
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)
