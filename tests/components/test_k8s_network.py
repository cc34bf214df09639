"""Security groups of a kubeadm cluster, evaluated like Neutron: exactly the table's flows open.

A flow from host A to host B on (protocol, port) passes when one of A's groups has an egress
rule towards B (B's group, or a prefix holding B's tier) and one of B's groups has the matching
ingress rule from A. Every pair of host kinds is probed on every port that matters.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pytest

from components.config import load_stack
from components.k8s_network import member_flows
from hdh.plan import Plan, PlannedResource
from tests.components.conftest import of_type, planned

STACK = "ovh-sbg"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
# Host kind -> (its port's name in the plan, its tier for prefix rules)
HOSTS = {
    "control": ("hdh-k8s-control0-port", "processing"),
    "control-peer": ("hdh-k8s-control1-port", "processing"),
    "worker": ("hdh-k8s-worker0-port", "processing"),
    "bastion": ("hdh-bastion-port", "admin"),
    "bubble": ("bubble-demo-cardio-ws0-port", "bubble"),
    "data": ("hdh-data0-port", "data"),
    "services": ("hdh-services0-port", "services"),
}
PROBES: list[tuple[str, int | None]] = [
    ("tcp", p) for p in (22, 179, 2379, 2380, 6443, 10250, 10256, 10257, 10259, 30080)
]
PROBES += [("udp", 4789), ("udp", 8472), ("ipip", None)]


def _groups(plan: Plan) -> dict[str, set[str]]:
    ports = {p.name: p for p in of_type(plan, "openstack:networking/port:Port")}
    return {kind: set(ports[name].inputs["securityGroupIds"]) for kind, (name, _) in HOSTS.items()}


def _tier(cfg: Any, kind: str) -> IPv4Network:
    tier = HOSTS[kind][1]
    if tier == "bubble":
        return cfg.bubbles[0].cidr
    return getattr(cfg.settings.tiers, tier)


def _covers(rule: PlannedResource, proto: str, port: int | None) -> bool:
    i = rule.inputs
    if i.get("protocol") not in (None, "", proto):
        return False
    lo, hi = i.get("portRangeMin"), i.get("portRangeMax")
    return port is None or lo is None or hi is None or lo <= port <= hi


def _matches(rule: PlannedResource, groups: set[str], net: IPv4Network) -> bool:
    i = rule.inputs
    if i.get("remoteGroupId"):
        return i["remoteGroupId"] in groups
    if i.get("remoteIpPrefix"):
        return net.subnet_of(IPv4Network(i["remoteIpPrefix"]))
    return True  # neither: any source (the platform never builds one)


def allowed(plan: Plan, src: str, dst: str, proto: str, port: int | None) -> bool:
    cfg = load_stack(STACK)
    groups = _groups(plan)
    rules = [r for r in of_type(plan, RULE) if _covers(r, proto, port)]
    out = any(
        r.inputs["direction"] == "egress"
        and r.inputs["securityGroupId"] in groups[src]
        and _matches(r, groups[dst], _tier(cfg, dst))
        for r in rules
    )
    into = any(
        r.inputs["direction"] == "ingress"
        and r.inputs["securityGroupId"] in groups[dst]
        and _matches(r, groups[src], _tier(cfg, src))
        for r in rules
    )
    return out and into


def expected() -> set[tuple[str, str, str, int | None]]:
    """(src, dst, proto, port) that must pass: the port table, the API's clients, SSH."""
    kinds = {"control": "control", "control-peer": "control", "worker": "nodes"}
    flows: set[tuple[str, str, str, int | None]] = set()
    for src in HOSTS:
        for dst in HOSTS:
            if src == dst:
                continue
            for f in member_flows():
                src_ok = src in kinds and (f.source == "nodes" or kinds[src] == "control")
                dst_ok = dst in kinds and (f.target == "nodes" or kinds[dst] == "control")
                if src_ok and dst_ok:
                    for proto, port in PROBES:
                        if proto != f.proto:
                            continue
                        if port is None or f.lo is None or f.hi is None or f.lo <= port <= f.hi:
                            flows.add((src, dst, proto, port))
            api_client = src in ("bastion", "bubble", "control", "control-peer", "worker")
            if api_client and dst in ("control", "control-peer"):
                flows.add((src, dst, "tcp", 6443))
            if src == "bastion" and dst != "bastion":
                flows.add((src, dst, "tcp", 22))
    return flows


@pytest.mark.parametrize("src", list(HOSTS))
def test_exactly_the_needed_flows_pass_the_security_groups(src: str) -> None:
    plan = planned(STACK)
    want = {f for f in expected() if f[0] == src}
    got = {
        (src, dst, proto, port)
        for dst in HOSTS
        if dst != src
        for proto, port in PROBES
        if allowed(plan, src, dst, proto, port)
    }
    # The services tier is reached on its own ports (proxy, NTP): not probed here.
    assert got - want == set(), f"open beyond the table: {sorted(got - want, key=str)}"
    assert want - got == set(), f"needed but closed: {sorted(want - got, key=str)}"


def test_the_evaluation_sees_a_wide_rule() -> None:
    """The checker is not blind: an any-protocol rule between nodes opens every probe."""
    plan = planned(STACK)
    groups = _groups(plan)
    (worker_group,) = groups["worker"] - groups["bastion"] - groups["data"]
    wide = [
        PlannedResource(urn=f"wide-{d}", type=RULE, name=f"wide-{d}", parent="", provider="",
                        custom=True, inputs={"direction": d, "securityGroupId": worker_group,
                                             "remoteGroupId": worker_group, "protocol": None})
        for d in ("ingress", "egress")
    ]  # fmt: skip
    widened = Plan(plan.stack, plan.profile, plan.region, [*plan.resources, *wide])
    assert allowed(widened, "worker", "control", "tcp", 2379)
    assert not allowed(plan, "worker", "control", "tcp", 2379)
