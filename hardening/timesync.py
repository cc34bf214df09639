"""Time synchronisation with chrony: ANSSI BP-028 R71 (DAT-PA-012 R5); the services hosts serve
time to the internal networks."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import ops, tier
from hardening.common import DROP_IN_PREFIX, role_name, settings

SOURCES = f"/etc/chrony/sources.d/{DROP_IN_PREFIX}.sources"
CONF = f"/etc/chrony/conf.d/{DROP_IN_PREFIX}.conf"
MAIN_CONF = "/etc/chrony/chrony.conf"
CONTAINER_DROP_IN = "/etc/systemd/system/chrony.service.d/hdh-container.conf"
# In a container the clock is the host's (no CAP_SYS_TIME): chronyd still runs, with -x, so it
# serves time (services hosts) and measures its sources (everyone), and never sets the clock.
CONTAINER_UNIT = (
    "# Managed by hdh hardening (R71): a container cannot set the clock, chrony measures only.\n"
    "[Unit]\nConditionCapability=\n\n"
    "[Service]\nExecStart=\nExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x\n"
)


def server_lines(hdata: Any) -> list[str]:
    """chrony directives of a services host: serve the internal networks, keep serving when the
    upstream is unreachable (orphan mode)."""
    t = tier.settings()["time"]
    nets = hdata.get("services_networks") or []
    return [f"allow {n}" for n in nets] + [f"local stratum {t['local_stratum']} orphan"]


@deploy("Time synchronisation (R71)")
def time_sync() -> None:
    s = settings("time")
    serving = role_name() == tier.SERVICES_ROLE and bool(host.data.get("services_hosts"))
    if serving:
        servers = list(tier.settings()["time"]["upstream"])
    else:
        servers = host.data.get("ntp_servers") or s["chrony.servers"].value
    restart = "systemctl try-restart chrony.service"
    ops.validated_file(
        name=f"R71 chrony servers {', '.join(servers)}",
        path=SOURCES,
        content="".join(f"server {srv} iburst\n" for srv in servers),
        activate=restart,
    )
    extra = server_lines(host.data) if serving else []
    ops.validated_file(
        name="R71 chrony: no command port on the network, step at start only"
        + (", serving the internal networks" if serving else ""),
        path=CONF,
        content=f"cmdport {s['chrony.cmdport'].value}\nmakestep {s['chrony.makestep'].value}\n"
        + "".join(f"{line}\n" for line in extra),
        activate=restart,
    )
    if host.data.get("services_hosts"):
        # Debian's own pool line would reach past the services tier: time comes from it only.
        files.line(
            name="R71 chrony: no pool of its own (time from the services tier)",
            path=MAIN_CONF,
            line=r"^pool[[:space:]]",
            replace="# pool disabled by hdh hardening: time comes from the services tier",
            extended_regex=True,
        )
        if ops.in_container():
            ops.validated_file(
                name="R71 chrony measures in a container (-x: the clock is the host's)",
                path=CONTAINER_DROP_IN,
                content=CONTAINER_UNIT,
                activate="systemctl daemon-reload && systemctl restart chrony.service",
            )
            ops.unit_running(name="R71 chrony enabled and running", unit="chrony.service")
            return
    if ops.in_container():
        # chrony.service has ConditionCapability=CAP_SYS_TIME: it never runs in a container.
        ops.skipped(name="R71 chrony running", reason="container: the clock is the host's")
    else:
        ops.unit_running(name="R71 chrony enabled and running", unit="chrony.service")
