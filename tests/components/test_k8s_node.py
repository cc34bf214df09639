"""The default-deny NetworkPolicy with real pods, on an emulated worker node (opt-in tier k8snode).

    HDH_TIERS=k8snode scripts/test     # about 15-25 min under QEMU software emulation

A control plane on the host (the k8s tier's etcd, kube-apiserver with the platform's flags and
kube-controller-manager with node IPAM), one worker VM (tests/components/k8s_node.py) running
kubelet v1.36.3, containerd and kube-router with the arguments of components/k8s_addons.py, the
baseline `pulumi up`-ed; then probe pods (restricted, images pulled from the node's mirror)
connect or do not. Needs root, qemu and socat (the testbed's host tools).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.config import stack_path
from components.k8s_addons import kube_router
from ground.paths import ROOT
from hdh.engine import ThrowawayProgram
from tests.components.k8s_apiserver import ApiServer, install, start
from tests.components.k8s_node import API_GUEST, NODE, PROBE, NodeVM, boot, provision
from tests.components.test_k8s_admission import SECRETS, STACK, USERS
from tests.components.test_k8s_bootstrap import make_join

pytestmark = pytest.mark.k8snode
CARDIO, ONCOLOGY, OPEN = "bubble-demo-cardio", "bubble-demo-oncology", "hdh-open"
SETTLE = "30s"  # a new pod waits this long before connecting: kube-router programs it first
REPORT = ROOT / "build" / "k8s-node" / "report.json"
RESULTS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, NodeVM]]:
    from components.kubeadm import api_server_args, api_server_files

    work = tmp_path_factory.mktemp("k8snode")
    conf = work / "conf"
    args = api_server_args(conf_dir=str(conf), audit_dir=str(work / "audit"))
    args.pop("encryption-provider-config")  # no Barbican here
    files = {
        str(conf / n): t for n, t in api_server_files().items() if n != "encryption-config.yaml"
    }
    kcm = install("build-k8s", "kube-controller-manager") / "kube-controller-manager"
    users = {
        **USERS,
        "node": (f"system:node:{NODE}", ("system:nodes",)),
        "router": ("hdh:kube-router", ()),
    }
    server = start(
        work / "cp",
        args,
        files,
        service_cidr="10.96.0.0/12",
        users=users,
        controller_manager=kcm,
        ca=(SECRETS["ca_cert"], SECRETS["ca_key"]),
        server_ips=(API_GUEST,),
        controller_args=(
            "--controllers=node-ipam-controller",
            "--allocate-node-cidrs=true",
            "--cluster-cidr=10.244.0.0/16",
            "--node-cidr-mask-size=24",
        ),
    )
    vm = None
    try:
        vm = boot(work / "vm", int(server.url.rsplit(":", 1)[1]))
        addon = kube_router(make_join().addon)
        rbac = [d for d in addon if d["kind"] == "ClusterRole"]
        rbac.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "hdh:kube-router-node-user"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "hdh:kube-router",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "hdh:kube-router",
                    }
                ],
            }
        )
        (cni,) = [d["data"]["cni-conf.json"] for d in addon if d["kind"] == "ConfigMap"]
        (ds,) = [d for d in addon if d["kind"] == "DaemonSet"]
        provision(vm, server, rbac, cni, ds["spec"]["template"]["spec"]["containers"][0]["args"])
        RESULTS["timings"] = vm.timings
        yield server, vm
    finally:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(RESULTS, indent=1) + "\n")
        if vm is not None:
            vm.stop()
        server.stop()


@pytest.fixture(scope="module")
def baseline(cluster: tuple[ApiServer, NodeVM], tmp_path_factory: pytest.TempPathFactory) -> None:
    server, _ = cluster
    work = tmp_path_factory.mktemp("node-baseline")
    doc = yaml.safe_load(stack_path(STACK).read_text())
    stack_file = work / f"Pulumi.{STACK}.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    program = ThrowawayProgram(work, ROOT / "tests" / "components" / "programs" / "k8s_baseline")
    program.run("config", "set", "stack", STACK)
    program.run("config", "set", "stackFile", str(stack_file))
    program.run("config", "set", "--secret", "kubeconfig", stdin=server.kubeconfig("admin"))
    program.run("up", "--yes", "--skip-preview")
    server.kubectl("admin", "create", "namespace", OPEN, check=True)


def _pod(name: str, ns: str, args: list[str], labels: dict[str, str], restart: str) -> str:
    small = {"cpu": "50m", "memory": "32Mi", "ephemeral-storage": "50Mi"}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "nodeName": NODE,
                "restartPolicy": restart,
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "probe",
                        "image": PROBE,
                        "args": args,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        # The LimitRange's 2Gi ephemeral default would not fit the VM disk twice.
                        "resources": {"requests": small, "limits": small},
                    }
                ],
            },
        }
    )


def _wait(server: ApiServer, ns: str, name: str, path: str, timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = server.kubectl("admin", "get", "pod", name, "-n", ns, "-o", f"jsonpath={path}")
        if out.returncode == 0 and out.stdout.strip():
            return str(out.stdout.strip())
        time.sleep(3)
    pytest.fail(f"{ns}/{name}: nothing at {path} after {timeout:.0f} s")


def _server(server: ApiServer, ns: str) -> str:
    server.kubectl(
        "admin",
        "create",
        "-f",
        "-",
        check=True,
        stdin=_pod("server", ns, ["serve", "8080"], {"app": "server"}, "Always"),
    )
    _wait(server, ns, "server", "{.status.containerStatuses[?(@.ready==true)].name}")
    return _wait(server, ns, "server", "{.status.podIP}")


def _connects(server: ApiServer, ns: str, target: str, name: str, delay: str = SETTLE) -> bool:
    args = ["connect", f"{target}:8080", delay]
    server.kubectl(
        "admin",
        "create",
        "-f",
        "-",
        check=True,
        stdin=_pod(name, ns, args, {"app": "client"}, "Never"),
    )
    code = _wait(server, ns, name, "{.status.containerStatuses[0].state.terminated.exitCode}")
    return code == "0"


@pytest.fixture(scope="module")
def servers(cluster: tuple[ApiServer, NodeVM], baseline: None) -> dict[str, str]:
    server, vm = cluster
    t0 = time.monotonic()
    ips = {ns: _server(server, ns) for ns in (OPEN, CARDIO)}
    vm.timings["two server pods Running s"] = time.monotonic() - t0
    return ips


def test_default_deny_with_real_pods(
    cluster: tuple[ApiServer, NodeVM], servers: dict[str, str]
) -> None:
    server, _ = cluster
    seen = {
        "open -> open": _connects(server, OPEN, servers[OPEN], "c1"),
        "bubble -> same bubble": _connects(server, CARDIO, servers[CARDIO], "c2"),
        "outside -> bubble": _connects(server, OPEN, servers[CARDIO], "c3"),
        "other bubble -> bubble": _connects(server, ONCOLOGY, servers[CARDIO], "c4"),
        "bubble -> outside": _connects(server, CARDIO, servers[OPEN], "c5"),
    }
    RESULTS["default deny"] = seen
    assert seen == {
        "open -> open": True,  # the network works: what follows is the policy's doing
        "bubble -> same bubble": False,
        "outside -> bubble": False,
        "other bubble -> bubble": False,
        "bubble -> outside": False,
    }


def test_an_allow_policy_opens_exactly_its_flow(
    cluster: tuple[ApiServer, NodeVM], servers: dict[str, str]
) -> None:
    server, _ = cluster
    allow = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-client-to-server", "namespace": CARDIO},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
        },
    }
    server.apply("admin", allow)
    seen = {
        "bubble client -> bubble server": _connects(server, CARDIO, servers[CARDIO], "c6"),
        "bubble client -> outside server": _connects(server, CARDIO, servers[OPEN], "c7"),
        "other bubble -> bubble server": _connects(server, ONCOLOGY, servers[CARDIO], "c8"),
    }
    RESULTS["allow policy"] = seen
    assert seen == {
        "bubble client -> bubble server": True,
        "bubble client -> outside server": False,  # same labels elsewhere: another namespace
        "other bubble -> bubble server": False,
    }


def test_window_before_kube_router_programs_a_new_pod(
    cluster: tuple[ApiServer, NodeVM], servers: dict[str, str]
) -> None:
    """Measured, not asserted: a new pod connecting at once (no settle delay)."""
    server, _ = cluster
    RESULTS["no settle delay: bubble -> outside"] = _connects(
        server, CARDIO, servers[OPEN], "c9", delay="0s"
    )
