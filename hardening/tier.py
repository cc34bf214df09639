"""The services tier: its data (data/services_tier.yaml), each host's wiring from the inventory."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from ground.errors import ConfigError, ConfigErrors
from hardening import data

DATA = "services_tier"
DATA_PATH = f"hardening/data/{DATA}.yaml"
# What goes into squid's, rsyslog's and Prometheus' configuration must be a plain name: a quote,
# a space or a newline from a careless (or hostile) inventory would rewrite those files.
DOMAIN = re.compile(
    r"^\.?(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]+$"
)
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$")
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
PORTS = ("proxyPort", "cachePort", "logPort", "metricsPort")
PORT_NAMES = ("proxy", "cache", "log", "metrics")  # the same ports, as flows name them
SERVICES_ROLE = "services"
NTP_PORT = 123  # chrony: the one flow whose port no stack changes
# Waves (hardening/run.py): the services hosts, then the hosts that use them (the bastion's
# firewall alone before both: inventory.bastion_first).
WAVE_SERVICES, WAVE_OTHERS = 1, 2


@dataclass(frozen=True)
class Ports:
    proxy: int
    cache: int
    log: int
    metrics: int


def settings() -> dict[str, Any]:
    """The services tier data (cached by data.load)."""
    return data.load(DATA)


def validate() -> None:
    """Schema-check data/services_tier.yaml; raise ConfigErrors listing every problem."""
    doc = settings()
    errors: list[ConfigError] = []

    def err(key: str, msg: str) -> None:
        errors.append(ConfigError(DATA_PATH, key, msg))

    for section in ("egress", "cache", "time", "logs", "pki", "monitoring"):
        if not isinstance(doc.get(section), dict):
            err(section, "missing section (a mapping)")
    if errors:
        raise ConfigErrors(errors)
    eg = doc["egress"]
    for i, d in enumerate(eg.get("allow_domains") or []):
        if not isinstance(d, str) or not DOMAIN.match(d):
            err(f"egress.allow_domains[{i}]", f"not a domain name: {d!r}")
    for i, n in enumerate(eg.get("allow_networks") or []):
        if not _is_network(n):
            err(f"egress.allow_networks[{i}]", f"not an IPv4 address or CIDR: {n!r}")
    for key in ("connect_ports", "http_ports"):
        ports = eg.get(key)
        if not isinstance(ports, list) or not ports or not all(_is_port(p) for p in ports):
            err(f"egress.{key}", "a non-empty list of TCP ports (1-65535)")
    for key, section, name in (
        ("egress.log_retention_days", eg, "log_retention_days"),
        ("cache.keep_days", doc["cache"], "keep_days"),
        ("time.local_stratum", doc["time"], "local_stratum"),
        ("logs.retention_days", doc["logs"], "retention_days"),
        ("logs.heartbeat_minutes", doc["logs"], "heartbeat_minutes"),
        ("pki.certificate_days", doc["pki"], "certificate_days"),
        ("pki.renew_days", doc["pki"], "renew_days"),
    ):
        if not isinstance(section.get(name), int) or not 1 <= section[name] <= 3650:
            err(key, "an integer between 1 and 3650")
    if doc["pki"].get("renew_days", 0) >= doc["pki"].get("certificate_days", 0):
        err("pki.renew_days", "must be shorter than pki.certificate_days")
    for i, s in enumerate(doc["time"].get("upstream") or []):
        if not isinstance(s, str) or not (DOMAIN.match(s) or _is_network(s)):
            err(f"time.upstream[{i}]", f"not a host name or address: {s!r}")
    if doc["logs"].get("rotate") not in ("daily", "weekly", "monthly"):
        err("logs.rotate", "one of daily, weekly, monthly")
    if not str(doc["logs"].get("directory", "")).startswith("/var/log/"):
        err("logs.directory", "must be under /var/log/")
    mon = doc["monitoring"]
    for key in ("scrape_interval", "evaluation_interval", "retention"):
        if not DURATION.match(str(mon.get(key, ""))):
            err(f"monitoring.{key}", "a Prometheus duration (15s, 30d, ...)")
    units = mon.get("units") or []
    if not all(isinstance(u, str) and re.match(r"^[A-Za-z0-9@._-]+\.service$", u) for u in units):
        err("monitoring.units", "a list of systemd service names")
    if not isinstance(mon.get("receiver"), dict) or not mon["receiver"].get("name"):
        err("monitoring.receiver", "a mapping with a name (alertmanager.yml receiver format)")
    names = set()
    for i, a in enumerate(mon.get("alerts") or []):
        missing = {"name", "expr", "for", "severity", "summary"} - set(a or {})
        if missing:
            err(f"monitoring.alerts[{i}]", f"missing {sorted(missing)}")
            continue
        if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", str(a["name"])) or a["name"] in names:
            err(f"monitoring.alerts[{i}].name", f"a unique CamelCase name, not {a['name']!r}")
        names.add(a["name"])
        if not DURATION.match(str(a["for"])):
            err(f"monitoring.alerts[{i}].for", "a Prometheus duration (0m, 5m, ...)")
        if a["severity"] not in ("info", "warning", "critical"):
            err(f"monitoring.alerts[{i}].severity", "info, warning or critical")
    for i, f in enumerate(doc.get("flows") or []):
        where = f"flows[{i}]"
        if not isinstance(f, dict) or set(f) != {"what", "to", "from", "proto", "port"}:
            err(where, "{what, to, from, proto, port}")
            continue
        if f["to"] not in ("services", "all") or f["from"] not in ("clients", "services"):
            err(where, "to: services|all, from: clients|services")
        if f["proto"] not in ("tcp", "udp"):
            err(f"{where}.proto", "tcp or udp")
        if not (_is_port(f["port"]) or f["port"] in PORT_NAMES):
            err(f"{where}.port", f"a port number or one of {list(PORT_NAMES)}")
    if not doc.get("flows"):
        err("flows", "the services tier needs its flows")
    if errors:
        raise ConfigErrors(errors)


def _is_network(value: Any) -> bool:
    try:
        ipaddress.IPv4Network(str(value))
    except ValueError:
        return False
    return True


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def check_inventory(path: str, doc: dict[str, Any]) -> list[ConfigError]:
    """Problems of the inventory's `services` section and of the hosts it wires (names and
    addresses end up in generated configuration files: only plain names and IPv4 addresses)."""
    section = doc.get("services")
    if section is None:
        return []
    errors: list[ConfigError] = []
    if not isinstance(section, dict):
        return [ConfigError(path, "services", "must be a mapping")]
    for key in PORTS:
        if not _is_port(section.get(key)):
            errors.append(ConfigError(path, f"services.{key}", "a TCP port (1-65535)"))
    nets = section.get("clientNetworks")
    if not isinstance(nets, list) or not nets:
        errors.append(ConfigError(path, "services.clientNetworks", "a non-empty list of CIDRs"))
    else:
        for i, n in enumerate(nets):
            if not _is_network(n):
                errors.append(ConfigError(path, f"services.clientNetworks[{i}]", f"{n!r}: no CIDR"))
    for i, d in enumerate(section.get("egressAllow") or []):
        if not isinstance(d, str) or not (DOMAIN.match(d) or _is_network(d)):
            errors.append(
                ConfigError(path, f"services.egressAllow[{i}]", f"{d!r}: no domain or CIDR")
            )
    if not isinstance(section.get("egressAllow", []), list):
        errors.append(ConfigError(path, "services.egressAllow", "a list"))
    stack = section.get("stack", doc.get("stack", ""))
    if stack and not HOST_NAME.match(str(stack)):
        errors.append(ConfigError(path, "services.stack", f"{stack!r}: not a plain name"))
    hosts = [h for h in doc.get("hosts", []) if isinstance(h, dict)]
    if not any(h.get("role") == SERVICES_ROLE for h in hosts):
        errors.append(ConfigError(path, "services", "no host with role services in `hosts`"))
    for i, h in enumerate(hosts):  # names: checked by inventory._validate
        try:
            ipaddress.IPv4Address(str(h.get("address")))
        except ValueError:
            errors.append(
                ConfigError(path, f"hosts[{i}].address", "an IPv4 address (the services wiring)")
            )
    return errors


def ports(section: dict[str, Any]) -> Ports:
    return Ports(
        int(section["proxyPort"]),
        int(section["cachePort"]),
        int(section["logPort"]),
        int(section["metricsPort"]),
    )


def wiring(doc: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, dict]:
    """Host data per host name that wires it to the services tier ({} without a `services`
    section). Services hosts run the tier and go first (wave 1); the others use it (wave 2):
    proxy and package cache, time, logs over mutual TLS, metrics. Log options the operator gave
    (`overrides`: --log-remote for a collector of their own) win over the collector here."""
    section = doc.get("services")
    if not section:
        return {}
    overrides = overrides or {}
    p = ports(section)
    servers = [h for h in doc["hosts"] if h.get("role") == SERVICES_ROLE]
    primary = servers[0]
    everyone = [
        {"name": h["name"], "address": h["address"], "role": h["role"], "tier": h.get("tier")}
        for h in doc["hosts"]
    ]
    common = {
        "services_hosts": [{"name": s["name"], "address": s["address"]} for s in servers],
        "services_ports": {"proxy": p.proxy, "cache": p.cache, "log": p.log, "metrics": p.metrics},
        "services_networks": [str(n) for n in section["clientNetworks"]],
        "services_egress_allow": list(section.get("egressAllow") or []),
        "services_fleet": everyone,
        "services_stack": str(section.get("stack") or doc.get("stack") or "platform"),
    }
    out: dict[str, dict] = {}
    for h in doc["hosts"]:
        hdata: dict[str, Any] = {**common, "host_address": h["address"]}
        if h.get("role") == SERVICES_ROLE:
            hdata["hdh_wave"] = WAVE_SERVICES
            if h is primary and isinstance(doc.get("backups"), dict):
                hdata["services_backups"] = doc["backups"]  # the job runs on one host
        else:
            hdata["hdh_wave"] = WAVE_OTHERS
            hdata["ntp_servers"] = [s["address"] for s in servers]
            hdata["proxy_host"] = primary["address"]
            if "log_remote" not in overrides:
                hdata["log_remote"] = f"{primary['address']}:{p.log}"
                hdata["log_remote_name"] = primary["name"]
                hdata["log_remote_pki"] = True
        out[h["name"]] = hdata
    return out


WIRING_KEYS = (
    "services_hosts", "services_ports", "services_networks", "services_egress_allow",
    "services_fleet", "services_stack", "host_address", "proxy_host", "ntp_servers",
)  # fmt: skip


def wiring_of(hdata: Any) -> dict[str, Any]:
    """The services wiring of a host as a plain dict (pyinfra's host data answers `get` only)."""
    return {k: hdata.get(k) for k in WIRING_KEYS}


def validate_all() -> None:
    """Both the ANSSI data and the services tier data (what `hdh harden` checks first)."""
    errors: list[ConfigError] = []
    for check in (data.validate, validate):
        try:
            check()
        except ConfigErrors as exc:
            errors += exc.errors
    if errors:
        raise ConfigErrors(errors)
