"""kubeadm self-bootstrap: each role's files, secrets only where needed, the script, the add-ons.

The secrets are the real ones the stack's dynamic resources generate (their create() is called
here), so the CA hash a joining node pins is checked against the CA the first node gets.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from components.config import load_stack
from components.k8s_addons import AddonSpec, addons
from components.k8s_bootstrap import (
    BOOTSTRAP_SCRIPT,
    SCRIPT,
    ClusterJoin,
    no_proxy,
    node_files,
    node_user_data,
)
from components.k8s_facts import psa_exempt_namespaces
from components.k8s_kubeadm import node_name_pattern
from components.k8s_secrets import (
    admin_credential,
    ca_cert_hash,
    cluster_secrets,
    kubeconfig,
)
from components.kubeadm import (
    CLOUD_CONF,
    CONF_DIR,
    ControlPlaneSpec,
    api_server_args,
    cloud_conf,
)
from hdh.commands.k8s import validate

STACK = "ovh-sbg"
KMS_KEY = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
CREDENTIAL_SECRET = "app-credential-secret-for-the-test"


def make_join(
    registry: str | None = None, proxy: str | None = "http://10.30.1.5:3128"
) -> ClusterJoin:
    """A ClusterJoin from the stack's settings and secrets generated the way `pulumi up` does."""
    cfg = load_stack(STACK)
    k = cfg.settings.kubernetes
    secrets = cluster_secrets("hdh-ovh-sbg")
    vip = str(cfg.settings.tiers.processing[-2])
    return ClusterJoin(
        control=ControlPlaneSpec(
            cluster_name="hdh-ovh-sbg",
            version=k.version,
            endpoint=vip,
            pod_cidr=k.pod_cidr,
            service_cidr=k.service_cidr,
            image_repository=f"{registry}/registry.k8s.io" if registry else None,
        ),
        addon=AddonSpec(
            cluster_name="hdh-ovh-sbg",
            node_name_pattern=node_name_pattern("hdh-k8s"),
            node_cidr=cfg.settings.tiers.processing,
            registry=registry,
        ),
        token=secrets["token"],
        certificate_key=secrets["certificate_key"],
        ca_cert=secrets["ca_cert"],
        ca_key=secrets["ca_key"],
        ca_cert_hash=secrets["ca_cert_hash"],
        cloud_conf=cloud_conf(
            auth_url="https://auth.cloud.ovh.net/v3",
            region=cfg.region,
            credential_id="cred-id",
            credential_secret=CREDENTIAL_SECRET,
            subnet_id="subnet-id",
            kms_key_id=KMS_KEY,
        ),
        proxy=proxy,
        no_proxy=no_proxy(vip, cfg.settings.tiers.processing, k.pod_cidr, k.service_cidr),
        apt_url="https://pkgs.k8s.io/core:/stable:/v1.36/deb/",
    )


@pytest.fixture(scope="module")
def join() -> ClusterJoin:
    return make_join()


def files(j: ClusterJoin, role: Any) -> dict[str, dict[str, str]]:
    return {f["path"]: f for f in node_files(j, role)}


def docs(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(text))


def test_secrets_are_well_formed_and_the_hash_pins_the_ca(join: ClusterJoin) -> None:
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", join.token)
    assert re.fullmatch(r"[0-9a-f]{64}", join.certificate_key)
    assert join.ca_cert_hash == ca_cert_hash(join.ca_cert)
    assert "PRIVATE KEY" in join.ca_key
    again = make_join()
    assert again.token != join.token and again.ca_cert_hash != join.ca_cert_hash


def test_each_role_gets_only_the_secrets_it_needs(join: ClusterJoin) -> None:
    init, control, worker = (files(join, r) for r in ("init", "control", "worker"))
    assert "/etc/kubernetes/pki/ca.key" in init
    assert (
        "/etc/kubernetes/pki/ca.key" not in control and "/etc/kubernetes/pki/ca.key" not in worker
    )
    assert CLOUD_CONF in init and CLOUD_CONF in control and CLOUD_CONF not in worker
    worker_text = json.dumps(worker)
    for secret in (join.certificate_key, CREDENTIAL_SECRET, join.ca_key.splitlines()[1]):
        assert secret not in worker_text
    assert join.certificate_key in json.dumps(control)
    for role in (init, control, worker):
        for path, f in role.items():
            mode = int(f["permissions"], 8)
            if path == SCRIPT:
                assert mode == 0o700
            elif mode & 0o077:
                # Only public files are readable by others: the unit and the CA certificate.
                assert path.endswith((".service", "ca.crt")), path
                assert join.token not in f["content"] and "PRIVATE KEY" not in f["content"]


def test_init_configuration(join: ClusterJoin) -> None:
    init_doc, cluster, kubelet = docs(files(join, "init")[f"{CONF_DIR}/kubeadm.yaml"]["content"])
    assert init_doc["kind"] == "InitConfiguration"
    (token,) = init_doc["bootstrapTokens"]
    assert token["token"] == join.token and token["ttl"] == "24h0m0s"
    assert init_doc["certificateKey"] == join.certificate_key
    assert cluster["kind"] == "ClusterConfiguration"
    assert cluster["kubernetesVersion"] == "v1.36.3"
    assert cluster["controlPlaneEndpoint"] == f"{join.control.endpoint}:6443"
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args == api_server_args()
    assert "DenyServiceExternalIPs" in args["enable-admission-plugins"]
    assert "AlwaysPullImages" in args["enable-admission-plugins"]
    init = files(join, "init")
    for flag in (
        "encryption-provider-config",
        "audit-policy-file",
        "admission-control-config-file",
    ):
        assert args[flag] in init, flag
    (enc,) = docs(init[args["encryption-provider-config"]]["content"])
    assert enc["resources"][0]["providers"][0]["kms"]["apiVersion"] == "v2"
    (admission,) = docs(init[args["admission-control-config-file"]]["content"])
    exemptions = admission["plugins"][0]["configuration"]["exemptions"]["namespaces"]
    assert exemptions == psa_exempt_namespaces() == ["kube-system"]
    assert kubelet["serverTLSBootstrap"] is True and kubelet["readOnlyPort"] == 0
    assert f'key-id = "{KMS_KEY}"' in init[CLOUD_CONF]["content"]


