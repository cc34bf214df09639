"""Host firewall with nftables: default drop inbound, SSH kept (ANSSI BP-028 R79 R80)."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import OperationError, deploy

from hardening import flows, ops, tier
from hardening.common import role_name, settings

NFT_FILE = "/etc/nftables.conf"
TABLE = "hdh_filter"


def ruleset(s: dict, ssh_port: int, extra: Sequence[str] = ()) -> str:
    """The whole nftables file; `extra` are source-restricted rules (the services tier's
    flows, hardening/flows.py) added after the role's open ports."""
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
    rules += extra
    body = "".join(f"\t\t{r}\n" for r in rules)
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
        content=ruleset(s, ssh_port, flows.rules(host.data, role_name() == tier.SERVICES_ROLE)),
        mode="0600",
        validate="nft -c -f {}",
        activate=f"nft -f {NFT_FILE}",
    )
    ops.unit_running(name="R80 nftables.service enabled at boot", unit="nftables.service")
