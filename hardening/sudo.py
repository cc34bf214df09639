"""sudo and setuid programs: ANSSI BP-028 R38 (dedicated group), R39 (Defaults, validated
with visudo), R57 (setuid/setgid bits removed from tools only root uses)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, deploy
from pyinfra.facts.files import File

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control, deploy_user
from hardening.facts import UserGroups

DROP_IN = (
    f"/etc/sudoers.d/00-{DROP_IN_PREFIX}"  # no dot: sudo skips files with one (and our .hdh-new)
)


@deploy("sudo and setuid programs (R33 R38 R39 R57)")
def sudo_policy() -> None:
    c = by_control("sudo")
    user = deploy_user()
    r39 = c.get("R39", {})
    lines = ["# Managed by hdh hardening (ANSSI BP-028 R39): do not edit."]
    lines += [f"Defaults {d}" for d in r39.get("Defaults", [])]  # type: ignore[attr-defined]
    if "logfile" in c.get("R33", {}):
        lines.append(f"Defaults logfile={c['R33']['logfile']}")
    exemptions = r39.get("deploy_exemptions", [])
    if exemptions:
        lines.append(f"Defaults:{user} {', '.join(exemptions)}")  # type: ignore[arg-type]
    ops.validated_file(
        name="R39 sudo Defaults drop-in (visudo -c before install)",
        path=DROP_IN,
        content="\n".join(lines) + "\n",
        mode="0440",
        validate="visudo -cf {}",
    )
    group = c.get("R38", {}).get("group")
    if group:
        # Only members of `group` may run sudo. The deploy user must already be one in this
        # login session, or the rest of this run (and this very check) would lose sudo.
        groups = host.get_fact(UserGroups, user=user)
        if groups is None or group not in groups:
            raise OperationError(
                f"R38: deploy user {user} is not in group {group}; add it and reconnect first"
            )
        ops.statoverride(
            name=f"R38 only group {group} may execute sudo",
            path="/usr/bin/sudo",
            user="root",
            group=str(group),
            mode="4750",
        )
    # R57 here, before the audit area: its one-rule-per-setuid-program list sees the result.
    for path, spec in c.get("R57", {}).items():
        owner, group, mode = str(spec).split(":")
        if not host.get_fact(File, path=path):
            ops.skipped(name=f"R57 {path}", reason=f"{path} is not installed")
            continue
        ops.statoverride(
            name=f"R57 {path} {owner}:{group} {mode} (no setuid/setgid)",
            path=path,
            user=owner,
            group=group,
            mode=mode,
        )
