"""Kernel parameters and command line: ANSSI BP-028 R7, R8, R9, R10, R11, R12, R13, R14."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control
from hardening.facts import PathExists

SYSCTL_FILE = f"/etc/sysctl.d/60-{DROP_IN_PREFIX}.conf"
GRUB_DROP_IN = f"/etc/default/grub.d/60-{DROP_IN_PREFIX}.cfg"
CONTROL_TITLES = {
    "R8": "memory options (vm.mmap_min_addr)",
    "R9": "kernel configuration options",
    "R10": "kernel.modules_disabled",
    "R11": "Yama ptrace scope",
    "R12": "IPv4 configuration options",
    "R13": "IPv6 configuration options",
    "R14": "file system configuration options",
}


@deploy("Kernel parameters (R8 R9 R10 R11 R12 R13 R14)")
def kernel_parameters() -> None:
    # The same sysctl.d file on every kind of host: it is the persisted configuration, what this
    # disk booted with a kernel of its own gets. In a container only the live values are limited
    # (ops.sysctls skips what the shared kernel owns), and systemd-sysctl ignores read-only keys.
    lines: list[str] = []
    for rnum, values in by_control("kernel").items():
        lines.extend(f"{key} = {value}\n" for key, value in values.items())
        ops.sysctls(name=f"{rnum} {CONTROL_TITLES.get(rnum, 'kernel parameters')}", values=values)  # type: ignore[arg-type]
    ops.validated_file(
        name="R9 R12 R13 R14 sysctl.d drop-in persists the values",
        path=SYSCTL_FILE,
        content="# Managed by hdh hardening (ANSSI BP-028).\n" + "".join(lines),
    )


@deploy("Kernel command line (R7 R8)")
def boot_parameters() -> None:
    params = {k: v for values in by_control("boot").values() for k, v in values.items()}
    rnums = " ".join(by_control("boot"))
    if ops.in_container():
        ops.skipped(name=f"{rnums} kernel command line", reason="container: no boot loader")
        return
    if not host.get_fact(PathExists, path="/usr/sbin/update-grub"):
        ops.skipped(
            name=f"{rnums} kernel command line",
            reason="no GRUB on this host: the kernel is booted directly by its hypervisor",
        )
        return
    line = " ".join(f"{k}={v}" for k, v in params.items())
    ops.validated_file(
        name=f"{rnums} kernel command line (GRUB drop-in)",
        path=GRUB_DROP_IN,
        content=f'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX {line}"\n',
        activate="update-grub",
    )
