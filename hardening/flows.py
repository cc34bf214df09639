"""The services tier's flows in the host firewall: each opened to its sources only (R80)."""

from __future__ import annotations

import ipaddress
from typing import Any

from hardening import tier


def rules(hdata: Any, is_services: bool) -> list[str]:
    """nftables input rules for this host (none when it is not wired to a services tier):
    data/services_tier.yaml `flows`, with the inventory's ports, networks and addresses."""
    ports = hdata.get("services_ports")
    if not ports:
        return []
    # Overlapping networks make nft refuse the set ("conflicting intervals"): merge them first.
    nets = [ipaddress.IPv4Network(n) for n in hdata.get("services_networks") or []]
    sources = {
        "clients": [str(n) for n in ipaddress.collapse_addresses(nets)],
        "services": [s["address"] for s in hdata.get("services_hosts") or []],
    }
    out = []
    for f in tier.settings()["flows"]:
        if f["to"] == "services" and not is_services:
            continue
        port = ports[f["port"]] if isinstance(f["port"], str) else int(f["port"])
        src = ", ".join(sources[f["from"]])
        out.append(f"ip saddr {{ {src} }} {f['proto']} dport {port} accept")
    return out
