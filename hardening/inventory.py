"""pyinfra inventory from the platform's stack outputs, the bastion as SSH jump host."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ground.errors import ConfigError, ConfigErrors, InputError
from hardening import data, tier
from hardening.run import HostSpec

BASTION = "bastion"
# The platform names hosts by what they do (components/platform.py, k8s_cluster.py); hardening by
# how they are hardened (hardening/data/roles.yaml).
PLATFORM_ROLES = {
    "services": "services",
    "data": "data-host",
    "k8s-control": "k8s-node",
    "k8s-worker": "k8s-node",
}


def load_outputs(path: Path) -> dict[str, Any]:
    """The `inventory` stack output from `pulumi stack output --json` (or the bare dict)."""
    stdin = (
        str(path) == "-"
    )  # `pulumi stack output --json --show-secrets | hdh harden --inventory -`
    try:
        text = sys.stdin.read() if stdin else path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read inventory: {exc.strerror}") from None
    try:
        doc = json.loads(text) if stdin or path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid JSON/YAML: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("inventory"), dict):
        secret = doc.get("backupCredentialSecret")  # with --show-secrets only
        doc = doc["inventory"]
        if (
            isinstance(doc.get("backups"), dict)
            and isinstance(secret, str)
            and secret != "[secret]"
        ):
            doc["backups"]["credentialSecret"] = secret
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
    errors += tier.check_inventory(str(path), doc)
    if errors:
        raise ConfigErrors(errors)


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
        address, port = h["address"], int(h.get("port", 22))
        if bastion and h.get("role") == "bastion" and "port" not in h:
            # The bastion's row gives its address inside the platform; from outside it is
            # reached where the `bastion` entry says (its floating IP).
            address, port = bastion["address"], int(bastion.get("port", 22))
        out += [f"Host {h['name']}", f"  HostName {address}"]
        out += [f"  Port {port}", *common]
        same = (address, port) == (
            bastion and bastion["address"],
            bastion and int(bastion.get("port", 22)),
        )
        if bastion and h.get("role") != "bastion" and not same:
            out.append(f"  ProxyJump {BASTION}")
        out.append("")
    return "\n".join(out)


def bastion_first(doc: dict[str, Any], h: dict[str, Any]) -> bool:
    """The jump host's firewall goes first, alone, before any host is reached through it: its
    first load starts connection tracking, which cannot follow the jumps already open through it
    (their replies are dropped as invalid and those hosts' runs stall). Its other areas run with
    the others (it uses the services tier like them)."""
    return bool(doc.get("bastion")) and h.get("role") == "bastion"


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
    wiring = tier.wiring(doc, extra)  # the services tier, when the inventory has one
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
        hdata.update(wiring.get(h["name"], {}))
        if bastion_first(doc, h):
            hdata["hdh_first"] = ["firewall"]
        hdata.update(host_data or {})
        hosts.append((h["name"], hdata))
    return hosts
