"""pyinfra inventory from the platform's stack outputs, the bastion as SSH jump host.

An inventory is input like any other: every field is checked before anything is written or run
(host names, addresses, ports, users), and connection settings reach pyinfra as host data, not as
text. The one file written, an ssh_config for the jump through the bastion (pyinfra reads jumps
from there only), holds nothing but checked values and quoted paths.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from ground.errors import ConfigError, ConfigErrors, InputError
from ground.loader import load
from ground.names import DEPLOY_USER, is_host, is_port, is_user_name
from hardening import data, tier
from hardening.run import HostSpec

BASTION = "hdh-bastion"  # the jump host's alias in the ssh_config (not an inventory name)
# The platform names hosts by what they do (components/platform.py, k8s_cluster.py); hardening by
# how they are hardened (hardening/data/roles.yaml).
PLATFORM_ROLES = {
    "services": "services",
    "data": "data-host",
    "k8s-control": "k8s-control",
    "k8s-worker": "k8s-worker",
}
K8S_ROLES = ("k8s-control", "k8s-worker")
# pyinfra reads a leading "@" as a connector (@local would harden this machine): names are plain.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def load_outputs(path: Path) -> dict[str, Any]:
    """The `inventory` stack output from `pulumi stack output --json` (or the bare dict)."""
    where = str(path)
    try:
        doc = load(path, "json" if path.suffix == ".json" else "yaml", where)
    except ConfigError as exc:
        raise InputError(str(exc).replace(": cannot read:", ": cannot read inventory:")) from None
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
    _validate(where, doc)
    for h in doc["hosts"]:
        if h["role"] in PLATFORM_ROLES:
            h["platform_role"] = h["role"]
            h["role"] = PLATFORM_ROLES[h["role"]]
    return doc


def _validate(path: str, doc: dict[str, Any]) -> None:
    """Every field pyinfra or ssh will read, checked; values are never echoed (they may be
    hostile: a newline and a ProxyCommand in an address once ran a command)."""
    errors: list[ConfigError] = []

    def bad(key: str, msg: str) -> None:
        errors.append(ConfigError(path, key, msg))

    def check_endpoint(h: dict[str, Any], key: str) -> None:
        if not is_host(h.get("address")):
            bad(f"{key}.address", "missing" if not h.get("address") else "not a host or IP")
        if "port" in h and not is_port(h["port"]):
            bad(f"{key}.port", "expected an integer from 1 to 65535")
        if "user" in h and not is_user_name(h["user"]):
            bad(f"{key}.user", "not a user name (lower case, digits, _ and -, 32 at most)")

    if "user" in doc and not is_user_name(doc["user"]):
        bad("user", "not a user name (lower case, digits, _ and -, 32 at most)")
    bastion = doc.get("bastion")
    if bastion is not None:
        if isinstance(bastion, dict):
            check_endpoint(bastion, "bastion")
        else:
            bad("bastion", "must be a mapping")
    known = set(data.roles()) | set(PLATFORM_ROLES)
    names: set[str] = set()
    for i, h in enumerate(doc["hosts"]):
        if not isinstance(h, dict):
            bad(f"hosts[{i}]", "must be a mapping")
            continue
        name = h.get("name")
        if not name:
            bad(f"hosts[{i}].name", "missing")
        elif not isinstance(name, str) or not HOST_NAME.fullmatch(name):
            bad(f"hosts[{i}].name", "not a host name (letters, digits, '.', '_', '-')")
        elif name in names:
            bad(f"hosts[{i}].name", "duplicate host name")
        else:
            names.add(name)
        check_endpoint(h, f"hosts[{i}]")
        role = h.get("role")
        if not role:
            bad(f"hosts[{i}].role", "missing")
        elif role not in known:
            bad(f"hosts[{i}].role", f"unknown role (known: {sorted(known)})")
        for key in ("tier", "bubble"):
            if h.get(key) and not (isinstance(h[key], str) and LABEL.fullmatch(h[key])):
                bad(f"hosts[{i}].{key}", "not a label (a-z, 0-9, '-')")
        if role in K8S_ROLES and is_host(h.get("address")) and not _is_ip(h["address"]):
            # It becomes a firewall source of the other nodes: an address, nothing else.
            bad(f"hosts[{i}].address", "a Kubernetes node's address must be an IPv4 address")
    k8s = doc.get("kubernetes", {})
    clients = k8s.get("apiClients", []) if isinstance(k8s, dict) else None
    if not isinstance(clients, list):
        bad("kubernetes.apiClients", "must be a list of CIDRs")
    else:
        for i, cidr in enumerate(clients):
            if not _is_network(cidr):
                bad(f"kubernetes.apiClients[{i}]", "not an IPv4 CIDR")
    if not errors:  # the services tier's section, once the hosts are sound
        errors += tier.check_inventory(path, doc)
    if errors:
        raise ConfigErrors(errors)


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return False
    return True


def _is_network(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Network(value)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError, TypeError):
        return False
    return True


def user_of(doc: dict[str, Any], host: dict[str, Any], override: str | None = None) -> str:
    """Who to log in as: --ssh-user, else the host's, the inventory's, the bastion's, default."""
    bastion = doc.get("bastion") or {}
    return str(
        override or host.get("user") or doc.get("user") or bastion.get("user") or DEPLOY_USER
    )


