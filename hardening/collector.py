"""The central log collector on the services hosts (rsyslog over mutual TLS, one directory per
host, rotation and retention) and every other host's heartbeat (R71)."""

from __future__ import annotations

import json
from typing import Any

from pyinfra import host
from pyinfra.api import deploy

from hardening import certificates, ops, tier
from hardening.common import role_name, settings

CONF = "/etc/rsyslog.d/10-hdh-collector.conf"
HOSTS_TABLE = "/etc/rsyslog.d/hdh-hosts.json"
LOGROTATE = "/etc/logrotate.d/hdh-collector"
FRESHNESS = "/usr/local/sbin/hdh-log-freshness"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
UNIT_DIR = "/etc/systemd/system"
MANAGED = "# Managed by hdh hardening (services tier, docs/services.md): do not edit."


def clients(hdata: Any) -> list[dict[str, str]]:
    """The hosts that forward to this collector: every host but the services hosts, and only to
    the first services host (the others stand by)."""
    servers = hdata["services_hosts"]
    if not servers or servers[0]["address"] != hdata.get("host_address"):
        return []
    names = {s["name"] for s in servers}
    return [h for h in hdata["services_fleet"] if h["name"] not in names]


def collector_config(hdata: Any, file_mode: str) -> str:
    directory = tier.settings()["logs"]["directory"]
    peers = ", ".join(f'"{h["name"]}"' for h in hdata["services_fleet"])
    return f"""{MANAGED}
# Mutual TLS: a client must show a certificate of the platform CA naming an inventory host
# (x509/name) with the clientAuth purpose; plain TCP is never accepted.
lookup_table(name="hdh_hosts" file="{HOSTS_TABLE}" reloadOnHUP="on")
template(name="hdh_per_host" type="string" string="{directory}/%$.host%/messages.log")
ruleset(name="hdh_remote") {{
  set $.host = lookup("hdh_hosts", $fromhost-ip);
  action(type="omfile" dynaFile="hdh_per_host" template="RSYSLOG_FileFormat"
         dirCreateMode="0750" fileCreateMode="{file_mode}" dirOwner="root" dirGroup="adm"
         fileOwner="root" fileGroup="adm")
  stop
}}
module(load="imtcp" MaxSessions="2000")
input(type="imtcp" port="{hdata["services_ports"]["log"]}" address="{hdata["host_address"]}"
      ruleset="hdh_remote" streamDriver.name="gtls" streamDriver.mode="1"
      streamDriver.authMode="x509/name" permittedPeer=[{peers}]
      streamDriver.CheckExtendedKeyPurpose="on"
      streamDriver.CAFile="{certificates.CA_FILE}"
      streamDriver.CertFile="{certificates.CERT}"
      streamDriver.KeyFile="{certificates.KEY}")
"""


