"""Services: ANSSI BP-028 R45 (AppArmor), R62 (minimal services), R74 (local mail), R75."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import ops
from hardening.common import by_control
from hardening.facts import PathExists


@deploy("Services (R45 R62 R74 R75)")
def services() -> None:
    c = by_control("services")
    for unit in c.get("R62", {}).get("disabled", []):  # type: ignore[attr-defined]
        ops.unit_masked(name=f"R62 {unit} disabled and masked", unit=unit)
    r74 = c.get("R74", {})
    if host.get_fact(PathExists, path="/etc/postfix/main.cf"):
        files.line(
            name="R74 postfix listens on loopback only",
            path="/etc/postfix/main.cf",
            line=r"^inet_interfaces[[:space:]]*=",
            replace=f"inet_interfaces = {r74['postfix.inet_interfaces']}",
        )
    if host.get_fact(PathExists, path="/etc/exim4/update-exim4.conf.conf"):
        files.line(
            name="R74 exim4 listens on loopback only",
            path="/etc/exim4/update-exim4.conf.conf",
            line=r"^dc_local_interfaces=",
            replace=f"dc_local_interfaces='{r74['exim4.dc_local_interfaces']}'",
        )
    alias = c.get("R75", {}).get("aliases.root")
    if alias:
        files.line(
            name=f"R75 root's mail goes to {alias}",
            path="/etc/aliases",
            line=r"^root:",
            replace=f"root: {alias}",
        )
    if c.get("R45", {}).get("apparmor.enabled"):
        if ops.in_container():
            ops.skipped(
                name="R45 AppArmor", reason="container: the LSM belongs to the host's kernel"
            )
        else:
            ops.unit_running(name="R45 AppArmor enabled", unit="apparmor.service")