def ssh_config(
    doc: dict[str, Any],
    user: str | None,
    key: str | None,
    known_hosts: str | None = None,
    host_key_check: str | None = None,
    proxy_command_from: str | None = None,
) -> str:
    """The OpenSSH client config of an inventory: one block per host, named as the inventory
    names it, and the jump host; hosts behind the bastion are reached through it.

    `proxy_command_from` (this file's own path) makes that jump a `ProxyCommand ssh -F <it> -W`
    instead of ProxyJump, for clients that know only ProxyCommand (testinfra's paramiko).

    Blocks are keyed by host name, never by address: two hosts may share an address (a
    bastion reached on a forwarded port of 127.0.0.1 and a host behind it on its own
    127.0.0.1:22), and an address pattern would send the bastion through itself. pyinfra,
    testinfra (`ssh://<name>`) and `ssh -F` all connect to the name. Every value is checked
    (names and addresses by load_outputs, again here) and quoted; nothing else is written.
    """
    if host_key_check and host_key_check not in ("yes", "accept-new", "no"):
        raise InputError(f"StrictHostKeyChecking {host_key_check!r}: yes, accept-new or no")
    common = []
    # The jump is opened from this file only: its key and host-key settings must be here.
    if key:
        common += [f"  IdentityFile {quoted_path(key)}", "  IdentitiesOnly yes"]
    if known_hosts:
        common.append(f"  UserKnownHostsFile {quoted_path(known_hosts)}")
    if host_key_check:
        common.append(f"  StrictHostKeyChecking {host_key_check}")
    out: list[str] = []
    bastion = doc.get("bastion")
    if bastion:
        out += _block(BASTION, bastion, user_of(doc, bastion, user), common)
    for h in doc["hosts"]:
        name = _checked_name(h["name"])
        if bastion and name == BASTION and h.get("role") == "bastion":
            continue  # the platform's own bastion row: the jump's block above serves it
        jump = [_jump(proxy_command_from)] if _behind(doc, h) else []
        out += _block(name, _endpoint(doc, h), user_of(doc, h, user), [*common, *jump])
    return "\n".join(out)


def _jump(proxy_command_from: str | None) -> str:
    if proxy_command_from is None:
        return f"  ProxyJump {BASTION}"
    return f"  ProxyCommand ssh -F {quoted_path(proxy_command_from)} -W %h:%p {BASTION}"


def _block(alias: str, h: dict[str, Any], login: str, extra: list[str]) -> list[str]:
    if not is_user_name(login):
        raise InputError(f"inventory: {alias}: the user is not a user name")
    lines = [f"Host {alias}", f'  HostName "{_checked_host(h["address"])}"']
    lines += [f"  Port {int(h.get('port', 22))}", f'  User "{login}"', *extra]
    return [*lines, ""]


