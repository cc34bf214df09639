"""Packages and updates: ANSSI BP-028 R58 (minimal set), R59 (signed repositories), R61."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control

# What the other areas need. Hosts have no network when they are hardened: these must be in
# the image (testbed/packages.txt for the testbed), so on a prepared host this is a no-op.
REQUIRED = [
    "sudo",
    "nftables",
    "rsyslog",
    "rsyslog-gnutls",  # TLS forwarding to the log host (R71): rsyslog's gtls stream driver
    "chrony",
    "libpam-pwquality",
    # pam_pwquality's dictionary check (R31) needs the cracklib dictionary; libpwquality only
    # recommends it, and without it every password change fails "error loading dictionary".
    "cracklib-runtime",
    "aide",
    "aide-common",
    "unattended-upgrades",
]
# Useless where the kernel is shared (containers).
KERNEL_ONLY = ["auditd", "apparmor", "libpam-apparmor"]


def apt_conf(values: dict[str, object], prefix: str) -> str:
    out = []
    for key, value in values.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if isinstance(value, list):
            items = "".join(f'\n  "{v}";' for v in value)
            out.append(f"{name} {{{items}\n}};")
        else:
            out.append(f'{name} "{value}";')
    return "\n".join(out) + "\n"


@deploy("Packages and updates (R58 R59 R61)")
def packages() -> None:
    c = by_control("packages")
    wanted = REQUIRED + ([] if ops.in_container() else KERNEL_ONLY)
    wanted += [p for p in c.get("R61", {}).get("present", []) if p not in wanted]  # type: ignore[attr-defined]
    apt.packages(
        name="R61 required packages present (from the image, no download)",
        packages=wanted,
        update=False,
        no_recommends=True,
    )
    apt.packages(
        name="R58 unneeded packages absent",
        packages=list(c.get("R58", {}).get("absent", [])),  # type: ignore[call-overload]
        present=False,
        update=False,
    )
    r59 = {
        ("APT::Get::" if k == "apt.AllowUnauthenticated" else "Acquire::") + k[4:]: v
        for k, v in c.get("R59", {}).items()
    }
    ops.validated_file(
        name="R59 apt refuses unauthenticated and insecure repositories",
        path=f"/etc/apt/apt.conf.d/60{DROP_IN_PREFIX}",
        content=apt_conf(r59, ""),
        validate="apt-config -c {} dump >/dev/null",
    )
    r61 = c.get("R61", {})
    ops.validated_file(
        name="R61 unattended-upgrades: Debian security origin",
        path="/etc/apt/apt.conf.d/52hdh-unattended-upgrades",
        content=apt_conf(
            {
                "Unattended-Upgrade::" + k.split(".", 1)[1]: v
                for k, v in r61.items()
                if k.startswith("unattended.")
            },
            "",
        ),
        validate="apt-config -c {} dump >/dev/null",
    )
    ops.validated_file(
        name="R61 APT periodic: refresh lists and upgrade daily",
        path="/etc/apt/apt.conf.d/20auto-upgrades",
        content=apt_conf(
            {
                "APT::Periodic::" + k.split(".", 1)[1]: v
                for k, v in r61.items()
                if k.startswith("periodic.")
            },
            "",
        ),
        validate="apt-config -c {} dump >/dev/null",
    )
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        ops.unit_running(name=f"R61 {timer} enabled", unit=timer)
