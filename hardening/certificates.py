"""Host certificates of the platform CA: every host's identity for mutual TLS (R71 log forwarding).

The key and its signing request are made on the host; the certificate is signed by the platform
CA where the deploy runs (hardening/pki.py) with the inventory's name and address, for clientAuth
(and serverAuth on the services hosts, which run the collector).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, deploy

from hardening import ops, pki, tier, tierops
from hardening.common import role_name

DIR = "/etc/hdh/pki"
KEY = f"{DIR}/host.key"
CSR = f"{DIR}/host.csr"
CERT = f"{DIR}/host.pem"
CA_FILE = "/etc/ssl/hdh-platform-ca.pem"


def wired() -> bool:
    """Whether this host is wired to a services tier (the inventory has one)."""
    return bool(host.data.get("services_hosts"))


@deploy("Host certificate (mutual TLS, R71)")
def host_certificate() -> None:
    if not wired():
        return
    ca_dir, ca_pem = host.data.get("pki_dir"), host.data.get("platform_ca_pem")
    if not ca_dir or not ca_pem:
        raise OperationError("host data pki_dir/platform_ca_pem missing (hdh harden sets them)")
    conf = tier.settings()["pki"]
    ops.validated_file(name="R71 platform CA certificate", path=CA_FILE, content=str(ca_pem))
    tierops.host_key(name="R71 host TLS key, made on the host", key_path=KEY, csr_path=CSR,
                     common_name=host.name)  # fmt: skip
    tierops.signed_certificate(
        name="R71 host certificate of the platform CA",
        path=CERT,
        csr_path=CSR,
        wanted=pki.Wanted(
            host.name, str(host.data.get("host_address")), role_name() == tier.SERVICES_ROLE
        ),
        ca_dir=str(ca_dir),
        days=int(conf["certificate_days"]),
        renew_days=int(conf["renew_days"]),
        # A renewed certificate is read by rsyslog at start only.
        activate="systemctl try-restart rsyslog.service",
    )
