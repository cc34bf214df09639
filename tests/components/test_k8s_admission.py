"""Admission on a real API server: the baseline `pulumi up`-ed, then what must be refused is.

etcd, kube-apiserver (the bundle of scripts/install-k8s) and kube-controller-manager
(scripts/build-k8s) run on loopback with the platform's own kube-apiserver flags and files
(components/kubeadm.py: admission plugins, Pod Security defaults, audit policy); the per-bubble
baseline is applied by the real engine and Kubernetes provider; then bubble members and an
administrator try what the platform forbids.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import load_stack, stack_path
from components.k8s_addons import addons
from components.k8s_admission import INTERNAL_LB_ANNOTATION, admission_bindings
from components.k8s_admission import admission_policies as vaps
from components.k8s_bootstrap import node_files
from components.k8s_secrets import (
    ADMIN_GROUP,
    admin_credential,
    cluster_secrets,
    kubeconfig,
    wait_ready,
)
from components.kubeadm import ADMISSION_PLUGINS, CONF_DIR, api_server_args, api_server_files
from ground.paths import ROOT
from hdh.engine import ThrowawayProgram
from tests.components.k8s_apiserver import ApiServer, install, start

pytestmark = pytest.mark.k8s
STACK = "ovh-sbg"
NS, OTHER, SPARE = "bubble-demo-cardio", "bubble-demo-oncology", "bubble-demo-epidemio"
USERS = {
    "member": ("alice", ("hdh-bubble-demo-cardio",)),  # the bubble's group (RoleBinding)
    "outsider": ("mallory", ("hdh-bubble-demo-oncology",)),  # another bubble's member
    "spare": ("bob", ("hdh-bubble-demo-epidemio",)),  # the bubble whose `default` is deleted
}
OBJECTS = 5  # hdh:kubernetes.quotaObjects of the test stack: small enough to reach


# The stack's own generated CA (components/k8s_secrets.py), as kubeadm init would use it.
SECRETS = cluster_secrets("hdh-ovh-sbg")


def _cluster(
    work: Path, plugins: tuple[str, ...] = ADMISSION_PLUGINS, controllers: bool = True
) -> ApiServer:
    conf = work / "conf"
    args = api_server_args(conf_dir=str(conf), audit_dir=str(work / "audit"))
    # The one platform flag left out: KMS v2 secrets encryption needs barbican-kms-plugin and a
    # Barbican, neither of which runs here.
    args.pop("encryption-provider-config")
    args["enable-admission-plugins"] = ",".join(plugins)
    files = {
        str(conf / name): text
        for name, text in api_server_files().items()
        if name != "encryption-config.yaml"
    }
    kcm = None
    if controllers:
        kcm = install("build-k8s", "kube-controller-manager") / "kube-controller-manager"
    cfg = load_stack(STACK)
    return start(
        work,
        args,
        files,
        service_cidr=str(cfg.settings.kubernetes.service_cidr),
        users=USERS,
        controller_manager=kcm,
        ca=(SECRETS["ca_cert"], SECRETS["ca_key"]),
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = _cluster(tmp_path_factory.mktemp("apiserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def minted(cluster: ApiServer) -> str:
    """The admin kubeconfig the stack mints (AdminCredential), waited for as `pulumi up` does.

    Its group is bound to cluster-admin by kubeadm init; done here the way kubeadm does it.
    """
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:cluster-admins"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": ADMIN_GROUP}
        ],
    }
    _accepted(cluster.apply("admin", binding))
    admin = admin_credential(SECRETS["ca_cert"], SECRETS["ca_key"], 1)
    wait_ready(cluster.url, SECRETS["ca_cert"], admin["cert"], admin["key"], timeout=30)
    return kubeconfig(cluster.url, "hdh-ovh-sbg", SECRETS["ca_cert"], admin["cert"], admin["key"])


@pytest.fixture(scope="module")
def baseline(
    cluster: ApiServer, minted: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """`pulumi up` of the baseline component, with the real provider and the minted admin
    kubeconfig, onto the test cluster."""
    work = tmp_path_factory.mktemp("baseline")
    doc = yaml.safe_load(stack_path(STACK).read_text())
    doc["config"]["hdh:kubernetes"] = {"enabled": True, "quotaObjects": OBJECTS}
    stack_file = work / f"Pulumi.{STACK}.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    program = ThrowawayProgram(work, ROOT / "tests" / "components" / "programs" / "k8s_baseline")
    program.run("config", "set", "stack", STACK)
    program.run("config", "set", "stackFile", str(stack_file))
    program.run("config", "set", "--secret", "kubeconfig", stdin=minted)
    started = time.monotonic()
    up = program.run("up", "--yes", "--skip-preview")
    result = {"seconds": time.monotonic() - started, "stdout": up.stdout}
    _wait_for_quota_status(cluster, [NS, OTHER, SPARE])
    state = program.run("stack", "export").stdout
    assert "client-key-data" not in state, "the kubeconfig reached the state in clear"
    # A second run changes nothing: the provider reads back what it wrote.
    result["again"] = program.run("preview", "--expect-no-changes", check=False)
    return result


def _wait_for_quota_status(cluster: ApiServer, namespaces: list[str]) -> None:
    """Quota admission needs the quota controller's first count (status.hard) to admit pods."""
    deadline = time.monotonic() + 60
    pending = set(namespaces)
    while pending and time.monotonic() < deadline:
        for ns in sorted(pending):
            out = cluster.kubectl("admin", "get", "resourcequota", "hdh-quota", "-n", ns,
                                  "-o", "jsonpath={.status.hard.pods}")  # fmt: skip
            if out.returncode == 0 and out.stdout.strip():
                pending.discard(ns)
        time.sleep(0.5)
    assert not pending, f"quota status never computed in {pending}"