def _endpoint(doc: dict[str, Any], h: dict[str, Any]) -> dict[str, Any]:
    """Where `h` is reached from here: the bastion's row at the bastion entry's endpoint (its
    row carries the private address), every other host at its own address."""
    bastion = doc.get("bastion")
    return bastion if bastion and h.get("role") == "bastion" else h


def _checked_name(value: Any) -> str:
    if not isinstance(value, str) or not HOST_NAME.fullmatch(value):
        raise InputError("inventory: a host name is not letters, digits, '.', '_' or '-'")
    return value


def _behind(doc: dict[str, Any], h: dict[str, Any]) -> bool:
    bastion = doc.get("bastion")
    if not bastion or h.get("role") == "bastion":
        return False
    same = (h["address"], int(h.get("port", 22))) == (
        bastion["address"],
        int(bastion.get("port", 22)),
    )
    return not same


def _checked_host(value: Any) -> str:
    if not is_host(value):  # load_outputs checked it; this guards direct callers
        raise InputError("inventory: an address is not a host name or IP address")
    return str(value)


def quoted_path(path: str) -> str:
    """A path as an ssh_config value: quoted, and refused if quoting could not hold it."""
    if any(c in path for c in '"%') or not path.isprintable() or not path:
        raise InputError("a key or known_hosts path holds a quote, '%' or a control character")
    return f'"{path}"'


def bastion_first(doc: dict[str, Any], h: dict[str, Any]) -> bool:
    """The jump host's firewall goes first, alone, before any host is reached through it: its
    first load starts connection tracking, which cannot follow the jumps already open through it
    (their replies are dropped as invalid and those hosts' runs stall). Its other areas run with
    the others (it uses the services tier like them)."""
    return bool(doc.get("bastion")) and h.get("role") == "bastion"


def build(
    doc: dict[str, Any],
    workdir: Path,
    user: str | None = None,
    key: str | None = None,
    role: str | None = None,
    host_data: dict[str, Any] | None = None,
) -> list[HostSpec]:
    """pyinfra hosts [(name, data)] for `doc` (checked by load_outputs), connection settings as
    host data; writes `workdir/ssh_config` for the jump through the bastion."""
    if user is not None and not is_user_name(user):
        raise InputError("--ssh-user: not a user name (lower case, digits, _ and -, 32 at most)")
    extra = host_data or {}
    text = ssh_config(
        doc,
        user,
        key,
        extra.get("ssh_known_hosts_file"),
        extra.get("ssh_strict_host_key_checking"),
    )
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "ssh_config"
    cfg.write_text(text)
    hosts: list[HostSpec] = []
    sources = k8s_sources(doc)
    wiring = tier.wiring(doc, extra)  # the services tier, when the inventory has one
    for h in doc["hosts"]:
        if role and h["role"] != role:
            continue
        login = user_of(doc, h, user)
        hdata: dict[str, Any] = {
            # Read by pyinfra as values, never parsed as config text.
            # The host's block of our ssh_config (HostName, Port, ProxyJump): its name.
            "ssh_hostname": _checked_name(h["name"]),
            "ssh_port": int(_endpoint(doc, h).get("port", 22)),
            "ssh_user": login,
            # Always our file, so the user's ~/.ssh/config cannot redirect the connection.
            "ssh_config_file": str(cfg),
            "deploy_user": login,
            "hdh_role": h["role"],
            "hdh_tier": h.get("tier"),
            "hdh_bubble": h.get("bubble"),
        }
        if key:
            hdata["ssh_key"] = key
        if h["role"] in K8S_ROLES:
            hdata["hdh_k8s_sources"] = sources
        hdata.update(wiring.get(h["name"], {}))
        if bastion_first(doc, h):
            hdata["hdh_first"] = ["firewall"]
        hdata.update(extra)
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
