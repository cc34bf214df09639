"""The local cloud's Debian 12 guest image: mmdebstrap, direct kernel boot, content-hash cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ground.paths import cache_dir
from localcloud.paths import LocalCloudError
from localcloud.shell import run
from testbed.image import MIRRORS, SUITE, initrd_hook, read_packages, write_kernel
from testbed.paths import locked

log = logging.getLogger(__name__)

# The testbed's list is what hardening needs on a host with no network (firewall, audit, AIDE,
# time, logs, PAM, the OpenSCAP judge): the platform's hosts get the same, with Debian's cloud
# kernel (virtio drivers, ~10x fewer modules) and what a cloud guest needs besides.
TESTBED_KERNEL = "linux-image-amd64"
GUEST_PACKAGES = (
    *("linux-image-cloud-amd64", "cloud-init", "qemu-guest-agent", "e2fsprogs"),
    *("openssh-server", "sudo", "python3", "systemd-sysv", "initramfs-tools"),
)
# The initrd only has to find an ext4 root on a virtio disk: 6 MB instead of 35 MB.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "ext4")
# Documentation, manuals and translations are never read on a server: ~90 MB less to copy
# into every boot volume. Copyright files stay (licences).
PATH_EXCLUDES = (
    "/usr/share/man/*",
    "/usr/share/doc/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)
PATH_INCLUDES = ("/usr/share/doc/*/copyright",)
# What the kernel is told by Nova (image property os_command_line): root on the boot volume,
# the console on the serial port Nova logs, classic interface names (the DHCP file matches eth*).
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
# The build boots the image once, with cloud-init off, to keep what every first boot would
# otherwise compute under emulation: AppArmor's compiled policy (~30 s of a guest's CPU). The
# run unit powers the machine off as soon as the system is up; only the cache is kept.
WARMUP_CMDLINE = (
    f"{KERNEL_CMDLINE} cloud-init=disabled systemd.run=/bin/true "
    "systemd.run_success_action=poweroff"
)
WARMUP_KEEP = "/var/cache/apparmor"

# After the packages. Users, keys and host names come from cloud-init at first boot; the image
# holds no account but root (locked) and no SSH host key (each instance makes its own).
CUSTOMIZE_HOOK = r"""
set -eu
r="$1"
chroot "$r" passwd --lock root >/dev/null
cat > "$r/etc/cloud/cloud.cfg.d/90-hdh-local-cloud.cfg" <<'EOF'
# hdh local cloud: Nova's config drive is the only datasource (no metadata service is probed);
# the network comes from Neutron's DHCP through systemd-networkd (10-hdh-dhcp.network).
datasource_list: [ConfigDrive, None]
network: {config: disabled}
apt_preserve_sources_list: true
# Under software emulation an RSA host key costs ~10 s of boot: Ed25519 and ECDSA only.
ssh_genkeytypes: [ed25519, ecdsa]
# No boot loader (direct kernel boot), and the C locale of a server (no locale generation).
grub_dpkg: {enabled: false}
locale: false
EOF
mkdir -p "$r/etc/systemd/network"
cat > "$r/etc/systemd/network/10-hdh-dhcp.network" <<'EOF'
[Match]
Name=eth*
[Network]
DHCP=ipv4
LinkLocalAddressing=no
[DHCPv4]
UseDomains=true
EOF
chroot "$r" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$r" systemctl enable qemu-guest-agent.service >/dev/null 2>&1 || true
# e2scrub_reap looks for LVM snapshots left by e2scrub: there is no LVM (20 s of boot here).
chroot "$r" systemctl mask e2scrub_reap.service >/dev/null 2>&1
cat > "$r/etc/ssh/sshd_config.d/10-hdh-guest.conf" <<'EOF'
# hdh guest: key-only logins, no root
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOF
echo 'LABEL=hdh-root / ext4 rw,errors=remount-ro 0 1' > "$r/etc/fstab"
rm -f "$r"/etc/ssh/ssh_host_*
rm -f "$r/etc/hostname" "$r/var/lib/dbus/machine-id"
: > "$r/etc/machine-id"
rm -rf "$r/var/lib/cloud"
"""


@dataclass(frozen=True)
class GuestImage:
    """A built image: the root filesystem (raw ext4, no partition), kernel and initrd."""

    path: Path

    @property
    def root(self) -> Path:
        return self.path / "root.raw"

    @property
    def kernel(self) -> Path:
        return self.path / "kernel"

    @property
    def initrd(self) -> Path:
        return self.path / "initrd.img"

    @property
    def digest(self) -> str:
        return self.path.name


def images_dir() -> Path:
    """`$HDH_CACHE/local-cloud-images`: kept when the cloud's state directory is wiped."""
    return cache_dir("local-cloud-images")


def guest_packages() -> list[str]:
    pkgs = set(read_packages()) - {TESTBED_KERNEL}
    return sorted(pkgs | set(GUEST_PACKAGES))


def recipe(packages: list[str]) -> dict[str, object]:
    """Everything that decides the image's content, in a canonical form."""
    return {
        "recipe_version": 1,
        "suite": SUITE,
        "mirrors": list(MIRRORS),
        "variant": "apt",
        "packages": sorted(set(packages)),
        "path_excludes": list(PATH_EXCLUDES),
        "path_includes": list(PATH_INCLUDES),
        "setup_hook": _setup_hook(),
        "customize_hook": CUSTOMIZE_HOOK,
        "cmdline": KERNEL_CMDLINE,
        "warmup": [WARMUP_CMDLINE, WARMUP_KEEP],
    }