def _pod(name: str, ns: str = NS, **spec: Any) -> dict[str, Any]:
    """A pod that Pod Security `restricted` accepts; `spec` keys replace or add to it."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "analysis",
                    "image": "mirror.hdh.invalid/research/analysis:1.0",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    pod["spec"].update(spec)
    return pod


def _container(pod: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(pod)
    out["spec"]["containers"][0].update(changes)
    return out


def _refused(done: Any, *reasons: str) -> str:
    """The request was refused, with every reason in its message."""
    assert done.returncode != 0, f"accepted: {done.stdout}"
    for reason in reasons:
        assert reason in done.stderr, done.stderr
    return str(done.stderr)


def _accepted(done: Any) -> None:
    assert done.returncode == 0, done.stderr


# -- the baseline itself -----------------------------------------------------------------------


def test_baseline_is_applied_by_the_real_provider(cluster: ApiServer, baseline: dict) -> None:
    for ns in (NS, OTHER, SPARE):
        labels = json.loads(
            cluster.kubectl("admin", "get", "ns", ns, "-o", "json", check=True).stdout
        )["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        names = cluster.kubectl(
            "admin", "get", "networkpolicy,resourcequota,limitrange,rolebinding", "-n", ns,
            "-o", "name", check=True,
        ).stdout.split()  # fmt: skip
        assert len(names) == 4, names
    account = json.loads(
        cluster.kubectl("admin", "get", "sa", "default", "-n", NS, "-o", "json").stdout
    )
    assert account["automountServiceAccountToken"] is False
    for doc in (*vaps(), *admission_bindings()):
        kind = doc["kind"].lower()
        _accepted(cluster.kubectl("admin", "get", kind, doc["metadata"]["name"]))
    again = baseline["again"]
    assert again.returncode == 0, f"a second run would change: {again.stdout}{again.stderr}"


# -- Pod Security restricted -------------------------------------------------------------------


@pytest.mark.parametrize("user", ["member", "admin"])
def test_privileged_pod_is_refused_to_everyone(
    cluster: ApiServer, baseline: dict, user: str
) -> None:
    pod = _container(
        _pod(f"priv-{user}"),
        securityContext={"privileged": True, "allowPrivilegeEscalation": True},
    )
    _refused(cluster.apply(user, pod), "violates PodSecurity", "privileged")


def test_host_path_volume_is_refused(cluster: ApiServer, baseline: dict) -> None:
    pod = _pod("hostpath", volumes=[{"name": "host", "hostPath": {"path": "/etc"}}])
    _refused(
        cluster.apply("member", pod), "violates PodSecurity", 'restricted volume type "hostPath"'
    )


# -- Services ------------------------------------------------------------------------------


def _service(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"port": 443}], **spec},
    }


def test_load_balancer_must_be_internal(cluster: ApiServer, baseline: dict) -> None:
    public = _service("public-lb", "default", type="LoadBalancer")
    _refused(cluster.apply("admin", public), "hdh-internal-load-balancers", INTERNAL_LB_ANNOTATION)
    internal = copy.deepcopy(public)
    internal["metadata"].update(name="internal-lb", annotations={INTERNAL_LB_ANNOTATION: "true"})
    _accepted(cluster.apply("admin", internal))
    # In a bubble even an internal one is refused: its quota allows no load balancer.
    internal["metadata"]["namespace"] = NS
    _refused(cluster.apply("member", internal), "exceeded quota", "services.loadbalancers")


def test_service_external_ips_are_refused(cluster: ApiServer, baseline: dict) -> None:
    svc = _service("capture", "default", externalIPs=["10.30.32.10"])
    _refused(cluster.apply("admin", svc), "Use of external IPs is denied by admission control")


# -- service-account tokens ------------------------------------------------------------------


def test_projected_token_volume_is_refused(cluster: ApiServer, baseline: dict) -> None:
    volume = {
        "name": "token",
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    }
    pod = _pod("projected", automountServiceAccountToken=False, volumes=[volume])
    _refused(cluster.apply("member", pod), "hdh-bubble-no-service-account-token", "projected")


def test_token_secrets_requests_and_open_accounts_are_refused(
    cluster: ApiServer, baseline: dict
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": "long-lived",
            "namespace": NS,
            "annotations": {"kubernetes.io/service-account.name": "default"},
        },
    }
    _refused(cluster.apply("member", secret), "no service-account token Secret in a bubble")
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "bot", "namespace": NS},
    }
    _refused(cluster.apply("member", account), "automountServiceAccountToken: false")
    # The TokenRequest API is not granted to members at all.
    _refused(cluster.kubectl("member", "create", "token", "default", "-n", NS), "forbidden")


def test_recreated_default_account_gives_no_token(cluster: ApiServer, baseline: dict) -> None:
    """Deleting `default` makes its controller recreate it bare: pods still get no token."""
    _accepted(cluster.kubectl("spare", "delete", "sa", "default", "-n", SPARE))
    deadline = time.monotonic() + 30
    account: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = cluster.kubectl("admin", "get", "sa", "default", "-n", SPARE, "-o", "json")
        if got.returncode == 0:
            account = json.loads(got.stdout)
            break
        time.sleep(0.3)
    assert account, "the service-account controller did not recreate default"
    assert "automountServiceAccountToken" not in account  # bare: the token would be mounted
    _refused(cluster.apply("spare", _pod("after-recreate", SPARE)), "hold no service-account")
    no_token = _pod("explicit-no-token", SPARE, automountServiceAccountToken=False)
    _accepted(cluster.apply("spare", no_token))


# -- quotas ------------------------------------------------------------------------------------


def test_pod_over_quota_is_refused(cluster: ApiServer, baseline: dict) -> None:
    big = _container(
        _pod("big-cpu"), resources={"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}
    )
    _refused(cluster.apply("member", big), "exceeded quota", "requests.cpu")
    disk = {"requests": {"ephemeral-storage": "500Gi"}, "limits": {"ephemeral-storage": "500Gi"}}
    _refused(cluster.apply("member", _container(_pod("big-disk"), resources=disk)),
             "exceeded quota", "ephemeral-storage")  # fmt: skip


def test_object_counts_are_capped(cluster: ApiServer, baseline: dict) -> None:
    refused = None
    for i in range(OBJECTS + 2):
        done = cluster.apply(
            "member",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}", "namespace": NS},
            },
        )
        if done.returncode != 0:
            refused = (i, done.stderr)
            break
    assert refused is not None, "no configmap count limit"
    assert "exceeded quota" in refused[1] and "count/configmaps" in refused[1], refused
    assert refused[0] <= OBJECTS


# -- what is accepted ---------------------------------------------------------------------------


def test_compliant_workload_is_accepted_and_always_pulls(
    cluster: ApiServer, baseline: dict
) -> None:
    _accepted(cluster.apply("member", _pod("compliant")))
    pod = json.loads(
        cluster.kubectl("member", "get", "pod", "compliant", "-n", NS, "-o", "json").stdout
    )
    container = pod["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "Always"  # AlwaysPullImages overrode IfNotPresent
    assert container["resources"]["limits"]["ephemeral-storage"]  # the LimitRange's default
    assert not [v for v in pod["spec"].get("volumes", []) if "projected" in v], "a token volume"


def test_deployment_pods_are_created_through_admission(cluster: ApiServer, baseline: dict) -> None:
    template = _pod("unused")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "analysis", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "analysis"}},
            "template": {"metadata": {"labels": {"app": "analysis"}}, "spec": template["spec"]},
        },
    }
    _accepted(cluster.apply("member", deployment))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pods = cluster.kubectl(
            "member", "get", "pods", "-n", NS, "-l", "app=analysis", "-o", "name"
        )
        if pods.stdout.strip():
            return
        time.sleep(0.5)
    pytest.fail("the ReplicaSet controller created no pod (refused by admission?)")


# -- RBAC: the fences are not the members' to move ---------------------------------------------


def test_members_cannot_widen_fences_or_enter_other_bubbles(
    cluster: ApiServer, baseline: dict
) -> None:
    _refused(
        cluster.kubectl("member", "delete", "networkpolicy", "hdh-default-deny", "-n", NS),
        "forbidden",
    )
    _refused(
        cluster.kubectl("member", "delete", "resourcequota", "hdh-quota", "-n", NS), "forbidden"
    )
    _refused(cluster.kubectl("member", "label", "ns", NS, "hdh/bubble-"), "forbidden")
    _refused(cluster.apply("outsider", _pod("intruder")), "forbidden")
    _refused(cluster.kubectl("member", "exec", "compliant", "-n", NS, "--", "true"), "forbidden")


# -- Magnum clusters: no DenyServiceExternalIPs plugin, the baseline's policy instead ----------


@pytest.fixture(scope="module")
def magnum_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API server as Magnum runs it: without the DenyServiceExternalIPs plugin."""
    plugins = tuple(p for p in ADMISSION_PLUGINS if p != "DenyServiceExternalIPs")
    server = _cluster(tmp_path_factory.mktemp("magnum"), plugins, controllers=False)
    try:
        yield server
    finally:
        server.stop()


