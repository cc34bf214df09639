"""R80: nftables drops inbound by default, SSH allowed; nothing else listens outside loopback."""

from __future__ import annotations

import re
from typing import Any

from hardening.firewall import allow_rules


def test_r80_input_policy_drop(host: Any, expect: Any) -> None:
    policy = expect("firewall", "input_policy")
    out = host.run("nft list table inet hdh_filter")
    assert out.rc == 0, out.stderr
    assert re.search(rf"hook input priority filter; policy {policy};", out.stdout), out.stdout
    ports = ", ".join(map(str, expect("firewall", "tcp_ports")))
    assert (
        f"tcp dport {{ {ports} }} accept" in out.stdout or f"tcp dport {ports} accept" in out.stdout
    )
    assert host.service("nftables").is_enabled


def restricted_ports(ruleset: str) -> set[int]:
    """TCP ports the live ruleset opens to listed sources only (the services tier's flows)."""
    return {
        int(port)
        # nft prints a one-element set as the element alone.
        for port in re.findall(r"ip saddr (?:\{[^}]+\}|\S+) tcp dport (\d+) accept", ruleset)
    }


def test_r80_listening_services(host: Any, expect: Any) -> None:
    ruleset = host.run("nft list table inet hdh_filter").stdout
    # Open to all: the role's ports; to listed sources only: the Kubernetes ports (the API,
    # etcd, the kubelet, BGP) and the services tier's flows.
    allowed = {int(p) for p in expect("firewall", "tcp_ports")} | restricted_ports(ruleset)
    allowed |= {int(p) for r in allow_rules(expect("firewall", "allow")) for p in r["ports"]}
    out = host.run("ss -Htln").stdout
    exposed = set()
    for line in out.splitlines():
        local = line.split()[3]
        addr, _, port = local.rpartition(":")
        if addr.strip("[]") not in ("127.0.0.1", "::1") and not addr.startswith("127."):
            exposed.add(int(port))
    assert exposed <= allowed, f"listening outside loopback beyond {allowed}: {exposed - allowed}"
