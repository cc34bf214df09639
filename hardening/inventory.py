"""pyinfra inventory from the platform's stack outputs, the bastion as SSH jump host."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml

from ground.errors import ConfigError, ConfigErrors, InputError
from hardening import data
from hardening.run import HostSpec

BASTION = "bastion"
# The platform names hosts by what they do (components/platform.py, k8s_cluster.py); hardening by
# how they are hardened (hardening/data/roles.yaml).
PLATFORM_ROLES = {
    "services": "base",
    "data": "data-host",
    "k8s-control": "k8s-control",
    "k8s-worker": "k8s-worker",
}
K8S_ROLES = ("k8s-control", "k8s-worker")


def load_outputs(path: Path) -> dict[str, Any]:
    """The `inventory` stack output from `pulumi stack output --json` (or the bare dict)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read inventory: {exc.strerror}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid JSON/YAML: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("inventory"), dict):
        doc = doc["inventory"]
    if not isinstance(doc, dict) or not isinstance(doc.get("hosts"), list):
        raise InputError(f"{path}: expected the `inventory` stack output with a `hosts` list")
    for h in doc["hosts"]:
        if isinstance(h, dict) and h.get("role") in PLATFORM_ROLES:
            h["platform_role"] = h["role"]
            h["role"] = PLATFORM_ROLES[h["role"]]
    _validate(path, doc)
    return doc


def _validate(path: Path, doc: dict[str, Any]) -> None:
    errors = []
    known = set(data.roles())
    bastion = doc.get("bastion")
    if bastion is not None and not (isinstance(bastion, dict) and bastion.get("address")):
        errors.append(ConfigError(str(path), "bastion.address", "missing"))
    names = set()
    for i, h in enumerate(doc["hosts"]):
        if not isinstance(h, dict):
            errors.append(ConfigError(str(path), f"hosts[{i}]", "must be a mapping"))
            continue
        for key in ("name", "address", "role"):
            if not h.get(key):
                errors.append(ConfigError(str(path), f"hosts[{i}].{key}", "missing"))
        if h.get("role") and h["role"] not in known:
            errors.append(
                ConfigError(str(path), f"hosts[{i}].role", f"unknown role (known: {sorted(known)})")
            )
        if h.get("name") in names:
            errors.append(ConfigError(str(path), f"hosts[{i}].name", "duplicate host name"))
        names.add(h.get("name"))
        if h.get("role") in K8S_ROLES and h.get("address") and not _is_ip(h["address"]):
            # It becomes a firewall source of the other nodes: an address, nothing else.
            errors.append(ConfigError(str(path), f"hosts[{i}].address", "not an IP address"))
    k8s = doc.get("kubernetes", {})
    clients = k8s.get("apiClients", []) if isinstance(k8s, dict) else None
    if not isinstance(clients, list):
        errors.append(ConfigError(str(path), "kubernetes.apiClients", "must be a list of CIDRs"))
    else:
        for i, cidr in enumerate(clients):
            if not _is_network(cidr):
                errors.append(
                    ConfigError(str(path), f"kubernetes.apiClients[{i}]", "not an IPv4 CIDR")
                )
    if errors:
        raise ConfigErrors(errors)


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return False
    return True


def _is_network(value: Any) -> bool:
    try:
        ipaddress.IPv4Network(value)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        return False
    return True


def ssh_config(
    doc: dict[str, Any],
    user: str,
    key: str | None,
    known_hosts: str | None = None,
    host_key_check: str | None = None,
) -> str:
    """An OpenSSH client config: every host reached through the bastion unless it is one."""
    bastion = doc.get("bastion")
    common = [f"  User {user}"] + ([f"  IdentityFile {key}", "  IdentitiesOnly yes"] if key else [])
    # The jump itself is opened from this config only: host key settings must be here too.
    if known_hosts:
        common.append(f"  UserKnownHostsFile {known_hosts}")
    if host_key_check:
        common.append(f"  StrictHostKeyChecking {host_key_check}")
    out = []
    if bastion:
        out += [f"Host {BASTION}", f"  HostName {bastion['address']}"]
        out += [f"  Port {int(bastion.get('port', 22))}", *common, ""]
    for h in doc["hosts"]:
        out += [f"Host {h['name']}", f"  HostName {h['address']}"]
        out += [f"  Port {int(h.get('port', 22))}", *common]
        same = (h["address"], int(h.get("port", 22))) == (
            bastion and bastion["address"],
            bastion and int(bastion.get("port", 22)),
        )
        if bastion and h.get("role") != "bastion" and not same:
            out.append(f"  ProxyJump {BASTION}")
        out.append("")
    return "\n".join(out)


def build(
    doc: dict[str, Any],
    workdir: Path,
    user: str = "deploy",
    key: str | None = None,
    role: str | None = None,
    host_data: dict[str, Any] | None = None,
) -> list[HostSpec]:
    """pyinfra hosts [(name, data)] for `doc`; writes `workdir/ssh_config` for the jumps."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "ssh_config"
    extra = host_data or {}
    cfg.write_text(
        ssh_config(
            doc,
            user,
            key,
            extra.get("ssh_known_hosts_file"),
            extra.get("ssh_strict_host_key_checking"),
        )
    )
    hosts: list[HostSpec] = []
    sources = k8s_sources(doc)
    for h in doc["hosts"]:
        if role and h["role"] != role:
            continue
        hdata: dict[str, Any] = {
            "ssh_config_file": str(cfg),
            "ssh_user": user,
            "deploy_user": user,
            "hdh_role": h["role"],
            "hdh_tier": h.get("tier"),
            "hdh_bubble": h.get("bubble"),
        }
        if key:
            hdata["ssh_key"] = key
        if h["role"] in K8S_ROLES:
            hdata["hdh_k8s_sources"] = sources
        hdata.update(host_data or {})
        hosts.append((h["name"], hdata))
    return hosts


def k8s_sources(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Who the Kubernetes ports are open to (components/kubernetes.yaml names), as addresses.

    control-plane and nodes: the cluster's own hosts; api-clients: the CIDRs the platform
    lets reach the API (stack output `inventory.kubernetes.apiClients`).
    """
    hosts = [h for h in doc["hosts"] if h.get("role") in K8S_ROLES]
    k8s: dict[str, Any] = doc.get("kubernetes") or {}
    clients: list[Any] = k8s.get("apiClients") or []
    return {
        "control-plane": [h["address"] for h in hosts if h["role"] == "k8s-control"],
        "nodes": [h["address"] for h in hosts],
        "api-clients": [str(c) for c in clients],
    }
