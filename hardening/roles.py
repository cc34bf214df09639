"""Roles bastion, services, k8s-node, data-host, workspace: one composition of the areas."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from ground.errors import HdhError
from hardening import (
    accounts,
    audit,
    backups,
    certificates,
    collector,
    data,
    egress,
    firewall,
    integrity,
    kernel,
    logs,
    modules,
    monitoring,
    mounts,
    packages,
    permissions,
    services,
    ssh,
    sudo,
    timesync,
)


class StepError(HdhError):
    """A deploy step refused or failed while its operations were being prepared."""


def _accounts() -> None:
    accounts.password_policy()
    accounts.sessions()
    accounts.admin_accounts()


# Order matters: packages first (the tools the others need), the host certificate before the
# logging that uses it, the firewall after sshd is known good, AIDE last so its first database
# seals the hardened state.
AREAS: dict[str, Callable[[], Any]] = {
    "packages": packages.packages,
    "accounts": _accounts,
    "sudo": sudo.sudo_policy,
    "ssh": ssh.ssh_server,
    "kernel": kernel.kernel_parameters,
    "boot": kernel.boot_parameters,
    "modules": modules.kernel_modules,
    "mounts": mounts.mount_options,
    "audit": audit.audit_rules,
    "pki": certificates.host_certificate,
    "logging": logs.logging_system,
    "time": timesync.time_sync,
    "firewall": firewall.firewall,
    # The services tier (docs/services.md): after the firewall, so what these install never
    # listens on an open host; hosts without a services tier in their inventory skip them.
    "egress": egress.egress,
    "collector": collector.central_logs,
    "monitoring": monitoring.monitoring,
    "backups": backups.backups,
    "permissions": permissions.file_permissions,
    "services": services.services,
    "integrity": integrity.integrity,
}
# What only a VM (own kernel) can prove: the targeted set for the slow kernel tier.
KERNEL_AREAS = ("kernel", "boot", "modules", "mounts", "audit")
ROLES = tuple(data.roles())


def check_areas(areas: Sequence[str] | None) -> list[str]:
    """The areas to run, in deploy order; unknown names raise a ConfigError."""
    if not areas:
        return list(AREAS)
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        raise data.ConfigError("--areas", ",".join(unknown), f"unknown area (known: {list(AREAS)})")
    return [a for a in AREAS if a in areas]


@deploy("ANSSI BP-028 hardening")
def harden() -> None:
    """Harden the current host for its role (host data `hdh_role`) and areas (`hdh_areas`)."""
    for area in check_areas(host.data.get("hdh_areas")):
        try:
            AREAS[area]()
        except (PyinfraError, HdhError) as exc:
            # Name the area: pyinfra has already left the deploy when the error reaches us.
            raise StepError(f"area {area}: {exc}") from exc
