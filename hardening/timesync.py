"""Time synchronisation with chrony: ANSSI BP-028 R71 (DAT-PA-012 R5)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening import ops
from hardening.common import DROP_IN_PREFIX, settings

SOURCES = f"/etc/chrony/sources.d/{DROP_IN_PREFIX}.sources"
CONF = f"/etc/chrony/conf.d/{DROP_IN_PREFIX}.conf"


@deploy("Time synchronisation (R71)")
def time_sync() -> None:
    s = settings("time")
    servers = host.data.get("ntp_servers") or s["chrony.servers"].value
    ops.validated_file(
        name=f"R71 chrony servers {', '.join(servers)}",
        path=SOURCES,
        content="".join(f"server {srv} iburst\n" for srv in servers),
        activate="systemctl try-restart chrony.service",
    )
    ops.validated_file(
        name="R71 chrony: no command port on the network, step at start only",
        path=CONF,
        content=f"cmdport {s['chrony.cmdport'].value}\nmakestep {s['chrony.makestep'].value}\n",
        activate="systemctl try-restart chrony.service",
    )
    if ops.in_container():
        # chrony.service has ConditionCapability=CAP_SYS_TIME: it never runs in a container.
        ops.skipped(name="R71 chrony running", reason="container: the clock is the host's")
    else:
        ops.unit_running(name="R71 chrony enabled and running", unit="chrony.service")
