"""A kubeadm cluster's bootstrap secrets, its admin credential, and the wait for its API.

The program, not an operator, makes what `kubeadm init/join` needs so that nodes join by
themselves: the cluster CA (nodes pin its hash: discovery with CA pinning), a bootstrap token,
the key that encrypts the control-plane certificates kubeadm uploads for joining control planes,
and an admin client certificate for the baseline's Kubernetes provider. They are generated once,
by dynamic resources (the engine's Python provider process), kept in the state as secrets
(encrypted by the stack's secrets provider) and reach a node only through its user data.

Trade-off, documented in docs/kubernetes.md: user data is readable through the metadata
service from the node itself (pods are cut off from it by the nodes' firewall) and by the cloud
operator; the token expires after BOOTSTRAP_TTL and the certificate key after kubeadm's two
hours, so what remains readable there is the CA key on the first control plane, which that host
holds on disk anyway.

The providers are stored in the state by reference to this module: keep their class names.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import ssl
import string
import time
import urllib.request
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

BOOTSTRAP_TTL = "24h0m0s"  # the token's life: nodes join within minutes of `pulumi up`
CA_DAYS = 3650
ADMIN_DAYS = 365
ADMIN_USER = "hdh-pulumi"
# kubeadm binds this group to cluster-admin (ClusterRoleBinding kubeadm:cluster-admins): a
# revocable binding, unlike system:masters.
ADMIN_GROUP = "kubeadm:cluster-admins"
TOKEN_CHARS = string.ascii_lowercase + string.digits


def _pem_key(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _certificate(subject: Any, issuer: Any, public: Any, signer: Any, days: int, ca: bool) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def ca_cert_hash(ca_pem: str) -> str:
    """kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's SubjectPublicKeyInfo."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(ca_pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def new_token() -> str:
    """A kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}."""
    pick = secrets.choice
    return (
        "".join(pick(TOKEN_CHARS) for _ in range(6))
        + "."
        + "".join(pick(TOKEN_CHARS) for _ in range(16))
    )


def cluster_secrets(cluster: str) -> dict[str, str]:
    """A new CA (ECDSA P-256, CA_DAYS), its pin, a bootstrap token and a certificate key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cluster)])
    ca = _certificate(name, name, key.public_key(), key, CA_DAYS, ca=True)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    return {
        "ca_cert": ca_pem,
        "ca_cert_hash": ca_cert_hash(ca_pem),
        "ca_key": _pem_key(key),
        "token": new_token(),
        "certificate_key": secrets.token_hex(32),
    }


class _ClusterSecretsProvider(ResourceProvider):
    """Generates the CA, token and certificate key once; never changes them in place."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {**props, **cluster_secrets(props["cluster"])}
        return CreateResult(id_=outs["ca_cert_hash"].removeprefix("sha256:")[:32], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("cluster") != news.get("cluster")
        return DiffResult(changes=changed, replaces=["cluster"] if changed else [])


class ClusterSecrets(Resource, module="k8s", name="ClusterSecrets"):
    """CA (ca_cert, ca_cert_hash public; ca_key secret), bootstrap token, certificate key."""

    ca_cert: pulumi.Output[str]
    ca_cert_hash: pulumi.Output[str]
    ca_key: pulumi.Output[str]
    token: pulumi.Output[str]
    certificate_key: pulumi.Output[str]

    def __init__(self, name: str, cluster: str, opts: pulumi.ResourceOptions | None = None):
        props = {
            "cluster": cluster,
            **dict.fromkeys(("ca_cert", "ca_cert_hash", "ca_key", "token", "certificate_key")),
        }
        secret = pulumi.ResourceOptions(
            additional_secret_outputs=["ca_key", "token", "certificate_key"]
        )
        super().__init__(
            _ClusterSecretsProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret)
        )


def admin_credential(ca_cert: str, ca_key: str, days: int) -> dict[str, str]:
    """A client certificate (CN ADMIN_USER, O ADMIN_GROUP) signed by the cluster CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca = x509.load_pem_x509_certificate(ca_cert.encode())
    signer = serialization.load_pem_private_key(ca_key.encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
        ]
    )
    cert = _certificate(subject, ca.subject, key.public_key(), signer, days, ca=False)
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(), "key": _pem_key(key)}


class _AdminCredentialProvider(ResourceProvider):
    """A client certificate signed by the cluster CA, for the program's Kubernetes provider."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {**props, **admin_credential(props["ca_cert"], props["ca_key"], int(props["days"]))}
        return CreateResult(id_=hashlib.sha256(outs["cert"].encode()).hexdigest()[:32], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("ca_cert", "days") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed)


class AdminCredential(Resource, module="k8s", name="AdminCredential"):
    """cert (public) and key (secret); replace it (`pulumi up --replace URN`) to rotate."""

    cert: pulumi.Output[str]
    key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ca_cert: pulumi.Input[str],
        ca_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "ca_cert": ca_cert,
            "ca_key": ca_key,
            "days": ADMIN_DAYS,
            "cert": None,
            "key": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["ca_key", "key"])
        super().__init__(
            _AdminCredentialProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret)
        )


class _ClusterReadyProvider(ResourceProvider):
    """Waits until the API answers /readyz with the admin credential (nodes bootstrap alone)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        wait_ready(props["server"], props["ca_cert"], props["cert"], props["key"], props["timeout"])
        return CreateResult(id_=props["server"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Readiness is checked once, when the cluster is made; a new server is a new cluster.
        changed = olds.get("server") != news.get("server")
        return DiffResult(changes=changed, replaces=["server"] if changed else [])


def wait_ready(server: str, ca_cert: str, cert: str, key: str, timeout: float) -> None:
    """Poll <server>/readyz until 200; raise with what was last seen after `timeout` seconds."""
    import os
    import tempfile

    ctx = ssl.create_default_context(cadata=ca_cert)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        with open(cert_file, "w") as f:
            f.write(cert)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(key)
        ctx.load_cert_chain(cert_file, key_file)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(f"{server}/readyz", context=ctx, timeout=10) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Kubernetes API {server} is not ready after {timeout:.0f} s ({last}): "
                "the control planes bootstrap themselves (journalctl -u cloud-final, "
                "/var/log/hdh-k8s-bootstrap.log on the first one); Pulumi must run where the "
                "processing network is reachable (the bastion's tier), as for any private API"
            )
        time.sleep(10)


class ClusterReady(Resource, module="k8s", name="ClusterReady"):
    """Created once the API at `server` is ready: the baseline depends on it."""

    def __init__(
        self,
        name: str,
        server: str,
        ca_cert: pulumi.Input[str],
        cert: pulumi.Input[str],
        key: pulumi.Input[str],
        timeout: float,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {"server": server, "ca_cert": ca_cert, "cert": cert, "key": key, "timeout": timeout}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["key"])
        super().__init__(
            _ClusterReadyProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret)
        )


def kubeconfig(server: str, cluster: str, ca_cert: str, cert: str, key: str) -> str:
    """A kubeconfig with everything embedded (the provider's and the `kubeconfig` output's)."""
    import base64
    import json

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)},
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": ADMIN_USER}}],
            "current-context": cluster,
        }
    )
