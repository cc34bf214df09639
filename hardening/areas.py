"""The hardening areas, in deploy order: one name per area for `--areas`, its data and reports.

An area's settings live in `hardening/data/<name>.yaml` (keyed by R-number and level), its
operations in `hardening/<module>.py` under the `@deploy` function `deploy`. This table is the
only list of areas: the data checks, the role composition and COVERAGE.md all read it.
"""

from __future__ import annotations

from typing import NamedTuple


class Area(NamedTuple):
    name: str  # --areas, hardening/data/<name>.yaml, the `area:` of role deviations
    module: str  # hardening/<module>.py
    deploy: str  # its @deploy function
    # False: an area of the services tier (docs/services.md), whose values are the platform's
    # own, not ANSSI settings: they live in data/services_tier.yaml (hardening/tier.py checks it),
    # and hosts whose inventory has no services tier skip the area.
    anssi: bool = True


# Order matters: packages first (the tools the others need), the host certificate before the
# logging that uses it, the firewall after sshd is known good (and before the services tier, so
# nothing it installs listens on an open host), AIDE last so its first database seals the
# hardened state.
AREAS: tuple[Area, ...] = (
    Area("packages", "packages", "packages"),
    Area("accounts", "accounts", "accounts"),
    Area("sudo", "sudo", "sudo_policy"),
    Area("ssh", "ssh", "ssh_server"),
    Area("kernel", "kernel", "kernel_parameters"),
    Area("boot", "kernel", "boot_parameters"),
    Area("modules", "modules", "kernel_modules"),
    Area("mounts", "mounts", "mount_options"),
    Area("audit", "audit", "audit_rules"),
    Area("pki", "certificates", "host_certificate", anssi=False),
    Area("logging", "logs", "logging_system"),
    Area("time", "timesync", "time_sync"),
    Area("firewall", "firewall", "firewall"),
    Area("egress", "egress", "egress", anssi=False),
    Area("collector", "collector", "central_logs", anssi=False),
    Area("monitoring", "monitoring", "monitoring", anssi=False),
    Area("backups", "backups", "backups", anssi=False),
    Area("permissions", "permissions", "file_permissions"),
    Area("services", "services", "services"),
    Area("integrity", "integrity", "integrity"),
)
NAMES: tuple[str, ...] = tuple(a.name for a in AREAS)
# Areas whose settings are ANSSI data in hardening/data/<name>.yaml (keyed by R-number).
ANSSI_NAMES: tuple[str, ...] = tuple(a.name for a in AREAS if a.anssi)
# What only a VM (own kernel) can prove: the targeted set for the slow kernel tier.
KERNEL_AREAS = ("kernel", "boot", "modules", "mounts", "audit")
