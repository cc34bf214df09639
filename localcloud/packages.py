"""The Debian packages of the local cloud, installed idempotently (waits for the dpkg lock)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from localcloud.paths import LocalCloudError

log = logging.getLogger(__name__)

# Service packages bring their rootwrap and paste files; nova-compute is left out on purpose (it
# pulls libvirt and QEMU): the fake driver runs from python3-nova.
PACKAGES = (
    *("mariadb-server", "python3-pymysql", "rabbitmq-server", "uwsgi", "uwsgi-plugin-python3"),
    *("keystone", "python3-openstackclient", "python3-openstacksdk", "python3-keystoneclient"),
    *("glance-api", "placement-api", "nova-api", "nova-conductor", "nova-scheduler"),
    *("python3-nova", "neutron-server", "neutron-linuxbridge-agent", "neutron-l3-agent"),
    *("neutron-dhcp-agent", "dnsmasq-base", "barbican-api", "swift", "swift-proxy"),
    *("swift-account", "swift-container", "swift-object", "cinder-api", "cinder-scheduler"),
    *("cinder-volume", "nfs-common", "iproute2", "bridge-utils", "iptables", "ipset"),
    *("qemu-utils", "sudo", "cinder-backup"),
)
# Real guests: libvirt and QEMU (no libvirt-daemon-system: its units and socket activation need
# systemd), the config drive's ISO tool, cryptsetup for Nova's LUKS header check, mmdebstrap
# for the guest image, socat for the bastion's port forward.
REAL_PACKAGES = (
    *("libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients", "python3-libvirt"),
    *("qemu-system-x86", "genisoimage", "cryptsetup-bin", "mmdebstrap", "e2fsprogs", "socat"),
    "openssh-client",
)
POLICY_RC = Path("/usr/sbin/policy-rc.d")


def installed_versions() -> dict[str, str]:
    """{package: version} of the installed ones among PACKAGES (what the databases depend on)."""
    return _versions(PACKAGES)


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    res = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "installed":
            out[parts[0]] = parts[1]
    return out


def ensure_packages(*, real: bool = False) -> None:
    """apt-get install what is missing, with services kept from starting (policy-rc.d 101)."""
    wanted = PACKAGES + (REAL_PACKAGES if real else ())
    missing = sorted(set(wanted) - set(_versions(wanted)))
    if not missing:
        return
    log.info("installing %d packages: %s", len(missing), " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=900"]
    ours = not POLICY_RC.exists()
    if ours:
        POLICY_RC.write_text(
            "#!/bin/sh\n# hdh local-cloud: no service starts during install\nexit 101\n"
        )
        POLICY_RC.chmod(0o755)
    try:
        if not any(Path("/var/lib/apt/lists").glob("*_Packages*")):
            subprocess.run([*apt, "update", "-q"], env=env, check=False, capture_output=True)
        res = subprocess.run(
            [*apt, "install", "-y", "--no-install-recommends", *missing],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            # Stale lists are the usual cause: update once and try again.
            subprocess.run([*apt, "update", "-q"], env=env, check=False, capture_output=True)
            res = subprocess.run(
                [*apt, "install", "-y", "--no-install-recommends", "-f", *missing],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        if res.returncode != 0:
            tail = "\n".join(res.stdout.strip().splitlines()[-8:] + res.stderr.splitlines()[-5:])
            raise LocalCloudError("packages", f"apt-get install failed:\n{tail}")
    finally:
        if ours:
            POLICY_RC.unlink(missing_ok=True)
