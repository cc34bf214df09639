"""Mount options of the temporary directories: ANSSI BP-028 R28."""

from __future__ import annotations

from pyinfra.api import deploy

from hardening import ops
from hardening.common import settings


@deploy("Mount options (R28)")
def mount_options() -> None:
    for path, s in settings("mounts").items():
        spec = dict(s.value)
        ops.mount(
            name=f"{s.control} {path} {','.join(spec['options'])}",
            path=path,
            device=spec["device"],
            fstype=spec["fstype"],
            options=spec["options"],
            extra=spec.get("extra", []),
        )
