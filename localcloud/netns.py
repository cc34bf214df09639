"""The external network's namespace and the Cinder share's bind mount (the one stand-in).

The `public` range lives only inside the namespace EXT_NETNS (gateway address) and Neutron's own
router namespaces; the root-namespace end of the veth pair carries no address. EXT_NETNS also
holds ADMIN_SOURCE, the administrator's address the bastion admits SSH from. The kernel has no
NFS client, so the "NFS share" Cinder mounts is a directory bind-mounted where the driver looks.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

from localcloud.confs import PEER_EXT, PHYS_EXT, share_mount_point
from localcloud.paths import ADMIN_SOURCE, EXT_NETNS, PUBLIC_CIDR, Layout, LocalCloudError

log = logging.getLogger(__name__)
# A guest's tap as Nova names it for Neutron's linuxbridge: "tap" + the port id's first 11 chars.
NEUTRON_TAP = re.compile(r"tap[0-9a-f]{8}-[0-9a-f]{2}")


def _ip(*args: str, check: bool = True) -> str:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise LocalCloudError("network namespace", f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def _netns_list() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def _mounted(path: Path) -> bool:
    return any(
        line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines()
    )


def ensure(layout: Layout) -> None:
    """Create the namespace, the veth pair and the bind mount if they are missing."""
    if EXT_NETNS not in _netns_list():
        _ip("netns", "add", EXT_NETNS)
    if not Path(f"/sys/class/net/{PHYS_EXT}").exists():
        _ip("link", "add", PHYS_EXT, "type", "veth", "peer", "name", PEER_EXT, "netns", EXT_NETNS)
    gateway = PUBLIC_CIDR.rsplit(".", 1)[0] + ".1/24"
    ns = ("netns", "exec", EXT_NETNS, "ip")
    if gateway not in _ip(*ns, "-4", "addr", "show", "dev", PEER_EXT):
        _ip(*ns, "addr", "add", gateway, "dev", PEER_EXT)
    _ip(*ns, "link", "set", PEER_EXT, "up")
    _ip(*ns, "link", "set", "lo", "up")
    if f"{ADMIN_SOURCE}/32" not in _ip(*ns, "-4", "addr", "show", "dev", "lo"):
        _ip(*ns, "addr", "add", f"{ADMIN_SOURCE}/32", "dev", "lo")
    _ip("link", "set", PHYS_EXT, "up")
    mnt = share_mount_point(layout)
    mnt.mkdir(parents=True, exist_ok=True)
    if not _mounted(mnt):
        subprocess.run(
            ["mount", "--bind", str(layout.data / "cinder-export"), str(mnt)], check=True
        )


def remove(layout: Layout) -> None:
    """Undo ensure(), plus what our Neutron agents left: their namespaces, bridges, chains."""
    for name in _netns_list():
        # qrouter-/qdhcp- namespaces are only ever made by the agents `up` started.
        if name == EXT_NETNS or name.startswith(("qrouter-", "qdhcp-")):
            _ip("netns", "delete", name, check=False)
    for dev in Path("/sys/class/net").iterdir():
        name = dev.name
        if name.startswith(("brq", "vxlan-")) or name == PHYS_EXT or NEUTRON_TAP.fullmatch(name):
            _ip("link", "delete", name, check=False)
    # Cinder's share, and Nova's mounts of it (bin/mount bind-mounted them under nova-mnt/).
    nova_mnt = layout.data / "nova-mnt"
    for mnt in [share_mount_point(layout), *(nova_mnt.iterdir() if nova_mnt.is_dir() else [])]:
        for _ in range(64):  # a cloud of an older version may have stacked several
            if not _mounted(mnt) or subprocess.run(["umount", str(mnt)], check=False).returncode:
                break
    _drop_neutron_chains()


def _drop_neutron_chains() -> None:
    """Remove the linuxbridge agent's `neutron-*` iptables chains and the jumps to them."""
    for table in ("filter", "raw", "mangle", "nat"):
        res = subprocess.run(
            ["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False
        )
        rules = [r for r in res.stdout.splitlines() if "neutron-" in r]
        for rule in rules:
            if rule.startswith("-A ") and not rule.split()[1].startswith("neutron-"):
                subprocess.run(["iptables", "-t", table, "-D", *rule.split()[1:]], check=False)
        chains = [r.split()[1] for r in rules if r.startswith("-N ")]
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], check=False)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], check=False)
