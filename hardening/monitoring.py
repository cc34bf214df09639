"""Monitoring: the node exporter on every host, Prometheus and Alertmanager on the services hosts
with the platform's alert rules (data/services_tier.yaml)."""

from __future__ import annotations

from typing import Any

import yaml
from pyinfra import host
from pyinfra.api import deploy

from hardening import certificates, ops, tier, tierops
from hardening.common import role_name
from hardening.facts import HostKind

EXPORTER_DEFAULTS = "/etc/default/prometheus-node-exporter"
HOST_INFO = "/var/lib/prometheus/node-exporter/hdh_host.prom"
PROMETHEUS_CONF = "/etc/prometheus/prometheus.yml"
RULES = "/etc/prometheus/hdh-alerts.yml"
PROMETHEUS_DEFAULTS = "/etc/default/prometheus"
ALERTMANAGER_CONF = "/etc/prometheus/alertmanager.yml"
ALERTMANAGER_DEFAULTS = "/etc/default/prometheus-alertmanager"
PROMETHEUS_PORT, ALERTMANAGER_PORT = 9090, 9093  # both on loopback only
MANAGED = "# Managed by hdh hardening (services tier, docs/services.md): do not edit."


def _yaml(doc: Any) -> str:
    return MANAGED + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def exporter_args(hdata: Any) -> str:
    units = tier.settings()["monitoring"]["units"]
    # [.] rather than \. : the value goes through systemd's EnvironmentFile parser.
    pattern = "(" + "|".join(u.removesuffix(".service") for u in units) + ")[.]service"
    args = [
        f"--web.listen-address={hdata['host_address']}:{hdata['services_ports']['metrics']}",
        "--collector.systemd",
        f"--collector.systemd.unit-include={pattern}",
        "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
    ]
    return f'{MANAGED}\nARGS="{" ".join(args)}"\n'


def host_info(kind: str, role: str) -> str:
    return (
        "# HELP hdh_host_info What the hardening knows of this host (kind: container, vm, none).\n"
        "# TYPE hdh_host_info gauge\n"
        f'hdh_host_info{{kind="{kind}",role="{role}"}} 1\n'
    )


def prometheus_config(hdata: Any) -> str:
    mon = tier.settings()["monitoring"]
    port = hdata["services_ports"]["metrics"]
    return _yaml(
        {
            "global": {
                "scrape_interval": mon["scrape_interval"],
                "evaluation_interval": mon["evaluation_interval"],
                "external_labels": {"stack": hdata["services_stack"]},
            },
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}
                ]
            },
            "rule_files": [RULES],
            "scrape_configs": [
                {
                    "job_name": "node",
                    "static_configs": [
                        {
                            "targets": [f"{h['address']}:{port}"],
                            "labels": {"host": h["name"], "role": h["role"], "tier": h["tier"]},
                        }
                        for h in hdata["services_fleet"]
                    ],
                }
            ],
        }
    )


def alert_rules() -> str:
    mon = tier.settings()["monitoring"]
    rules = [
        {
            "alert": a["name"],
            "expr": a["expr"],
            "for": a["for"],
            "labels": {"severity": a["severity"]},
            "annotations": {"summary": a["summary"]},
        }
        for a in mon["alerts"]
    ]
    return _yaml({"groups": [{"name": "hdh-platform", "rules": rules}]})


def alertmanager_config() -> str:
    mon = tier.settings()["monitoring"]
    receiver = dict(mon["receiver"])
    return _yaml(
        {
            "route": {
                "receiver": receiver["name"],
                "group_by": list(mon["group_by"]),
                "repeat_interval": mon["repeat_interval"],
            },
            "receivers": [receiver],
        }
    )


def defaults(args: list[str]) -> str:
    return f'{MANAGED}\nARGS="{" ".join(args)}"\n'


@deploy("Monitoring")
def monitoring() -> None:
    if not certificates.wired():
        return
    is_services = role_name() == tier.SERVICES_ROLE
    where = "from the services tier" if is_services else "through the services tier's cache"
    tierops.fetched_packages(
        name=f"node exporter installed ({where})", packages=["prometheus-node-exporter"]
    )
    restart = "systemctl restart prometheus-node-exporter.service"
    ops.validated_file(
        name="node exporter on the host's address, units and textfile metrics",
        path=EXPORTER_DEFAULTS,
        content=exporter_args(tier.wiring_of(host.data)),
        activate=restart,
    )
    ops.validated_file(
        name="what the hardening knows of the host, as a metric",
        path=HOST_INFO,
        content=host_info(host.get_fact(HostKind), role_name()),
    )
    ops.unit_running(name="node exporter running", unit="prometheus-node-exporter.service")
    if is_services:
        _prometheus()


def _prometheus() -> None:
    mon = tier.settings()["monitoring"]
    tierops.fetched_packages(
        name="Prometheus and Alertmanager installed",
        packages=["prometheus", "prometheus-alertmanager"],
    )
    ops.validated_file(
        name="alert rules of the platform",
        path=RULES,
        content=alert_rules(),
        validate="promtool check rules {} >/dev/null",
        activate="systemctl try-reload-or-restart prometheus.service",
    )
    ops.validated_file(
        name="Prometheus scrapes every host of the inventory",
        path=PROMETHEUS_CONF,
        content=prometheus_config(tier.wiring_of(host.data)),
        validate="promtool check config {} >/dev/null",
        activate="systemctl try-reload-or-restart prometheus.service",
    )
    ops.validated_file(
        name=f"Prometheus on loopback, {mon['retention']} kept",
        path=PROMETHEUS_DEFAULTS,
        content=defaults(
            [
                f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
                f"--storage.tsdb.retention.time={mon['retention']}",
            ]
        ),
        activate="systemctl restart prometheus.service",
    )
    ops.unit_running(name="Prometheus running", unit="prometheus.service")
    ops.validated_file(
        name="Alertmanager routes",
        path=ALERTMANAGER_CONF,
        content=alertmanager_config(),
        validate="amtool check-config {} >/dev/null",
        activate="systemctl try-reload-or-restart prometheus-alertmanager.service",
    )
    ops.validated_file(
        name="Alertmanager on loopback, no cluster port",
        path=ALERTMANAGER_DEFAULTS,
        content=defaults(
            [f"--web.listen-address=127.0.0.1:{ALERTMANAGER_PORT}", "--cluster.listen-address="]
        ),
        activate="systemctl restart prometheus-alertmanager.service",
    )
    ops.unit_running(name="Alertmanager running", unit="prometheus-alertmanager.service")
