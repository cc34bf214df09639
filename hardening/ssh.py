"""OpenSSH server: ANSSI BP-028 R33, R63, R67, R79 in one validated drop-in."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import ops
from hardening.common import DROP_IN_PREFIX, deploy_user, settings

DROP_IN = f"/etc/ssh/sshd_config.d/00-{DROP_IN_PREFIX}.conf"
MAIN_CONFIG = "/etc/ssh/sshd_config"


@deploy("OpenSSH server (R33 R63 R67 R79)")
def ssh_server() -> None:
    values = settings("ssh")
    rnums = " ".join(sorted({s.control for s in values.values()}, key=lambda r: int(r[1:])))
    ops.sshd_drop_in(
        name=f"{rnums} sshd drop-in checked with sshd -t, then reload",
        path=DROP_IN,
        settings={k: s.value for k, s in values.items()},
        deploy_user=deploy_user(),
    )
    root = values.get("PermitRootLogin")
    if root is not None:
        # The drop-in decides (read first); the main file says the same so that removing the
        # drop-in does not bring back Debian's `prohibit-password`. SSG reads only this file.
        files.line(
            name=f"{root.control} PermitRootLogin {root.value} in the main sshd_config too",
            path=MAIN_CONFIG,
            line=r"^#?[[:space:]]*PermitRootLogin[[:space:]]",
            replace=f"PermitRootLogin {root.value}",
        )
