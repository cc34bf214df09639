"""kubeadm cluster members' security groups: exactly the ports of components/kubernetes.yaml."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.k8s_facts import NodeRole, node_ports

# Groups of the table's sources: control-plane hosts carry `control`, every node `nodes` (the
# processing tier's group: only cluster nodes are on that tier). api-clients flows (6443) are
# the API group's, built with the load balancer.
GROUP_OF = {"control-plane": "control", "nodes": "nodes"}


@dataclass(frozen=True, order=True)
class Flow:
    target: str  # group receiving: control | nodes
    source: str  # group sending: control | nodes
    proto: str  # tcp | udp | ipip
    lo: int | None  # port range, None for a protocol without ports
    hi: int | None
    why: str


def _ranges(ports: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for p in sorted(set(ports)):
        if out and p == out[-1][1] + 1:
            out[-1] = (out[-1][0], p)
        else:
            out.append((p, p))
    return out


def member_flows() -> list[Flow]:
    """Flows between members: a worker's ports on every node, the rest on control planes."""
    flows: set[Flow] = set()
    worker = node_ports("k8s-worker")
    seen = {(p.proto, tuple(p.ports), p.from_) for p in worker}
    targets: tuple[tuple[NodeRole, str], ...] = (
        ("k8s-worker", "nodes"),
        ("k8s-control", "control"),
    )
    for role, target in targets:
        for p in node_ports(role):
            if p.from_ not in GROUP_OF:
                continue
            if role == "k8s-control" and (p.proto, tuple(p.ports), p.from_) in seen:
                continue  # already open on every node, control planes included
            spans: list[tuple[int | None, int | None]] = list(_ranges(p.ports)) or [(None, None)]
            for lo, hi in spans:
                flows.add(Flow(target, GROUP_OF[p.from_], p.proto, lo, hi, p.why))
    return sorted(flows)


def member_rules(
    parent: pulumi.Resource, prefix: str, groups: dict[str, pulumi.Input[str]]
) -> list[openstack.networking.SecGroupRule]:
    """Ingress on the receiving group and the matching egress on the sending one, per flow."""
    opts = pulumi.ResourceOptions(parent=parent)
    out = []
    for f in member_flows():
        what = f"{f.target}-{f.proto}{'' if f.lo is None else f'-{f.lo}'}-from-{f.source}"
        for direction, sg, remote in (
            ("ingress", groups[f.target], groups[f.source]),
            ("egress", groups[f.source], groups[f.target]),
        ):
            out.append(
                openstack.networking.SecGroupRule(
                    f"{prefix}-{what}-{'in' if direction == 'ingress' else 'out'}",
                    description=f.why,
                    direction=direction,
                    ethertype="IPv4",
                    security_group_id=sg,
                    protocol=f.proto,
                    port_range_min=f.lo,
                    port_range_max=f.hi,
                    remote_group_id=remote,
                    opts=opts,
                )
            )
    return out