def hosts_table(hdata: Any) -> str:
    """rsyslog lookup table: sender address -> inventory name (unknown senders are named so)."""
    table = [{"index": h["address"], "value": h["name"]} for h in hdata["services_fleet"]]
    doc = {"version": 1, "nomatch": "unknown-sender", "type": "string", "table": table}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def logrotate(file_mode: str) -> str:
    logs = tier.settings()["logs"]
    keep = logs["retention_days"]
    count = {"daily": keep, "weekly": max(1, keep // 7), "monthly": max(1, keep // 30)}
    return (
        f"{MANAGED}\n{logs['directory']}/*/messages.log {{\n\t{logs['rotate']}\n"
        f"\trotate {count[logs['rotate']]}\n\tmaxage {keep}\n\tcompress\n\tdelaycompress\n"
        f"\tmissingok\n\tnotifempty\n\tdateext\n\tcreate {file_mode} root adm\n"
        "\tsharedscripts\n\tpostrotate\n\t\t/usr/lib/rsyslog/rsyslog-rotate\n\tendscript\n}\n"
    )


def freshness_script(hdata: Any) -> str:
    """Age of the last line from each forwarding host, for Prometheus' textfile collector."""
    directory = tier.settings()["logs"]["directory"]
    names = " ".join(h["name"] for h in clients(hdata))
    metric = "hdh_log_last_received_timestamp_seconds"
    return f"""#!/bin/sh
{MANAGED}
# When the collector last wrote a line from each host ({metric}; 0: never).
set -eu
out={TEXTFILE_DIR}/hdh_logs.prom
mkdir -p {TEXTFILE_DIR}
{{
  echo '# HELP {metric} Time of the last log line the collector stored for the host.'
  echo '# TYPE {metric} gauge'
  for h in {names}; do
    t=$(stat -c %Y "{directory}/$h/messages.log" 2>/dev/null || echo 0)
    echo "{metric}{{source=\\"$h\\"}} $t"
  done
}} > "$out.tmp"
chmod 0644 "$out.tmp"
mv -f "$out.tmp" "$out"
"""


def timer(
    description: str, command: str, every: str | None = None, calendar: str | None = None
) -> tuple[str, str]:
    """A oneshot service and its timer: every `every` (after boot too), or at `calendar`
    (systemd OnCalendar; a run missed while the host was off happens at the next boot)."""
    service = f"[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\nExecStart={command}\n"
    when = (
        f"OnCalendar={calendar}\nPersistent=true\n"
        if calendar
        else f"OnBootSec=1min\nOnUnitActiveSec={every}\n"
    )
    timer_unit = (
        f"[Unit]\nDescription={description} ({calendar or every})\n\n[Timer]\n{when}"
        "AccuracySec=10s\n\n[Install]\nWantedBy=timers.target\n"
    )
    return service, timer_unit


def timer_units(
    name: str, description: str, command: str, every: str | None = None, calendar: str | None = None
) -> None:
    """Install and start `name`.service + `name`.timer (see `timer`)."""
    service, timer_unit = timer(description, command, every, calendar)
    reload = "systemctl daemon-reload"
    ops.validated_file(
        name=f"{description}: service", path=f"{UNIT_DIR}/{name}.service", content=service,
        activate=reload,
    )  # fmt: skip
    ops.validated_file(
        name=f"{description}: timer", path=f"{UNIT_DIR}/{name}.timer", content=timer_unit,
        activate=f"{reload} && systemctl restart {name}.timer",
    )  # fmt: skip
    ops.unit_running(name=f"{description}: timer enabled", unit=f"{name}.timer")


@deploy("Central logs (R71)")
def central_logs() -> None:
    if not certificates.wired():
        return
    logs = tier.settings()["logs"]
    if role_name() != tier.SERVICES_ROLE:
        minutes = int(logs["heartbeat_minutes"])
        timer_units(
            "hdh-log-heartbeat",
            "R71 log heartbeat",
            "/usr/bin/logger -p daemon.info -t hdh-heartbeat alive",
            every=f"{minutes}min",
        )
        return
    mode = str(settings("logging")["rsyslog.FileCreateMode"].value)
    ops.validated_file(
        name="R71 collector: sender addresses to inventory names",
        path=HOSTS_TABLE,
        content=hosts_table(tier.wiring_of(host.data)),
        activate="systemctl try-restart rsyslog.service",
    )
    ops.validated_file(
        name="R71 collector: syslog over mutual TLS, one directory per host",
        path=CONF,
        content=collector_config(tier.wiring_of(host.data), mode),
        check_after="rsyslogd -N1 >/dev/null",
        activate="systemctl restart rsyslog.service",
    )
    ops.validated_file(
        name=f"R71 collector: {logs['rotate']} rotation, {logs['retention_days']} days kept",
        path=LOGROTATE,
        content=logrotate(mode),
        validate="logrotate -d {} >/dev/null 2>&1",
    )
    ops.validated_file(
        name="R71 collector: freshness of each host's logs (metrics)",
        path=FRESHNESS,
        content=freshness_script(tier.wiring_of(host.data)),
        mode="0755",
    )
    timer_units("hdh-log-freshness", "R71 collector freshness", FRESHNESS, every="1min")