def image_hash(packages: list[str]) -> str:
    """Content hash of the package list + recipe: the image's cache key (16 hex digits)."""
    blob = json.dumps(recipe(packages), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def ensure_image(packages: list[str] | None = None) -> GuestImage:
    """Return the cached image for the current recipe, building it first if needed."""
    pkgs = guest_packages() if packages is None else packages
    digest = image_hash(pkgs)
    final = images_dir() / digest
    if (final / "READY").exists():
        return GuestImage(final)
    with locked(images_dir() / f"{digest}.lock"):
        if (final / "READY").exists():  # built by someone else while we waited
            return GuestImage(final)
        _build(pkgs, final)
    return GuestImage(final)


def _setup_hook() -> str:
    return initrd_hook("hdh-guest", INITRD_MODULES)


def _build(packages: list[str], final: Path) -> None:
    t0 = time.monotonic()
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{final.name}.build-", dir=final.parent))
    try:
        rootfs = work / "rootfs"
        hooks = work / "hooks"
        hooks.mkdir()
        (hooks / "setup.sh").write_text(_setup_hook())
        (hooks / "customize.sh").write_text(CUSTOMIZE_HOOK)
        log.info("guest image %s: mmdebstrap %s (%d packages)", final.name, SUITE, len(packages))
        run(
            [
                "mmdebstrap",
                "--mode=root",
                "--variant=apt",
                "--format=directory",
                "--skip=cleanup/apt/lists",  # apt on the guest resolves names without network
                *(f"--dpkgopt=path-exclude={p}" for p in PATH_EXCLUDES),
                *(f"--dpkgopt=path-include={p}" for p in PATH_INCLUDES),
                "--include=" + ",".join(packages),
                f'--setup-hook=sh {hooks / "setup.sh"} "$1"',
                f'--customize-hook=sh {hooks / "customize.sh"} "$1"',
                SUITE,
                str(rootfs),
                *MIRRORS,
            ],
            "guest image: mmdebstrap",
            timeout=3600,
        )
        log.info("guest image %s: root filesystem in %.0f s", final.name, time.monotonic() - t0)
        img = GuestImage(work)
        boot = rootfs / "boot"
        kernels, initrds = sorted(boot.glob("vmlinuz-*")), sorted(boot.glob("initrd.img-*"))
        if not kernels or not initrds:
            raise LocalCloudError("guest image", f"no kernel or initrd in {boot}")
        write_kernel(kernels[-1], img.kernel)
        shutil.copyfile(initrds[-1], img.initrd)
        size = fs_size(_tree_bytes(rootfs))
        _mke2fs(rootfs, img.root, size)
        t1 = time.monotonic()
        _warm_up(img, rootfs)
        _mke2fs(rootfs, img.root, size)
        log.info("guest image %s: warm-up boot in %.0f s", final.name, time.monotonic() - t1)
        shutil.rmtree(rootfs)
        shutil.rmtree(hooks)
        (work / "recipe.json").write_text(json.dumps(recipe(packages), indent=1, sort_keys=True))
        (work / "READY").write_text(f"{time.time():.0f}\n")
        os.chmod(work, 0o755)
        work.rename(final)
        log.info("guest image %s: built in %.0f s", final.name, time.monotonic() - t0)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _mke2fs(rootfs: Path, out: Path, size: str) -> None:
    out.unlink(missing_ok=True)
    run(
        ["mke2fs", "-q", "-t", "ext4", "-L", "hdh-root", "-d", rootfs, "-F", out, size],
        "guest image: mke2fs",
    )


def _warm_up(img: GuestImage, rootfs: Path) -> None:
    """Boot the image once (no network, cloud-init off) and copy WARMUP_KEEP back into rootfs."""
    console = img.path / "warmup-console.log"
    run(
        [
            *("qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1", "-no-reboot"),
            *("-display", "none", "-nodefaults", "-no-user-config", "-nic", "none"),
            *("-serial", f"file:{console}", "-kernel", img.kernel, "-initrd", img.initrd),
            *("-append", WARMUP_CMDLINE, "-device", "virtio-rng-pci"),
            *("-drive", f"file={img.root},if=virtio,format=raw,cache=unsafe"),
        ],
        "guest image: warm-up boot",
        timeout=900,
    )
    keep = rootfs / WARMUP_KEEP.lstrip("/")
    shutil.rmtree(keep, ignore_errors=True)
    run(["debugfs", "-R", f"rdump {WARMUP_KEEP} {keep.parent}", img.root], "guest image: warm-up")
    if not any(keep.glob("*/*")):
        tail = console.read_text(errors="replace")[-2000:] if console.exists() else ""
        raise LocalCloudError("guest image", f"warm-up boot left no {WARMUP_KEEP}:\n{tail}")
    console.unlink(missing_ok=True)


def fs_size(used: int) -> str:
    """The root filesystem's size: what the tree uses + a quarter + 256 MiB, in whole 64 MiB.

    Small on purpose: every boot volume starts as a copy of it (cloud-init grows the filesystem
    to the volume's size at first boot).
    """
    mib = used // 2**20
    total = mib + mib // 4 + 256
    return f"{-(-total // 64) * 64}M"


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                total += p.lstat().st_blocks * 512
    return total
