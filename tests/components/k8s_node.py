"""An emulated Kubernetes worker: a Debian 12 VM (QEMU/TCG) with kubelet, containerd, kube-router.

The VM is the testbed's image plus the node's Debian packages (built by testbed.image, cached by
content hash); kubelet (v1.36.3), kube-router and the probe come from scripts/install-k8s-node.
It joins a control plane that runs on the host (tests/components/k8s_apiserver.py): the guest
reaches the API server through one QEMU forward (10.0.2.100:6443) and nothing else. Images are
served to containerd by a registry inside the VM (Debian's docker-registry), as a services-tier
mirror would serve them. The VM is started and stopped by PID; its disk is a throwaway overlay.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.components.k8s_apiserver import ApiServer, free_port, install

NODE = "hdh-k8s-worker0"
API_GUEST = "10.0.2.100"  # the guest's address for the host's API server (a QEMU forward)
NODE_IP = "10.0.2.15"  # the testbed image's static address in a VM
# Debian packages of a node, on top of the testbed's (same as components/kubernetes.yaml's
# nodePackages, plus the registry standing in for the services tier's mirror).
NODE_PACKAGES = [
    "containerd",
    "runc",
    "containernetworking-plugins",
    "ipset",
    "iptables",
    "conntrack",
    "docker-registry",
]
PAUSE = "registry.k8s.io/pause:3.10.2"
PROBE = "localhost:5000/hdh/probe:1"
SSH = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=60",
    "-o",
    "ServerAliveInterval=30",
]
KUBELET_CONFIG = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "cgroupDriver": "systemd",
    "readOnlyPort": 0,
    "protectKernelDefaults": True,
    "authentication": {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"},
    },
    "authorization": {"mode": "Webhook"},
    "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
    "clusterDNS": ["10.96.0.10"],
    "clusterDomain": "cluster.local",
}


def docker_archive(tag: str, binary: bytes, entrypoint: list[str]) -> bytes:
    """A one-layer image (docker save format) holding /bin/probe: what `ctr import` takes."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        info = tarfile.TarInfo("bin/probe")
        info.size, info.mode = len(binary), 0o755
        tar.addfile(info, io.BytesIO(binary))
    layer = layer_buf.getvalue()
    diff = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff}"]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{diff}/layer.tar"]}]
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, blob in (
            (config_name, config),
            (f"{diff}/layer.tar", layer),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out.getvalue()


@dataclass
class NodeVM:
    """The VM, reachable over SSH on a loopback port; `run` executes as root in the guest."""

    dir: Path
    key: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, script: str, timeout: float = 900, check: bool = True) -> str:
        argv = [
            "ssh",
            *SSH,
            "-i",
            str(self.key),
            "-p",
            str(self.port),
            "deploy@127.0.0.1",
            "sudo",
            "-n",
            "bash",
            "-s",
        ]
        done = subprocess.run(
            argv,
            input=f"set -euo pipefail\n{script}",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{NODE}: {script.strip()[:200]}: {done.stderr[-2000:]}")
        return done.stdout

    def put(self, files: dict[str, Path]) -> None:
        """Copy host files into the guest's /tmp under the given names."""
        for name, src in files.items():
            argv = [
                "scp",
                *SSH,
                "-i",
                str(self.key),
                "-P",
                str(self.port),
                str(src),
                f"deploy@127.0.0.1:/tmp/{name}",
            ]
            subprocess.run(argv, capture_output=True, timeout=600, check=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def boot(work: Path, api_port: int) -> NodeVM:
    """Build (or reuse) the node image and boot it; returns once SSH answers."""
    from testbed.image import ensure_image, read_packages

    t0 = time.monotonic()
    image = ensure_image(read_packages() + NODE_PACKAGES)
    work.mkdir(parents=True, exist_ok=True)
    built = time.monotonic() - t0
    overlay = work / "node.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            str(image.disk),
            str(overlay),
        ],
        check=True,
    )
    fwd = work / "api-forward.sh"  # one socat per guest connection to the API server
    fwd.write_text(f"#!/bin/sh\nexec socat - TCP:127.0.0.1:{api_port}\n")
    fwd.chmod(0o755)
    vm = NodeVM(dir=work, key=image.key, port=free_port())
    net = (
        f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{vm.port}-:22,"
        f"guestfwd=tcp:{API_GUEST}:6443-cmd:{fwd}"
    )
    append = f"root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet systemd.hostname={NODE}"
    qemu = [
        "qemu-system-x86_64",
        "-accel",
        "tcg,tb-size=512",
        "-cpu",
        "max",
        "-m",
        "3072",
        "-smp",
        "2",
        "-display",
        "none",
        "-nodefaults",
        "-no-user-config",
        "-serial",
        f"file:{work / 'console.log'}",
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        append,
        "-drive",
        f"file={overlay},if=virtio,cache=unsafe,format=qcow2",
        "-netdev",
        net,
        "-device",
        "virtio-net-pci,netdev=n0",
        "-device",
        "virtio-rng-pci",
    ]
    with (work / "qemu.log").open("wb") as log:
        vm.proc = subprocess.Popen(
            qemu,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    t1 = time.monotonic()
    deadline = t1 + 600
    while True:
        if vm.proc.poll() is not None:
            raise RuntimeError(f"qemu exited: {(work / 'qemu.log').read_text()[-2000:]}")
        try:
            ssh = subprocess.run(
                ["ssh", *SSH, "-i", str(vm.key), "-p", str(vm.port), "deploy@127.0.0.1", "true"],
                capture_output=True,
                timeout=90,
                check=False,
            )
            if ssh.returncode == 0:
                break
        except subprocess.TimeoutExpired:  # sshd accepted, the guest too busy to answer yet
            pass
        if time.monotonic() > deadline:
            vm.stop()
            raise RuntimeError(f"{NODE}: no SSH after 600 s")
        time.sleep(5)
    vm.timings.update({"image (cached or built) s": built, "boot to SSH s": time.monotonic() - t1})
    return vm


def provision(
    vm: NodeVM,
    server: ApiServer,
    router_rbac: list[dict[str, Any]],
    cni: str,
    router_args: list[str],
) -> None:
    """containerd with the mirror, the images, kube-router, then the kubelet; waits for Ready."""
    bins = install("install-k8s-node")
    probe = (bins / "probe").read_bytes()
    images = vm.dir / "images"
    images.mkdir(exist_ok=True)
    (images / "pause.tar").write_bytes(docker_archive(PAUSE, probe, ["/bin/probe", "sleep"]))
    (images / "probe.tar").write_bytes(docker_archive(PROBE, probe, ["/bin/probe"]))
    assert server.pki is not None
    for name in ("node", "router"):
        text = server.kubeconfig(name, f"https://{API_GUEST}:6443")
        (vm.dir / f"{name}.kubeconfig").write_text(text)
    (vm.dir / "kubelet.yaml").write_text(json.dumps(KUBELET_CONFIG))
    (vm.dir / "cni.conflist").write_text(cni)
    vm.put(
        {
            "kubelet": bins / "kubelet",
            "kube-router": bins / "kube-router",
            "pause.tar": images / "pause.tar",
            "probe.tar": images / "probe.tar",
            "node.kubeconfig": vm.dir / "node.kubeconfig",
            "router.kubeconfig": vm.dir / "router.kubeconfig",
            "kubelet.yaml": vm.dir / "kubelet.yaml",
            "cni.conflist": vm.dir / "cni.conflist",
            "ca.crt": server.pki.dir / "ca.crt",
        }
    )
    server.kubectl(
        "admin", "apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in router_rbac)
    )
    t0 = time.monotonic()
    vm.run(NODE_SETUP, timeout=1800)
    vm.timings["provision s"] = time.monotonic() - t0
    # The kubelet registers the node first; kube-router then reads its pod range (node IPAM)
    # into the CNI configuration, and the node turns Ready.
    vm.run(
        "systemd-run --unit=kubelet --property=Restart=always /usr/local/bin/kubelet "
        "--config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf "
        f"--node-ip={NODE_IP}\n"
        "systemd-run --unit=kube-router --property=Restart=always "
        "--setenv=KUBE_ROUTER_CNI_CONF_FILE=/etc/cni/net.d/10-kuberouter.conflist "
        f"/usr/local/bin/kube-router --kubeconfig=/etc/kubernetes/kube-router.conf "
        f"--hostname-override={NODE} {' '.join(router_args)}\n",
        timeout=600,
    )
    t1 = time.monotonic()
    deadline = t1 + 600
    while time.monotonic() < deadline:
        ready = server.kubectl(
            "admin",
            "get",
            "node",
            NODE,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        )
        if ready.stdout.strip() == "True":
            vm.timings["kubelet start to node Ready s"] = time.monotonic() - t1
            return
        time.sleep(3)
    logs = vm.run("journalctl -u kubelet --no-pager | tail -20", check=False)
    raise RuntimeError(f"{NODE} not Ready: {logs}")


# What the node's bootstrap does (components/k8s_bootstrap.py), minus the downloads (the image
# has the packages) and kubeadm (its control-plane images cannot be pulled here).
NODE_SETUP = r"""
install -m 0755 /tmp/kubelet /usr/local/bin/kubelet
install -m 0755 /tmp/kube-router /usr/local/bin/kube-router
install -d -m 0755 /etc/kubernetes/pki /var/lib/kubelet /etc/cni/net.d
install -m 0644 /tmp/ca.crt /etc/kubernetes/pki/ca.crt
install -m 0600 /tmp/node.kubeconfig /etc/kubernetes/kubelet.conf
install -m 0600 /tmp/router.kubeconfig /etc/kubernetes/kube-router.conf
install -m 0644 /tmp/kubelet.yaml /var/lib/kubelet/config.yaml
install -m 0644 /tmp/cni.conflist /etc/cni/net.d/10-kuberouter.conflist
[ -e /opt/cni/bin ] || { mkdir -p /opt/cni; ln -s /usr/lib/cni /opt/cni/bin; }
printf 'overlay\nbr_netfilter\nipip\n' >/etc/modules-load.d/hdh-k8s.conf
modprobe -a overlay br_netfilter ipip
cat >/etc/sysctl.d/60-hdh-k8s.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
vm.overcommit_memory = 1
vm.panic_on_oom = 0
kernel.panic = 10
kernel.panic_on_oops = 1
EOF
sysctl -q --system
# The mirror: Debian's registry, no auth, loopback only.
sed -i -e '/^auth:/,/path:/d' -e 's/addr: :5000/addr: 127.0.0.1:5000/' \
  /etc/docker/registry/config.yml
systemctl restart docker-registry
containerd config default >/etc/containerd/config.toml
sed -i -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
  -e 's#sandbox_image = .*#sandbox_image = "registry.k8s.io/pause:3.10.2"#' \
  /etc/containerd/config.toml
python3 - <<'EOF'
p = "/etc/containerd/config.toml"
head = '[plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n'
mirror = (
    '        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5000"]\n'
    '          endpoint = ["http://localhost:5000"]\n'
)
text = open(p).read()
assert head in text
open(p, "w").write(text.replace(head, head + mirror, 1))
EOF
systemctl restart containerd
ctr -n k8s.io images import /tmp/pause.tar >/dev/null
ctr -n k8s.io images import /tmp/probe.tar >/dev/null
for _ in $(seq 30); do
  ctr -n k8s.io images push --plain-http localhost:5000/hdh/probe:1 >/dev/null 2>&1 && break
  sleep 2
done
ctr -n k8s.io images rm localhost:5000/hdh/probe:1 >/dev/null  # pods pull it from the mirror
"""
