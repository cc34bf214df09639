"""The platform CA: host certificates for mutual TLS (logs), signed where the deploy runs.

Each host makes its own key and certificate signing request (the key never leaves the host); the
deploy reads the request, and the platform CA, held by the operator running `hdh harden`, signs a
certificate whose names come from the inventory (never from the request). The CA key is stored
encrypted (PKCS#8, scrypt + AES-256) with the passphrase in `HDH_PKI_PASSPHRASE` (or the file
named by `HDH_PKI_PASSPHRASE_FILE`), outside the repository and outside Pulumi's state.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ground.errors import HdhError
from ground.paths import cache_dir

PASSPHRASE_ENV = "HDH_PKI_PASSPHRASE"
PASSPHRASE_FILE_ENV = "HDH_PKI_PASSPHRASE_FILE"
CA_DAYS = 3650
MIN_PASSPHRASE = 12


class PkiError(HdhError):
    """The platform CA cannot be created or unlocked (passphrase, files)."""


def default_dir(stack: str) -> Path:
    """Where `hdh harden` keeps a stack's CA unless told otherwise: `$HDH_CACHE/pki/<stack>`."""
    return cache_dir("pki", stack)


def passphrase() -> bytes:
    """The CA key's passphrase from the environment; PkiError naming the variable if missing."""
    value = os.environ.get(PASSPHRASE_ENV)
    file = os.environ.get(PASSPHRASE_FILE_ENV)
    if not value and file:
        try:
            value = Path(file).read_text().strip()
        except OSError as exc:
            raise PkiError(f"{PASSPHRASE_FILE_ENV}: {file}: {exc.strerror}") from None
    if not value:
        raise PkiError(
            f"{PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV}) is not set: the platform CA's key is "
            "kept encrypted with it (docs/services.md)"
        )
    if len(value) < MIN_PASSPHRASE:
        raise PkiError(f"{PASSPHRASE_ENV}: at least {MIN_PASSPHRASE} characters")
    return value.encode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, content: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    tmp.replace(path)


def ensure_ca(directory: Path, stack: str) -> str:
    """Create the CA once (key encrypted with the passphrase); return its certificate (PEM).
    An existing CA is only unlocked, which proves the passphrase before any host is touched."""
    key_path, cert_path = directory / "ca.key", directory / "ca.pem"
    secret = passphrase()
    if key_path.exists() and cert_path.exists():
        authority(directory)  # unlocks: a wrong passphrase fails here, not mid-run
        return cert_path.read_text()
    if key_path.exists() or cert_path.exists():
        raise PkiError(f"{directory}: ca.key and ca.pem go together; one of them is missing")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = ec.generate_private_key(ec.SECP384R1())
    name = _name(f"hdh platform CA ({stack})")
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA384())
    )
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    _write(key_path, encrypted, 0o600)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    _write(cert_path, pem, 0o644)
    return pem.decode()


@dataclass(frozen=True)
class Wanted:
    """What a host certificate must say: names from the inventory, purpose from the role."""

    name: str
    address: str
    server: bool  # serverAuth too (the collector), besides clientAuth


class Authority:
    """The unlocked CA: signs host requests and judges host certificates."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert, self._key = cert, key

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, csr_pem: str, wanted: Wanted, days: int) -> str:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise PkiError(f"{wanted.name}: its certificate request has a bad signature")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise PkiError(f"{wanted.name}: the request's key is not an EC key")
        now = datetime.datetime.now(datetime.UTC)
        purposes = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if wanted.server:
            purposes.append(ExtendedKeyUsageOID.SERVER_AUTH)
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(wanted.name))  # the inventory's name, not the request's
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
            .add_extension(_sans(wanted), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
            )
            .sign(self._key, hashes.SHA384())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def current(self, cert_pem: str, csr_pem: str, wanted: Wanted, renew_days: int) -> str | None:
        """None if `cert_pem` is this CA's certificate for the request's key, with the wanted
        names and purposes, valid beyond `renew_days`; else why it must be (re)issued."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            return "unreadable certificate or request"
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return "not signed by the platform CA"
        if cert.public_key() != csr.public_key():
            return "made for another key"
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ekus = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            return "no names or purposes"
        if sans != _sans(wanted):
            return "other names"
        want_ekus = {ExtendedKeyUsageOID.CLIENT_AUTH} | (
            {ExtendedKeyUsageOID.SERVER_AUTH} if wanted.server else set()
        )
        if ekus != want_ekus:
            return "other purposes"
        left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        if left < datetime.timedelta(days=renew_days):
            return f"expires in {left.days} days"
        return None


def _sans(wanted: Wanted) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.DNSName(wanted.name), x509.IPAddress(ipaddress.ip_address(wanted.address))]
    )


@cache
def authority(directory: Path) -> Authority:
    """The CA in `directory`, unlocked with the passphrase (once per process)."""
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        blob = (directory / "ca.key").read_bytes()
    except OSError as exc:
        raise PkiError(f"{directory}: platform CA unreadable: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(blob, passphrase())
    except (ValueError, TypeError):
        raise PkiError(
            f"{directory}/ca.key: cannot unlock the platform CA with {PASSPHRASE_ENV}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{directory}/ca.key: not an EC key")
    if key.public_key() != cert.public_key():
        raise PkiError(f"{directory}: ca.key does not belong to ca.pem")
    return Authority(cert, key)
