"""The testbed's log collector: a TLS syslog receiver beside each container, like a real log host.

Every container gets one, in the container's network namespace on the host side of its veth
(`10.248.0.1:6514`, the IANA port of syslog over TLS, RFC 5425), so the hardened host forwards its
logs exactly as on the platform: rsyslog `omfwd` over TLS (gtls driver), the collector's
certificate checked against the testbed CA and its name (`x509/name`). What arrives is appended,
one line per message, to `<state>/<host>.syslog`; nothing else is accepted (no plain TCP).

The testbed PKI (a CA and the collector's certificate for `logs.hdh.test`, with the serverAuth
extended key usage rsyslog checks) is made once with `cryptography` and kept in the cache.

    hdh testbed logsink --listen 10.248.0.1:6514 --out FILE   (started by `hdh testbed up`)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed.paths import cache_root, locked

PORT = 6514
NAME = "logs.hdh.test"  # the collector's certificate name: rsyslog's permitted peer


def _key_usage() -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "encipher_only", "decipher_only"),
        False,
    )  # fmt: skip
    return x509.KeyUsage(key_cert_sign=True, crl_sign=True, **flags)


def pki_dir() -> Path:
    return cache_root() / "pki"


def ca_path() -> Path:
    """The testbed CA certificate (PEM): what a hardened host trusts for its log host."""
    return pki_dir() / "log-ca.pem"


def ensure_pki() -> Path:
    """Make the CA and the collector's key and certificate once (idempotent); the PKI dir."""
    d = pki_dir()
    with locked(d / "lock"):
        if (d / "server.pem").exists() and ca_path().exists():
            return d
        ca_key = ec.generate_private_key(ec.SECP256R1())
        key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hdh testbed log CA")])
        ca = _certificate(
            ca_name,
            ca_key.public_key(),
            ca_name,
            ca_key,
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(), True),
        )
        cert = _certificate(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]),
            key.public_key(),
            ca_name,
            ca_key,
            (x509.SubjectAlternativeName([x509.DNSName(NAME)]), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
        )
        pem = serialization.Encoding.PEM
        key_pem = key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        d.mkdir(parents=True, exist_ok=True)
        _write(d / "server.key", key_pem, 0o600)
        _write(d / "server.pem", cert.public_bytes(pem), 0o644)
        _write(ca_path(), ca.public_bytes(pem), 0o644)  # last: marks the PKI complete
        return d


def _certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *extensions: tuple[x509.ExtensionType, bool],
) -> x509.Certificate:
    """A certificate valid from yesterday for ten years, with (extension, critical) pairs."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, content: bytes, mode: int) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    tmp.replace(path)


def argv(listen: str, out: Path) -> list[str]:
    """The collector's command line (run inside the container's network namespace)."""
    return [
        sys.executable,
        "-m",
        "hdh.cli",
        "testbed",
        "logsink",
        "--listen",
        listen,
        "--out",
        str(out),
    ]


def _serve_client(ctx: ssl.SSLContext, raw: socket.socket, out: Path, lock: threading.Lock) -> None:
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):  # a plain-text client, or one that does not trust us
        raw.close()
        return
    buf = b""
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except (OSError, ssl.SSLError):
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            if lines:
                with lock, open(out, "ab") as fh:
                    fh.write(b"".join(line + b"\n" for line in lines))


def serve(listen: str, out: Path) -> None:
    addr, _, port = listen.rpartition(":")
    d = ensure_pki()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(d / "server.pem", d / "server.key")
    lock = threading.Lock()
    out.touch()
    with socket.create_server((str(ipaddress.ip_address(addr)), int(port))) as srv:
        while True:
            raw, _ = srv.accept()
            raw.settimeout(None)
            args = (ctx, raw, out, lock)
            threading.Thread(target=_serve_client, args=args, daemon=True).start()


def run(listen: str, out: Path) -> None:
    """Serve until SIGTERM (the testbed stops the collector by its PID)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(listen, out)


if __name__ == "__main__":  # the daemon's own entry (argv above); people use `hdh testbed logsink`
    run(sys.argv[1], Path(sys.argv[2]))
