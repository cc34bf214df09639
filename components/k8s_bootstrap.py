"""kubeadm nodes that bootstrap themselves: the user data and script that init or join them.

cloud-init writes the node's files and runs /usr/local/sbin/hdh-k8s-bootstrap once: packages
(containerd from Debian, kubelet/kubeadm/kubectl from Kubernetes' apt repository) and images
through the services tier (the mirror, else the services proxy: nodes have no route out), the
Barbican KMS plugin on control planes, then `kubeadm init` on the first control plane (which
then installs the add-ons), `kubeadm join --control-plane` on the others and `kubeadm join` on
workers, with the stack's CA pinned. Bootstrap secrets are removed from disk when done.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any, Literal

import yaml

from components.cloudinit import user_data
from components.k8s_addons import AddonSpec, addons, image
from components.k8s_facts import facts
from components.k8s_secrets import BOOTSTRAP_TTL
from components.kubeadm import (
    API_PORT,
    CLOUD_CONF,
    CLOUD_DIR,
    CONF_DIR,
    KMS_UNIT,
    ControlPlaneSpec,
    api_server_files,
    cluster_config,
    node_registration,
)

Role = Literal["init", "control", "worker"]
SCRIPT = "/usr/local/sbin/hdh-k8s-bootstrap"
LOG = "/var/log/hdh-k8s-bootstrap.log"
PAUSE = "registry.k8s.io/pause:3.10.2"  # `kubeadm config images list` for v1.36


@dataclass(frozen=True, kw_only=True)
class ClusterJoin:
    """What every node of one cluster shares (secrets marked)."""

    control: ControlPlaneSpec
    addon: AddonSpec
    token: str  # secret: kubeadm bootstrap token
    certificate_key: str  # secret: decrypts the control-plane certificates kubeadm uploads
    ca_cert: str
    ca_key: str  # secret: on the first control plane only
    ca_cert_hash: str
    cloud_conf: str  # secret: the application credential (control planes only)
    proxy: str | None  # http://<services host>:<port>, None with a mirror for everything
    no_proxy: str
    apt_url: str  # Kubernetes' apt repository (through the proxy) or the mirror's copy of it


def _file(path: str, content: str, mode: str = "0600") -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": mode, "content": content}


def _yaml(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def init_configuration(j: ClusterJoin) -> dict[str, Any]:
    return {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": j.token,
                "ttl": BOOTSTRAP_TTL,
                "usages": ["signing", "authentication"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
                "description": "hdh: nodes of the stack join with it (expires)",
            }
        ],
        "certificateKey": j.certificate_key,
        "localAPIEndpoint": {"bindPort": API_PORT},
        "nodeRegistration": node_registration(),
        # Images come through the services tier: slower than a node's own route out.
        "timeouts": {"controlPlaneComponentHealthCheck": "10m0s"},
    }


def join_configuration(j: ClusterJoin, control: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": f"{j.control.endpoint}:{API_PORT}",
                "token": j.token,
                # Pinned: a node only trusts an API server holding the stack's CA.
                "caCertHashes": [j.ca_cert_hash],
            }
        },
        "nodeRegistration": node_registration(),
        # The first control plane may still be initialising when the others boot.
        "timeouts": {"discovery": "30m0s", "tlsBootstrap": "10m0s"},
    }
    if control:
        doc["controlPlane"] = {
            "certificateKey": j.certificate_key,
            "localAPIEndpoint": {"bindPort": API_PORT},
        }
    return doc


def environment(j: ClusterJoin, role: Role) -> str:
    k = facts()
    kms = k.addons.kms_plugin
    values = {
        "ROLE": role,
        "VERSION": j.control.version,
        "PROXY": j.proxy or "",
        "NO_PROXY": j.no_proxy,
        "APT_URL": j.apt_url.rstrip("/"),
        "PACKAGES": " ".join(k.node_packages),
        "SANDBOX_IMAGE": image(PAUSE, j.addon.registry),
        "KMS_IMAGE": image(kms.image, j.addon.registry),
        "KMS_BINARY": kms.binary or "/bin/barbican-kms-plugin",
    }
    return "".join(f"{key}={shlex.quote(v)}\n" for key, v in values.items())


def node_files(j: ClusterJoin, role: Role) -> list[dict[str, str]]:
    """The files cloud-init writes on a node of `role` before running the bootstrap."""
    files = [
        _file(SCRIPT, BOOTSTRAP_SCRIPT, mode="0700"),
        _file(f"{CONF_DIR}/bootstrap.env", environment(j, role)),
    ]
    if role == "worker":
        return [*files, _file(f"{CONF_DIR}/join.yaml", _yaml(join_configuration(j, False)))]
    files += [
        *(_file(f"{CONF_DIR}/{name}", text) for name, text in api_server_files().items()),
        _file(CLOUD_CONF, j.cloud_conf),
        _file("/etc/systemd/system/hdh-barbican-kms.service", KMS_UNIT, mode="0644"),
    ]
    if role == "control":
        return [*files, _file(f"{CONF_DIR}/join.yaml", _yaml(join_configuration(j, True)))]
    return [
        *files,
        _file(f"{CONF_DIR}/kubeadm.yaml", _yaml(init_configuration(j), *cluster_config(j.control))),
        _file(f"{CONF_DIR}/addons.yaml", _yaml(*addons(j.addon))),
        _file("/etc/kubernetes/pki/ca.crt", j.ca_cert, mode="0644"),
        _file("/etc/kubernetes/pki/ca.key", j.ca_key),
    ]


def node_user_data(
    deploy_user: str, public_key: str, hostname: str, j: ClusterJoin, role: Role
) -> str:
    """The host's minimal cloud-init, its Kubernetes files, and the bootstrap run once."""
    doc = yaml.safe_load(user_data(deploy_user, public_key, hostname))
    doc["write_files"] = node_files(j, role)
    doc["runcmd"] = [[SCRIPT]]
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)


