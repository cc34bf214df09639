"""A real etcd + kube-apiserver (+ kube-controller-manager) on loopback, with the platform's flags.

Binaries come from scripts/install-k8s (the bundle) and scripts/build-k8s (the controller
manager); certificates and keys are made here, in the scratch directory, at start. Processes are
started in their own session and stopped by PID.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ground.paths import ROOT

READY_TIMEOUT = 90.0  # seconds for /readyz (about 4 s on this machine kind)
# Controllers the admission tests need: accounts and their tokens, quota status, namespaces,
# the kube-root-ca.crt each pod's token volume names, CSR signing.
CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "resourcequota-controller",
    "namespace-controller",
    "root-ca-certificate-publisher-controller",
    "certificatesigningrequest-signing-controller",
    "garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
)


def install(script: str, *args: str) -> Path:
    """Run a project install script (cached after its first run); its last line is a bin dir."""
    done = subprocess.run(
        [str(ROOT / "scripts" / script), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/{script} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Pki:
    """The cluster CA (given, or a throwaway one) and the certificates the tests need."""

    dir: Path
    ca_pem: tuple[str, str] | None = None  # (certificate, key): the stack's generated CA
    ca_key: Any = field(init=False)
    ca: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.ca_pem is not None:
            self.ca = x509.load_pem_x509_certificate(self.ca_pem[0].encode())
            self.ca_key = serialization.load_pem_private_key(self.ca_pem[1].encode(), None)
        else:
            self.ca_key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hdh-test-ca")])
            self.ca = (
                self._builder(name, self.ca_key.public_key(), issuer=name)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.ca_key, hashes.SHA256())
            )
        self.write("ca.crt", self.ca.public_bytes(serialization.Encoding.PEM))
        self.write("ca.key", _pem_key(self.ca_key))

    @staticmethod
    def _builder(subject: x509.Name, public: Any, issuer: x509.Name) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def issue(
        self,
        name: str,
        cn: str,
        groups: tuple[str, ...] = (),
        server: bool = False,
        ips: tuple[str, ...] = (),
    ) -> None:
        """<name>.crt and <name>.key: a client certificate (CN = user, O = groups) or a server's."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        usage = x509.ExtendedKeyUsageOID.SERVER_AUTH if server else None
        builder = self._builder(subject, key.public_key(), self.ca.subject).add_extension(
            x509.ExtendedKeyUsage([usage or x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        *(x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", *ips)),
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes.default.svc"),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.ca_key, hashes.SHA256())
        self.write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
        self.write(f"{name}.key", _pem_key(key))

    def service_account_keys(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.write("sa.key", _pem_key(key))
        self.write(
            "sa.pub",
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )


@dataclass
class ApiServer:
    """A running control plane on loopback; `users` maps a name to its kubeconfig file."""

    dir: Path
    url: str
    bin_dir: Path
    users: dict[str, Path] = field(default_factory=dict)
    pki: Pki | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kubectl(
        self, user: str, *args: str, stdin: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.users[user]), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done

    def apply(self, user: str, doc: Mapping[str, Any], *extra: str) -> subprocess.CompletedProcess:
        """`kubectl create -f -` of one object as `user` (create, not apply: no merge)."""
        return self.kubectl(user, "create", "-f", "-", *extra, stdin=json.dumps(doc))

    def kubeconfig(self, user: str, server: str | None = None) -> str:
        """`user`'s kubeconfig with its certificates embedded, for `server` (default: ours)."""
        import base64

        doc = json.loads(self.users[user].read_text())
        cluster, creds = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        for section, key in ((cluster, "certificate-authority"), (creds, "client-certificate"),
                             (creds, "client-key")):  # fmt: skip
            section[f"{key}-data"] = base64.b64encode(Path(section.pop(key)).read_bytes()).decode()
        cluster["server"] = server or self.url
        return json.dumps(doc)

    def stop(self) -> None:
        """Stop what start() started, by PID, last started first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs.clear()


def _kubeconfig(path: Path, url: str, pki: Pki, user: str) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hdh-test",
                "cluster": {"server": url, "certificate-authority": str(pki.dir / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki.dir / f"{user}.crt"),
                    "client-key": str(pki.dir / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": "hdh-test", "context": {"cluster": "hdh-test", "user": user}}],
        "current-context": "hdh-test",
    }
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    return path


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def _wait_ready(url: str, pki: Pki, log: Path, proc: subprocess.Popen[bytes]) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.dir / "ca.crt"))
    ctx.load_cert_chain(str(pki.dir / "admin.crt"), str(pki.dir / "admin.key"))
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kube-apiserver exited:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise RuntimeError(f"kube-apiserver not ready after {READY_TIMEOUT} s ({last}):\n"
                       f"{log.read_text()[-4000:]}")  # fmt: skip


def start(
    workdir: Path,
    platform_args: Mapping[str, str],
    files: Mapping[str, str],
    *,
    service_cidr: str,
    users: Mapping[str, tuple[str, tuple[str, ...]]],
    controller_manager: Path | None = None,
    ca: tuple[str, str] | None = None,
    server_ips: tuple[str, ...] = (),
    controller_args: tuple[str, ...] = (),
) -> ApiServer:
    """etcd, then kube-apiserver with `platform_args` (files named there written first).

    `users`: kubeconfig name -> (user name, groups), each with a client certificate.
    """
    bins = install("install-k8s")
    pki = Pki(workdir / "pki", ca)
    pki.issue("apiserver", "kube-apiserver", server=True, ips=server_ips)
    pki.service_account_keys()
    for name, (cn, groups) in {"admin": ("hdh-admin", ("system:masters",)), **users}.items():
        pki.issue(name, cn, groups)
    for path, text in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    client, peer, secure = free_port(), free_port(), free_port()
    server = ApiServer(dir=workdir, url=f"https://127.0.0.1:{secure}", bin_dir=bins, pki=pki)
    try:
        server.procs.append(
            _spawn(
                [
                    str(bins / "etcd"),
                    "--name=hdh-test",
                    f"--data-dir={workdir / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{client}",
                    f"--advertise-client-urls=http://127.0.0.1:{client}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                    f"--initial-cluster=hdh-test=http://127.0.0.1:{peer}",
                    "--log-level=error",
                    "--unsafe-no-fsync",  # a throwaway store: speed over durability
                ],
                workdir / "etcd.log",
            )
        )
        p = pki.dir
        flags = {
            # What kubeadm sets for a control plane (its defaults), on loopback ...
            "etcd-servers": f"http://127.0.0.1:{client}",
            "bind-address": "127.0.0.1",
            "advertise-address": "127.0.0.1",
            "secure-port": str(secure),
            "tls-cert-file": str(p / "apiserver.crt"),
            "tls-private-key-file": str(p / "apiserver.key"),
            "client-ca-file": str(p / "ca.crt"),
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-account-key-file": str(p / "sa.pub"),
            "service-account-signing-key-file": str(p / "sa.key"),
            "service-cluster-ip-range": service_cidr,
            "authorization-mode": "Node,RBAC",
            "allow-privileged": "true",
            "enable-bootstrap-token-auth": "true",
            # ... and the platform's own flags, as ClusterConfiguration.apiServer.extraArgs.
            **platform_args,
        }
        log = workdir / "kube-apiserver.log"
        proc = _spawn(
            [str(bins / "kube-apiserver"), *(f"--{k}={v}" for k, v in flags.items())], log
        )
        server.procs.append(proc)
        server.users = {
            name: _kubeconfig(workdir / f"{name}.kubeconfig", server.url, pki, name)
            for name in ("admin", *users)
        }
        _wait_ready(server.url, pki, log, proc)
        if controller_manager is not None:
            server.procs.append(
                _spawn(
                    [
                        str(controller_manager),
                        f"--kubeconfig={server.users['admin']}",
                        f"--controllers={','.join(CONTROLLERS)}",
                        f"--service-account-private-key-file={p / 'sa.key'}",
                        f"--root-ca-file={p / 'ca.crt'}",
                        "--use-service-account-credentials=true",
                        f"--cluster-signing-cert-file={p / 'ca.crt'}",
                        f"--cluster-signing-key-file={p / 'ca.key'}",
                        "--leader-elect=false",
                        "--bind-address=127.0.0.1",
                        f"--secure-port={free_port()}",
                        f"--cert-dir={workdir / 'kcm-certs'}",
                        *controller_args,
                    ],
                    workdir / "kube-controller-manager.log",
                )
            )
    except BaseException:
        server.stop()
        raise
    return server
