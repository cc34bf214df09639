"""Permissions of sensitive files and shared directories: ANSSI BP-028 R29, R50, R54."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening import ops
from hardening.common import settings
from hardening.facts import Glob


@deploy("File permissions (R29 R50 R54)")
def file_permissions() -> None:
    for key, s in settings("permissions").items():
        if key.startswith("/"):
            user, group, mode = str(s.value).split(":")
            # A glob (kernel-versioned files) covers whatever matches at deploy time.
            for path in host.get_fact(Glob, pattern=key) if "*" in key else [key]:
                ops.perms(
                    name=f"{s.control} {path} {user}:{group} {mode}",
                    path=path,
                    user=user,
                    group=group,
                    mode=mode,
                )
        elif key == "sticky_world_writable" and s.value:
            ops.sticky_world_writable(name=f"{s.control} sticky bit on world-writable directories")
        elif key == "private_homes" and s.value:
            ops.private_homes(name=f"{s.control} interactive users' home files 0750 at most")