@pytest.mark.parametrize("role", ["control", "worker"])
def test_join_configuration_pins_the_ca(join: ClusterJoin, role: str) -> None:
    (doc,) = docs(files(join, role)[f"{CONF_DIR}/join.yaml"]["content"])
    discovery = doc["discovery"]["bootstrapToken"]
    assert discovery["caCertHashes"] == [join.ca_cert_hash]
    assert "unsafeSkipCAVerification" not in discovery
    assert discovery["apiServerEndpoint"] == f"{join.control.endpoint}:6443"
    assert ("controlPlane" in doc) == (role == "control")


def test_user_data_runs_the_bootstrap_once(join: ClusterJoin) -> None:
    text = node_user_data("deploy", "ssh-ed25519 AAAA test", "hdh-k8s-worker0", join, "worker")
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["runcmd"] == [[SCRIPT]]
    assert doc["hostname"] == "hdh-k8s-worker0"
    assert doc["ssh_pwauth"] is False


def test_bootstrap_script_is_valid_bash_and_goes_through_the_services_tier(
    join: ClusterJoin,
) -> None:
    done = subprocess.run(["bash", "-n"], input=BOOTSTRAP_SCRIPT, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr
    env = files(join, "worker")[f"{CONF_DIR}/bootstrap.env"]["content"]
    assert "PROXY=http://10.30.1.5:3128" in env
    assert "ROLE=worker" in env and "VERSION=1.36.3" in env
    # Every download is through the proxy (apt, curl, containerd's pulls) or the mirror.
    assert 'Acquire::http::Proxy "%s"' in BOOTSTRAP_SCRIPT
    assert "containerd.service.d/http-proxy.conf" in BOOTSTRAP_SCRIPT
    assert "shred -u" in BOOTSTRAP_SCRIPT  # join secrets leave the disk when done
    mirrored = make_join(registry="mirror.hdh.internal", proxy=None)
    env = files(mirrored, "control")[f"{CONF_DIR}/bootstrap.env"]["content"]
    assert "KMS_IMAGE=mirror.hdh.internal/registry.k8s.io/provider-os/barbican-kms-plugin" in env
    assert "SANDBOX_IMAGE=mirror.hdh.internal/registry.k8s.io/pause:" in env
    init_docs = docs(files(mirrored, "init")[f"{CONF_DIR}/kubeadm.yaml"]["content"])
    assert init_docs[1]["imageRepository"] == "mirror.hdh.internal/registry.k8s.io"
    images = re.findall(r'"image": "([^"]+)"', json.dumps(addons(mirrored.addon)))
    assert images and all(i.startswith("mirror.hdh.internal/") for i in images)


def test_environment_values_are_quoted(join: ClusterJoin) -> None:
    hostile = make_join(proxy="http://10.30.1.5:3128/$(reboot)")
    env = files(hostile, "worker")[f"{CONF_DIR}/bootstrap.env"]["content"]
    assert "PROXY='http://10.30.1.5:3128/$(reboot)'" in env


def test_addons_only_in_kube_system_and_schema_valid(join: ClusterJoin) -> None:
    objects = addons(join.addon)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("DaemonSet", "kube-router") in kinds
    assert ("DaemonSet", "openstack-cloud-controller-manager") in kinds
    assert ("Deployment", "kubelet-csr-approver") in kinds
    for o in objects:
        namespace = o["metadata"].get("namespace")
        assert namespace in (None, *psa_exempt_namespaces()), o["metadata"]
    assert validate(objects, join.control.version) == []


def test_csr_approver_accepts_only_this_clusters_nodes(join: ClusterJoin) -> None:
    (deployment,) = [o for o in addons(join.addon) if o["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    pattern = re.compile(env["PROVIDER_REGEX"])
    assert pattern.match("hdh-k8s-control0") and pattern.match("hdh-k8s-worker12")
    assert not pattern.match("hdh-bastion") and not pattern.match("evil.hdh-k8s-worker0")
    assert env["PROVIDER_IP_PREFIXES"] == str(load_stack(STACK).settings.tiers.processing)
    assert env["ALLOWED_DNS_NAMES"] == "1"


def test_admin_kubeconfig_is_signed_by_the_cluster_ca() -> None:
    from cryptography import x509

    secrets = cluster_secrets("c")
    admin = admin_credential(secrets["ca_cert"], secrets["ca_key"], 365)
    cert = x509.load_pem_x509_certificate(admin["cert"].encode())
    ca = x509.load_pem_x509_certificate(secrets["ca_cert"].encode())
    cert.verify_directly_issued_by(ca)
    names = {a.oid._name: a.value for a in cert.subject}
    assert names == {"organizationName": "kubeadm:cluster-admins", "commonName": "hdh-pulumi"}
    doc = json.loads(
        kubeconfig("https://10.0.0.1:6443", "c", secrets["ca_cert"], admin["cert"], admin["key"])
    )
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    assert doc["users"][0]["user"]["client-key-data"]
