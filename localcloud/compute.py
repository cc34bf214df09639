"""The compute host: Nova's fake driver, or libvirt + QEMU software emulation for real guests."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from localcloud.paths import Layout

log = logging.getLogger(__name__)

MODES = ("real", "fake")
DEFAULT_MODE = "real"
# A fixed path of libvirt's privileged daemon (it has no option to read another): the local cloud
# owns libvirt on this machine, so it writes the file (and says so in its first line).
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
LIBVIRT_DIRS = tuple(
    Path(p)
    for p in (
        "/var/run/libvirt",
        "/var/lib/libvirt/qemu",
        "/var/log/libvirt/qemu",
        "/var/cache/libvirt/qemu",
        "/etc/libvirt/qemu",
    )
)
LIBVIRT_SOCKET = Path("/var/run/libvirt/libvirt-sock")
# libvirt's QEMU driver resolves its built-in default user before it reads qemu.conf: the
# account must exist even though QEMU runs as root (libvirt-daemon-system's postinst makes it).
QEMU_USER = "libvirt-qemu"
# Nova names the local cloud's domains `<prefix><instance uuid>` (confs.py): what this code
# counts, powers off or forgets; any other domain of the machine's libvirt is left alone.
DOMAIN_PREFIX = "hdh-lc-"
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# QEMU runs as root: the state directory is under root's home (0700), out of reach of
# libvirt-qemu; no AppArmor/SELinux here. No per-guest mount namespace: a volume share mounted
# after a guest started must be visible to it (the host's mounts are private, not shared).
QEMU_CONF_TEXT = """# Written by `hdh cloud up` (hdh-platform local test cloud): guests under QEMU.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
stdio_handler = "logd"
"""


def nova_compute_conf(layout: Layout, host: str, mode: str, conf_files: list[Path]) -> str:
    """nova-compute's own file (read after nova.conf): its host name and its driver."""
    if mode == "fake":
        return f"""[DEFAULT]
host = {host}
compute_driver = fake.FakeDriver
# The fake driver waits for no VIF event; ports of fake servers stay DOWN (no tap device).
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
"""
    helper = " ".join(
        [
            *("env", f"PATH={layout.root / 'bin'}:{SYS_PATH}", "privsep-helper"),
            *(f"--config-file {f}" for f in conf_files),
        ]
    )
    return f"""[DEFAULT]
host = {host}
compute_driver = libvirt.LibvirtDriver
instances_path = {layout.data / "nova" / "instances"}
# User data and keys reach the guest on a config drive: the platform's security groups have no
# default rule and open no egress to a metadata address, and no metadata service runs.
force_config_drive = true
# Start a guest only once Neutron's agent has wired its tap (and its security group rules).
vif_plugging_is_fatal = true
vif_plugging_timeout = 300
[libvirt]
# QEMU software emulation: /dev/kvm here is kvm_pvm, unusable for Debian guests.
virt_type = qemu
connection_uri = qemu:///system
cpu_mode = none
# No libguestfs or NBD: nothing is injected into disks (cloud-init reads the config drive).
inject_partition = -2
# Cinder's "NFS" volumes: bin/mount bind-mounts the export here (this kernel has no NFS client).
nfs_mount_point_base = {layout.data / "nova-mnt"}
[workarounds]
# Root already: privileged helpers run through sudo directly, not nova-rootwrap's filters.
disable_rootwrap = true
[nova_sys_admin]
# The privileged helper that mounts volume shares finds bin/mount first.
helper_command = {helper}
"""


def libvirtd_conf(layout: Layout) -> str:
    return f"""# hdh local cloud: libvirtd (started by `hdh cloud up`, PID recorded)
listen_tls = 0
listen_tcp = 0
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
log_outputs = "3:file:{layout.log / "libvirtd-detail.log"}"
"""


def virtlogd_conf(layout: Layout) -> str:
    return f'log_outputs = "3:file:{layout.log / "virtlogd-detail.log"}"\n'


LIBVIRT_DAEMONS = ("virtlogd", "libvirtd")


def emulator_dir(layout: Layout) -> Path:
    """libvirtd's first PATH entry: the QEMU it runs (localcloud/wrappers.py QEMU_SYSTEM)."""
    return layout.root / "bin" / "emulator"


def prepare_host() -> None:
    """libvirt's directories and qemu.conf, and the system account its QEMU driver looks up."""
    for d in LIBVIRT_DIRS:
        d.mkdir(parents=True, exist_ok=True)
    if not QEMU_CONF.exists() or QEMU_CONF.read_text() != QEMU_CONF_TEXT:
        QEMU_CONF.write_text(QEMU_CONF_TEXT)
    if subprocess.run(["getent", "passwd", QEMU_USER], capture_output=True).returncode != 0:
        subprocess.run(
            [
                *("useradd", "--system", "--user-group", "--no-create-home"),
                *("--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin", QEMU_USER),
            ],
            check=True,
            capture_output=True,
        )


def virsh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def domains(*, all_states: bool = False) -> list[str]:
    """Names of the local cloud's libvirt domains (running ones, or every defined one)."""
    res = virsh("list", "--name", *(["--all"] if all_states else []))
    if res.returncode != 0:
        return []
    names = (n.strip() for n in res.stdout.splitlines())
    return [n for n in names if n.startswith(DOMAIN_PREFIX)]


def forget_domains() -> list[str]:
    """Power off and undefine every domain of the local cloud: for a cloud whose database is
    new, which cannot own any (they were left by an earlier cloud wiped while guests ran)."""
    names = domains(all_states=True)
    for name in names:
        log.warning("forgetting guest %s, left by an earlier local cloud", name)
        virsh("destroy", name)
        virsh("undefine", name)
    return names


def destroy_domains(running: dict[str, int]) -> int:
    """Power off every running guest before libvirtd stops (QEMU lives in its own session).

    Nova marks them SHUTOFF when it sees them next; their volumes and definitions stay.
    """
    if "libvirtd" not in running:
        return 0
    names = domains()
    for name in names:
        log.info("powering off guest %s", name)
        virsh("destroy", name)
    return len(names)
