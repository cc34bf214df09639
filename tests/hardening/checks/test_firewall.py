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


def test_r80_listening_services(host: Any, expect: Any) -> None:
    allowed = {int(p) for p in expect("firewall", "tcp_ports")}
    # Ports open to named sources only (Kubernetes nodes: the API, etcd, the kubelet, BGP).
    allowed |= {int(p) for r in allow_rules(expect("firewall", "allow")) for p in r["ports"]}
    out = host.run("ss -Htln").stdout
    exposed = set()
    for line in out.splitlines():
        local = line.split()[3]
        addr, _, port = local.rpartition(":")
        if addr.strip("[]") not in ("127.0.0.1", "::1") and not addr.startswith("127."):
            exposed.add(int(port))
    assert exposed <= allowed, f"listening outside loopback beyond {allowed}: {exposed - allowed}"
