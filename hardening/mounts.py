"""Temporary directories: mount options (ANSSI BP-028 R28) and one per user (R55)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import ops
from hardening.common import DROP_IN_PREFIX, deploy_user, settings

NAMESPACE_CONF = f"/etc/security/namespace.d/{DROP_IN_PREFIX}.conf"
TMPFILES_CONF = f"/etc/tmpfiles.d/{DROP_IN_PREFIX}-namespace.conf"
PAM_PROFILE = "/usr/share/pam-configs/hdh-namespace"
# Interactive sessions only (ssh, su, login): not sudo, cron or systemd --user, which use
# common-session-noninteractive.
NAMESPACE_PROFILE = """Name: ANSSI R55: a /tmp and /var/tmp of their own for users (pam_namespace)
Default: yes
Priority: 0
Session-Interactive-Only: yes
Session-Type: Additional
Session:
	required	pam_namespace.so
"""


def namespace_conf(polydirs: list[str], exempt: list[str]) -> str:
    users = ",".join(dict.fromkeys(exempt))
    lines = ["# Managed by hdh hardening (ANSSI BP-028 R55): do not edit."]
    lines += [f"{d}\t{d.rstrip('/')}/.inst/\tuser\t{users}" for d in polydirs]
    return "\n".join(lines) + "\n"


@deploy("Temporary directories (R28 R55)")
def mount_options() -> None:
    s = settings("mounts")
    for path, m in s.items():
        if not path.startswith("/"):
            continue
        spec = dict(m.value)
        ops.mount(
            name=f"{m.control} {path} {','.join(spec['options'])}",
            path=path,
            device=spec["device"],
            fstype=spec["fstype"],
            options=spec["options"],
            extra=spec.get("extra", []),
        )
    if "namespace.polydirs" in s:
        polydirs = [str(d) for d in s["namespace.polydirs"].value]
        exempt = [str(u) for u in s["namespace.exempt"].value] + [deploy_user()]
        # The instance parents, after the mounts above (a fresh tmpfs on /tmp has none) and at
        # every boot; pam_namespace refuses the session when one is missing.
        for d in polydirs:
            files.directory(name=f"R55 {d}/.inst instance directory", path=f"{d}/.inst")
            # Not files.directory's mode: it takes "0000" for no mode at all.
            ops.perms(
                name=f"R55 {d}/.inst root:root 0000",
                path=f"{d}/.inst",
                user="root",
                group="root",
                mode="0000",
            )
        ops.validated_file(
            name="R55 instance directories at boot (tmpfiles.d)",
            path=TMPFILES_CONF,
            content="".join(f"d {d}/.inst 0000 root root -\n" for d in polydirs),
        )
        ops.validated_file(
            name=f"R55 polyinstantiated {' '.join(polydirs)} (all but {', '.join(exempt)})",
            path=NAMESPACE_CONF,
            content=namespace_conf(polydirs, exempt),
        )
        enable = "DEBIAN_FRONTEND=noninteractive pam-auth-update --enable hdh-namespace"
        ops.validated_file(
            name="R55 pam-auth-update profile hdh-namespace",
            path=PAM_PROFILE,
            content=NAMESPACE_PROFILE,
            activate=enable,
        )
        ops.unless_present(
            name="R55 pam_namespace in interactive sessions (common-session)",
            path="/etc/pam.d/common-session",
            pattern=r"^session\s+required\s+pam_namespace\.so",
            command=enable,
        )
