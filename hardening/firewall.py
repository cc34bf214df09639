"""Host firewall with nftables: default drop inbound, SSH kept (ANSSI BP-028 R79 R80)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, deploy

from hardening import flows, ops, tier
from hardening.common import role_name, settings

NFT_FILE = "/etc/nftables.conf"
TABLE = "hdh_filter"
PROTOCOLS = {"tcp": 6, "udp": 17, "ipip": 4}  # numbers: names need /etc/protocols


def allow_rules(value: Any) -> list[dict[str, Any]]:
    """The `allow` setting: a list of {proto, ports, from}, or {kubernetes: <role>} naming the
    role's port table in components/kubernetes.yaml (the one the security groups use too)."""
    if isinstance(value, dict) and set(value) == {"kubernetes"}:
        from components.k8s_facts import node_ports

        return [
            {"proto": p.proto, "ports": list(p.ports), "from": p.from_}
            for p in node_ports(value["kubernetes"])
        ]
    return list(value or [])


def _sources(name: str, sources: Mapping[str, Sequence[str]]) -> str:
    addrs = sources.get(name) or []
    nets = []
    for a in addrs:
        try:
            net = ipaddress.IPv4Network(a)
            nets.append(str(net.network_address) if net.prefixlen == 32 else str(net))
        except ValueError:
            raise OperationError(f"R80: source {name}: {a!r} is not an IPv4 address") from None
    if not nets:
        raise OperationError(
            f"R80: no address for source {name!r}: the inventory names none "
            "(stack output inventory, hosts and kubernetes.apiClients)"
        )
    return "{ " + ", ".join(sorted(set(nets), key=lambda n: ipaddress.IPv4Network(n))) + " }"


def _allow(rule: Mapping[str, Any], sources: Mapping[str, Sequence[str]]) -> str:
    saddr = _sources(str(rule["from"]), sources)
    number = PROTOCOLS[str(rule["proto"])]
    ports = [int(p) for p in rule.get("ports") or []]
    if ports:
        if rule["proto"] not in ("tcp", "udp"):
            raise OperationError(f"R80: {rule['proto']} has no ports")
        return f"ip saddr {saddr} {rule['proto']} dport {{ {', '.join(map(str, ports))} }} accept"
    return f"ip saddr {saddr} meta l4proto {number} accept"


def ruleset(
    s: dict,
    ssh_port: int,
    sources: Mapping[str, Sequence[str]] | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The whole nftables file; `sources` name the addresses of the role's source-restricted
    ports (Kubernetes), `extra` are the services tier's flows (hardening/flows.py), both added
    after the role's open ports."""
    tcp = [int(p) for p in s["tcp_ports"].value]
    if ssh_port not in tcp:
        raise OperationError(
            f"R80: firewall tcp_ports {tcp} lack the SSH port {ssh_port}: refusing to lock out"
        )
    udp = [int(p) for p in s["udp_ports"].value]
    # Only our own table is replaced (declare, delete, recreate in one transaction): the rules
    # of a CNI or kube-proxy on k8s nodes are never flushed.
    rules = [
        "ct state established,related accept",
        "ct state invalid drop",
        'iifname "lo" accept',
    ]
    if s["icmp"].value:
        # Protocol numbers: names need /etc/protocols (netbase), absent from minimal images.
        rules += ["meta l4proto 1 accept", "meta l4proto 58 accept"]
    rules.append(f"tcp dport {{ {', '.join(map(str, tcp))} }} accept")
    if udp:
        rules.append(f"udp dport {{ {', '.join(map(str, udp))} }} accept")
    rules += [
        _allow(r, sources or {}) for r in allow_rules(s["allow"].value if "allow" in s else [])
    ]
    rules += extra
    body = "".join(f"\t\t{r}\n" for r in rules)
    drops = [
        str(ipaddress.IPv4Address(a))
        for a in (s["forward_drop"].value if "forward_drop" in s else [])
    ]
    forward = f"\t\tip daddr {{ {', '.join(drops)} }} drop\n" if drops else ""
    return (
        "#!/usr/sbin/nft -f\n"
        "# Managed by hdh hardening (ANSSI BP-028 R80): do not edit.\n"
        f"table inet {TABLE}\n"
        f"delete table inet {TABLE}\n"
        f"table inet {TABLE} {{\n"
        "\tchain input {\n"
        f"\t\ttype filter hook input priority filter; policy {s['input_policy'].value};\n"
        f"{body}"
        "\t}\n"
        "\tchain forward {\n"
        f"\t\ttype filter hook forward priority filter; policy {s['forward_policy'].value};\n"
        f"{forward}"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        "\t}\n"
        "}\n"
    )


@deploy("Host firewall (R80)")
def firewall() -> None:
    s = settings("firewall")
    # The port sshd listens on in the host (not the client-side port of a forward or a jump).
    ssh_port = int(host.data.get("sshd_port") or 22)
    ops.validated_file(
        name="R80 nftables: drop inbound except SSH and the role's ports",
        path=NFT_FILE,
        content=ruleset(
            s,
            ssh_port,
            host.data.get("hdh_k8s_sources") or {},
            flows.rules(host.data, role_name() == tier.SERVICES_ROLE),
        ),
        mode="0600",
        validate="nft -c -f {}",
        activate=f"nft -f {NFT_FILE}",
    )
    ops.unit_running(name="R80 nftables.service enabled at boot", unit="nftables.service")
