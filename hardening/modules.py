"""Kernel modules the platform never loads: ANSSI BP-028 R10 (intermediary part)."""

from __future__ import annotations

from pyinfra.api import deploy

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control

MODPROBE_FILE = f"/etc/modprobe.d/{DROP_IN_PREFIX}.conf"


@deploy("Kernel modules (R10)")
def kernel_modules() -> None:
    modules = [m for m, on in by_control("modules").get("R10", {}).items() if on]
    if ops.in_container():
        ops.skipped(
            name="R10 blacklist unused kernel modules",
            reason="container: kernel modules belong to the host's kernel",
        )
        return
    # `install X /bin/false` also stops explicit modprobe; `blacklist` only stops aliases.
    content = "# Managed by hdh hardening (ANSSI BP-028 R10).\n" + "".join(
        f"install {m} /bin/false\nblacklist {m}\n" for m in modules
    )
    ops.validated_file(
        name="R10 blacklist unused kernel modules", path=MODPROBE_FILE, content=content
    )