def no_proxy(endpoint: str, *networks: IPv4Network) -> str:
    """What never goes through the proxy: the API, the cluster's own ranges, loopback."""
    hosts = ["localhost", "127.0.0.1", endpoint, ".svc", ".cluster.local"]
    return ",".join([*hosts, *(str(n) for n in networks)])


# One script for every role; its parameters are in bootstrap.env (written by cloud-init).
BOOTSTRAP_SCRIPT = rf"""#!/bin/bash
# hdh: bootstrap this Kubernetes node (run once by cloud-init; log {LOG}).
set -euo pipefail
umask 077
exec >>{LOG} 2>&1
. {CONF_DIR}/bootstrap.env
done_flag=/var/lib/hdh/k8s-bootstrapped
t0=$SECONDS
phase() {{ echo "$(date -Is) hdh-k8s-bootstrap [$((SECONDS - t0)) s] $ROLE: $*"; }}
[ -f "$done_flag" ] && {{ phase "already bootstrapped"; exit 0; }}
export DEBIAN_FRONTEND=noninteractive

phase "services tier: ${{PROXY:-mirror only}}"
if [ -n "$PROXY" ]; then
  export http_proxy=$PROXY https_proxy=$PROXY HTTP_PROXY=$PROXY HTTPS_PROXY=$PROXY
  export no_proxy=$NO_PROXY NO_PROXY=$NO_PROXY
  printf 'Acquire::http::Proxy "%s";\nAcquire::https::Proxy "%s";\n' "$PROXY" "$PROXY" \
    >/etc/apt/apt.conf.d/80hdh-k8s-proxy
fi

phase "kernel modules and sysctls"
printf 'overlay\nbr_netfilter\nipip\n' >/etc/modules-load.d/hdh-k8s.conf
modprobe -a overlay br_netfilter ipip
# Forwarding and bridged traffic through iptables (CNI, kube-proxy); the kubelet's
# protectKernelDefaults wants the last four exactly so.
cat >/etc/sysctl.d/60-hdh-k8s.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
vm.overcommit_memory = 1
vm.panic_on_oom = 0
kernel.panic = 10
kernel.panic_on_oops = 1
EOF
sysctl -q --system

phase "packages: $PACKAGES, kubelet kubeadm kubectl $VERSION"
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
  $PACKAGES curl gpg ca-certificates
install -d -m 0755 /etc/apt/keyrings
key=/etc/apt/keyrings/kubernetes.gpg
curl -fsSL --retry 5 "$APT_URL/Release.key" | gpg --dearmor --yes -o "$key"
chmod 0644 "$key"
echo "deb [signed-by=$key] $APT_URL/ /" >/etc/apt/sources.list.d/kubernetes.list
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
  "kubelet=$VERSION-*" "kubeadm=$VERSION-*" "kubectl=$VERSION-*"
apt-mark hold kubelet kubeadm kubectl >/dev/null
# Debian's CNI plugins live in /usr/lib/cni; the kubelet and kube-router look in /opt/cni/bin.
[ -e /opt/cni/bin/bridge ] || {{ mkdir -p /opt/cni; ln -sfn /usr/lib/cni /opt/cni/bin; }}

phase "containerd (systemd cgroups, sandbox $SANDBOX_IMAGE)"
mkdir -p /etc/containerd
containerd config default >/etc/containerd/config.toml
sed -i -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
  -e "s#sandbox_image = .*#sandbox_image = \"$SANDBOX_IMAGE\"#" /etc/containerd/config.toml
if [ -n "$PROXY" ]; then
  mkdir -p /etc/systemd/system/containerd.service.d
  printf '[Service]\nEnvironment="HTTP_PROXY=%s" "HTTPS_PROXY=%s" "NO_PROXY=%s"\n' \
    "$PROXY" "$PROXY" "$NO_PROXY" >/etc/systemd/system/containerd.service.d/http-proxy.conf
fi
systemctl daemon-reload
systemctl enable containerd >/dev/null 2>&1
systemctl restart containerd

if [ "$ROLE" != worker ]; then
  phase "barbican-kms-plugin from $KMS_IMAGE"
  ctr -n hdh images pull "$KMS_IMAGE" >/dev/null
  mnt=$(mktemp -d)
  ctr -n hdh images mount "$KMS_IMAGE" "$mnt" >/dev/null
  install -m 0755 "$mnt$KMS_BINARY" /usr/local/bin/barbican-kms-plugin
  ctr -n hdh images unmount "$mnt" >/dev/null
  rmdir "$mnt"
  chmod 0700 {CLOUD_DIR}
  systemctl enable --now hdh-barbican-kms.service
  for _ in $(seq 90); do [ -S /var/lib/kms/kms.sock ] && break; sleep 2; done
  [ -S /var/lib/kms/kms.sock ] || {{ phase "the KMS plugin has no socket"; exit 1; }}
fi

systemctl enable kubelet >/dev/null 2>&1
case "$ROLE" in
  init)
    phase "kubeadm init"
    kubeadm init --config {CONF_DIR}/kubeadm.yaml --upload-certs
    export KUBECONFIG=/etc/kubernetes/admin.conf
    phase "add-ons: cloud config, kube-router, cloud controller, CSR approver"
    kubectl -n kube-system create secret generic hdh-cloud-config \
      --from-file=cloud.conf={CLOUD_CONF} --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    kubectl apply --server-side --field-manager=hdh-bootstrap -f {CONF_DIR}/addons.yaml
    ;;
  control)
    phase "kubeadm join --control-plane"
    kubeadm join --config {CONF_DIR}/join.yaml
    ;;
  worker)
    phase "kubeadm join"
    kubeadm join --config {CONF_DIR}/join.yaml
    ;;
esac

phase "removing the bootstrap secrets from disk"
# (cloud-init's copies of the user data too; the metadata service keeps serving it to this host
# only: the firewall keeps pods away from it.)
for f in {CONF_DIR}/kubeadm.yaml {CONF_DIR}/join.yaml /var/lib/cloud/instance/user-data.txt \
         /var/lib/cloud/instance/user-data.txt.i /var/lib/cloud/instance/obj.pkl; do
  if [ -e "$f" ]; then shred -u "$f"; fi
done
mkdir -p /var/lib/hdh
touch "$done_flag"
phase "done"
"""