def _until_refused(server: ApiServer, doc: dict[str, Any]) -> str:
    """Policies take effect once the API server has loaded them (a second or so)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = server.kubectl(
            "admin", "create", "--dry-run=server", "-f", "-", stdin=json.dumps(doc)
        )
        if done.returncode != 0:
            return str(done.stderr)
        time.sleep(0.5)
    pytest.fail(f"never refused: {doc['metadata']['name']}")


def test_magnum_clusters_refuse_external_ips_by_policy(magnum_like: ApiServer) -> None:
    from hdh.commands.k8s import manifests
    from hdh.plan import plan_stack

    svc = _service("capture", "default", externalIPs=["10.40.0.10"])
    dry = ("--dry-run=server",)
    _accepted(magnum_like.apply("admin", svc, *dry))  # no plugin: only the policy can refuse
    docs = [d for d in manifests(plan_stack("scs-de")) if "Admission" in d["kind"]]
    assert {d["metadata"]["name"] for d in docs} == {p["metadata"]["name"] for p in vaps()}
    for doc in docs:
        _accepted(magnum_like.apply("admin", doc))
    assert "Services may not set externalIPs" in _until_refused(magnum_like, svc)


def test_only_the_controller_creates_a_bare_default_account(magnum_like: ApiServer) -> None:
    for doc in (*vaps(), *admission_bindings()):
        magnum_like.apply("admin", doc)  # already there after the test above: AlreadyExists
    ns = {"apiVersion": "v1", "kind": "Namespace"}
    ns["metadata"] = {"name": "bubble-fresh", "labels": {"hdh/bubble": "fresh"}}  # type: ignore[assignment]
    _accepted(magnum_like.apply("admin", ns))
    bare = {"apiVersion": "v1", "kind": "ServiceAccount"}
    bare["metadata"] = {"name": "default", "namespace": "bubble-fresh"}  # type: ignore[assignment]
    assert "automountServiceAccountToken: false" in _until_refused(magnum_like, bare)


# -- the bootstrap's files, checked by the real tools ---------------------------------------


def test_kubeadm_accepts_every_generated_configuration(tmp_path: Path) -> None:
    from tests.components.test_k8s_bootstrap import make_join

    kubeadm = install("install-k8s") / "kubeadm"
    join = make_join()
    for role, name in (("init", "kubeadm.yaml"), ("control", "join.yaml"), ("worker", "join.yaml")):
        (f,) = [f for f in node_files(join, role) if f["path"] == f"{CONF_DIR}/{name}"]  # type: ignore[arg-type]
        path = tmp_path / f"{role}.yaml"
        path.write_text(f["content"])
        done = subprocess.run([str(kubeadm), "config", "validate", "--config", str(path)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, f"{role}: {done.stdout}{done.stderr}"


def test_addons_pass_the_api_server(cluster: ApiServer, baseline: dict) -> None:
    """kube-router, the cloud controller and the CSR approver as the first control plane
    applies them: schema, RBAC and admission (kube-system is the exempt namespace)."""
    from tests.components.test_k8s_bootstrap import make_join

    bundle = "\n---\n".join(json.dumps(o) for o in addons(make_join().addon))
    done = cluster.kubectl(
        "admin", "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=bundle
    )
    assert done.returncode == 0, done.stderr
    assert "daemonset.apps/kube-router serverside-applied (server dry run)" in done.stdout
