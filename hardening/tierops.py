"""Custom operations of the services tier: packages fetched over the network, host certificates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents

from hardening import ops, pki
from hardening.facts import PathExists
from hardening.ops import Commands

APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "
    "-o Dpkg::Options::=--force-confold"
)


@operation()
def fetched_packages(packages: Sequence[str]) -> Commands:
    """
    Install packages from the network (services hosts: direct; others: through the proxy).

    + packages: Debian package names that must be installed

    Lists are refreshed only when a package is missing, so a host with everything installed
    changes nothing (pyinfra's ``apt.packages(update=True)`` would refresh on every run).

    **Example:**

    .. code:: python

        fetched_packages(name="node exporter", packages=["prometheus-node-exporter"])
    """
    have = host.get_fact(DebPackages)
    missing = [p for p in packages if p not in have]
    if not missing:
        host.noop(f"{', '.join(packages)} already installed")
        return
    yield StringCommand(f"{APT} update")
    yield StringCommand(
        f"{APT} install -y --no-install-recommends", *(QuoteString(p) for p in missing)
    )


@operation()
def host_key(key_path: str, csr_path: str, common_name: str) -> Commands:
    """
    Make the host's TLS key and its certificate signing request, on the host, once.

    + key_path: the private key (0600 root; it never leaves the host)
    + csr_path: the request the platform CA signs (its names are ignored: the CA takes the
      inventory's)
    + common_name: the common name put in the request

    **Example:**

    .. code:: python

        host_key(name="host TLS key", key_path="/etc/hdh/pki/host.key",
                 csr_path="/etc/hdh/pki/host.csr", common_name="hdh-data0")
    """
    has_key = host.get_fact(PathExists, path=key_path)
    has_csr = host.get_fact(PathExists, path=csr_path)
    if has_key and has_csr:
        host.noop(f"{key_path} and {csr_path} exist")
        return
    subject = QuoteString(f"/CN={common_name}")
    directory = key_path.rsplit("/", 1)[0]
    if not has_key:
        yield StringCommand("install", "-d", "-m", "0700", QuoteString(directory))
        yield StringCommand(
            "umask", "077", "&&", "openssl", "req", "-new", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            QuoteString(key_path), "-out", QuoteString(csr_path), "-subj", subject,
        )  # fmt: skip
    else:
        yield StringCommand(
            "openssl", "req", "-new", "-key", QuoteString(key_path),
            "-out", QuoteString(csr_path), "-subj", subject,
        )  # fmt: skip


@operation()
def signed_certificate(
    path: str,
    csr_path: str,
    wanted: pki.Wanted,
    ca_dir: str,
    days: int,
    renew_days: int,
    activate: str | None = None,
) -> Commands:
    """
    Install a certificate of the platform CA for the host's own key (signed where the deploy
    runs: the CA key never goes to a host).

    + path: the certificate file on the host
    + csr_path: the host's signing request (made by ``host_key``), read for its public key
    + wanted: the names (inventory name and address) and purposes the certificate must carry
    + ca_dir: the CA directory on the deploying machine (see ``hardening.pki``)
    + days / renew_days: validity of a new certificate; renewal when less is left
    + activate: command run after a new certificate is in place (a service restart)

    A certificate already there is kept when the CA signed it for the request's key, with the
    wanted names and purposes, and it is valid for more than ``renew_days``.

    **Example:**

    .. code:: python

        signed_certificate(name="host certificate", path="/etc/hdh/pki/host.pem",
                           csr_path="/etc/hdh/pki/host.csr",
                           wanted=pki.Wanted("hdh-data0", "10.20.16.5", server=False),
                           ca_dir="/home/ops/.cache/hdh-platform/pki/ovh-gra",
                           days=397, renew_days=30)
    """
    csr = host.get_fact(FileContents, path=csr_path)
    if csr is None:
        # Only when changes are predicted (--check) before the key step has run.
        yield StringCommand("echo", QuoteString(f"{csr_path} missing"), ">&2", "&&", "false")
        return
    csr_pem = "\n".join(csr) + "\n"
    ca = pki.authority(Path(ca_dir))
    cert = host.get_fact(FileContents, path=path)
    if cert is not None and ca.current("\n".join(cert) + "\n", csr_pem, wanted, renew_days) is None:
        host.noop(f"{path} is the platform CA's certificate for {wanted.name}")
        return
    yield from ops.validated_file._inner(
        path=path, content=ca.sign(csr_pem, wanted, days), mode="0644", activate=activate
    )
