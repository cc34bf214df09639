"""Logging: persistent journald, rsyslog with optional remote forwarding (ANSSI BP-028 R71 R72)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, deploy

from hardening import ops
from hardening.common import settings

JOURNALD_DROP_IN = "/etc/systemd/journald.conf.d/60-hdh-anssi.conf"
RSYSLOG_DROP_IN = "/etc/rsyslog.d/00-hdh-anssi.conf"


def remote_target() -> tuple[str, int] | None:
    """Host data `log_remote` ("host:port") or None when no forwarding is configured."""
    value = host.data.get("log_remote")
    if not value:
        return None
    target, _, port = str(value).rpartition(":")
    if not target or not port.isdigit():
        raise OperationError(f"log_remote must be host:port, got {value!r}")
    return target, int(port)


def rsyslog_config(s: dict, remote: tuple[str, int] | None, ca_file: str | None) -> str:
    lines = [
        "# Managed by hdh hardening (ANSSI BP-028 R71): do not edit.",
        f"$FileCreateMode {s['rsyslog.FileCreateMode'].value}",
    ]
    if remote:
        tls = ""
        if ca_file:
            lines.append(f'global(DefaultNetstreamDriverCAFile="{ca_file}")')
            tls = ' StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"'
        lines.append(
            f'*.* action(type="omfwd" target="{remote[0]}" port="{remote[1]}" '
            f'protocol="{s["rsyslog.protocol"].value}"{tls} '
            f'queue.type="{s["rsyslog.queue"].value}" queue.filename="hdh_forward" '
            'queue.saveOnShutdown="on" action.resumeRetryCount="-1")'
        )
    return "\n".join(lines) + "\n"


@deploy("Logging (R71 R72)")
def logging_system() -> None:
    s = settings("logging")
    journald = {k.split(".", 1)[1]: v.value for k, v in s.items() if k.startswith("journald.")}
    ops.validated_file(
        name="R71 journald persistent storage",
        path=JOURNALD_DROP_IN,
        content="[Journal]\n" + "".join(f"{k}={v}\n" for k, v in journald.items()),
        activate="systemctl restart systemd-journald.service",
    )
    remote = remote_target()
    what = f"forwarding to {remote[0]}:{remote[1]}" if remote else "no remote forwarding"
    ops.validated_file(
        name=f"R71 rsyslog file modes and {what}",
        path=RSYSLOG_DROP_IN,
        content=rsyslog_config(s, remote, host.data.get("log_remote_ca")),
        check_after="rsyslogd -N1 >/dev/null",
        activate="systemctl restart rsyslog.service",
    )
    ops.unit_running(name="R71 rsyslog enabled and running", unit="rsyslog.service")
