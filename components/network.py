"""Network isolation: a network per tier, an edge router only for admin/services, closed groups."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_openstack as openstack

from components.tags import Labels

EDGE_TIERS = ("admin", "services")  # the only tiers routed to the external network
CORE_TIERS = ("data", "processing")  # routed only to each other, admin and services


def core_router_ip(cidr: IPv4Network) -> str:
    """The core router's address on an edge subnet: the last usable one, kept out of DHCP."""
    return str(cidr[-2])


def allocation_pool(cidr: IPv4Network) -> openstack.networking.SubnetAllocationPoolArgsDict:
    # DHCP hands out .2 .. last-2: .1 is the gateway, last-1 is kept for the core router.
    return {"start": str(cidr[2]), "end": str(cidr[-3])}


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    tiers: dict[str, IPv4Network]
    labels: Labels
    external_network_id: pulumi.Input[str]
    admin_cidrs: list[IPv4Network]  # who may reach the bastion on 22 (may be empty)
    # Destinations behind the core router that admin and services hosts must reach: data,
    # processing, the bubble pool and any bubble outside it (summarised: Neutron caps routes).
    core_destinations: list[IPv4Network]
    proxy_port: int
    services_ports: ServicePorts


@dataclass(frozen=True)
class ServicePorts:
    """The services tier's other ports (the proxy's is NetworkArgs.proxy_port)."""

    cache: int
    log: int
    metrics: int


class PlatformNetwork(pulumi.ComponentResource):
    network_ids: dict[str, pulumi.Output[str]]
    subnet_ids: dict[str, pulumi.Output[str]]
    core_router_id: pulumi.Output[str]
    edge_links: dict[str, openstack.networking.RouterInterface]
    """Edge subnets' router interfaces: Neutron refuses a floating IP on a port of a subnet
    before its router reaches the external network, so associations depend on these."""
    group_ids: dict[str, pulumi.Output[str]]
    """Security groups: bastion, managed, proxy-clients, services, data, processing."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hdh:network:PlatformNetwork", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        nets: dict[str, openstack.networking.Network] = {}
        subnets: dict[str, openstack.networking.Subnet] = {}
        for tier, cidr in args.tiers.items():
            tags = args.labels.with_(tier=tier).as_tags()
            nets[tier] = openstack.networking.Network(
                f"{name}-{tier}-net", port_security_enabled=True, tags=tags, opts=child
            )
            subnets[tier] = openstack.networking.Subnet(
                f"{name}-{tier}-subnet",
                network_id=nets[tier].id,
                cidr=str(cidr),
                ip_version=4,
                enable_dhcp=True,
                allocation_pools=[allocation_pool(cidr)],
                tags=tags,
                opts=child,
            )

        # Edge router: the only way out, for the admin (bastion) and services (proxy) tiers.
        edge = openstack.networking.Router(
            f"{name}-edge-router",
            external_network_id=args.external_network_id,
            tags=args.labels.with_(tier="admin").as_tags(),
            opts=child,
        )
        edge_links = {
            tier: openstack.networking.RouterInterface(
                f"{name}-edge-{tier}", router_id=edge.id, subnet_id=subnets[tier].id, opts=child
            )
            for tier in EDGE_TIERS
        }
        # Core router: no external gateway. Data, processing and bubbles reach admin and services
        # through it (SSH from the bastion, the services proxy) and nothing else.
        core = openstack.networking.Router(
            f"{name}-core-router", tags=args.labels.with_(tier="data").as_tags(), opts=child
        )
        for tier in CORE_TIERS:
            openstack.networking.RouterInterface(
                f"{name}-core-{tier}", router_id=core.id, subnet_id=subnets[tier].id, opts=child
            )
        for tier in EDGE_TIERS:
            cidr = args.tiers[tier]
            port = openstack.networking.Port(
                f"{name}-core-{tier}-port",
                network_id=nets[tier].id,
                fixed_ips=[{"subnet_id": subnets[tier].id, "ip_address": core_router_ip(cidr)}],
                tags=args.labels.with_(tier=tier).as_tags(),
                opts=child,
            )
            openstack.networking.RouterInterface(
                f"{name}-core-{tier}", router_id=core.id, port_id=port.id, opts=child
            )
            # Edge subnets default-route to the edge router; internal networks go to the core.
            for i, dest in enumerate(args.core_destinations):
                openstack.networking.SubnetRoute(
                    f"{name}-{tier}-route-{i}",
                    subnet_id=subnets[tier].id,
                    destination_cidr=str(dest),
                    next_hop=core_router_ip(cidr),
                    opts=child,
                )

        groups = self._groups(subnets)
        self.network_ids = {t: n.id for t, n in nets.items()}
        self.subnet_ids = {t: s.id for t, s in subnets.items()}
        self.core_router_id = core.id
        self.edge_links = edge_links
        self.group_ids = {k: g.id for k, g in groups.items()}
        self.register_outputs(
            {
                "network_ids": self.network_ids,
                "core_router_id": core.id,
                "group_ids": self.group_ids,
            }
        )

    def _groups(
        self, subnets: dict[str, openstack.networking.Subnet]
    ) -> dict[str, openstack.networking.SecGroup]:
        """Security groups with no default rule: every flow below is explicit."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        g = {
            role: openstack.networking.SecGroup(
                f"{name}-{role}-sg",
                description=f"hdh {role}",
                delete_default_rules=True,
                tags=args.labels.with_(tier=tier).as_tags(),
                opts=child,
            )
            for role, tier in (
                ("bastion", "admin"),
                ("managed", "admin"),  # carried by every host: SSH from the bastion only
                ("proxy-clients", "services"),  # carried by hosts that use the services proxy
                ("services", "services"),
                ("data", "data"),
                ("processing", "processing"),
            )
        }
        rule = SecGroupRules(self, name)
        for i, cidr in enumerate(args.admin_cidrs):
            rule.ingress(f"bastion-ssh-admin-{i}", g["bastion"], "tcp", 22, cidr=str(cidr))
        rule.egress("bastion-ssh-out", g["bastion"], "tcp", 22, group=g["managed"])
        rule.ingress("managed-ssh-from-bastion", g["managed"], "tcp", 22, group=g["bastion"])
        # The services tier's flows (docs/services.md; the host firewalls open the same, from
        # hardening/data/services_tier.yaml): proxy, package cache, time and logs from every host
        # using the services tier; metrics from the services hosts to every host.
        sp, clients, services = args.services_ports, g["proxy-clients"], g["services"]
        for what, proto, port in (
            ("proxy", "tcp", args.proxy_port),
            ("cache", "tcp", sp.cache),
            ("ntp", "udp", 123),
            ("logs", "tcp", sp.log),
        ):
            rule.egress(f"proxy-clients-{what}", clients, proto, port, group=services)
            rule.ingress(f"services-{what}-in", services, proto, port, group=clients)
        for target in ("managed", "bastion"):  # every host carries one of these
            rule.egress(f"services-metrics-{target}", services, "tcp", sp.metrics, group=g[target])
            rule.ingress(f"{target}-metrics-in", g[target], "tcp", sp.metrics, group=services)
        # The proxy and the time relay are the platform's only clients of the outside world.
        rule.egress("services-http-out", g["services"], "tcp", 80, cidr="0.0.0.0/0")
        rule.egress("services-https-out", g["services"], "tcp", 443, cidr="0.0.0.0/0")
        rule.egress("services-ntp-out", g["services"], "udp", 123, cidr="0.0.0.0/0")
        # Between processing hosts (Kubernetes nodes) only the ports their components use:
        # components/k8s_network.py adds them with the cluster.
        for role, tier in (
            ("bastion", "admin"),
            ("services", "services"),
            ("data", "data"),
            ("processing", "processing"),
        ):
            # DNS from Neutron's resolver on the host's own subnet.
            rule.egress(f"{role}-dns", g[role], "udp", 53, cidr=str(args.tiers[tier]))
        return g


class SecGroupRules:
    """Builds IPv4 rules named `<prefix>-<what>` under one parent; one of group or cidr."""

    def __init__(self, parent: pulumi.Resource, prefix: str) -> None:
        self._opts = pulumi.ResourceOptions(parent=parent)
        self._prefix = prefix

    def ingress(
        self,
        what: str,
        sg: openstack.networking.SecGroup,
        protocol: str | None,
        port: int | None,
        *,
        group: openstack.networking.SecGroup | None = None,
        cidr: str | None = None,
    ) -> openstack.networking.SecGroupRule:
        return self._rule("ingress", what, sg, protocol, port, group, cidr)

    def egress(
        self,
        what: str,
        sg: openstack.networking.SecGroup,
        protocol: str | None,
        port: int | None,
        *,
        group: openstack.networking.SecGroup | None = None,
        cidr: str | None = None,
    ) -> openstack.networking.SecGroupRule:
        return self._rule("egress", what, sg, protocol, port, group, cidr)

    def _rule(
        self,
        direction: str,
        what: str,
        sg: openstack.networking.SecGroup,
        protocol: str | None,
        port: int | None,
        group: openstack.networking.SecGroup | None,
        cidr: str | None,
    ) -> openstack.networking.SecGroupRule:
        # A rule with neither a remote group nor a prefix admits any source: never build one.
        if (group is None) == (cidr is None):
            raise ValueError(f"rule {what}: give exactly one of group or cidr")
        return openstack.networking.SecGroupRule(
            f"{self._prefix}-{what}",
            direction=direction,
            ethertype="IPv4",
            security_group_id=sg.id,
            protocol=protocol,
            port_range_min=port,
            port_range_max=port,
            remote_group_id=group.id if group is not None else None,
            remote_ip_prefix=cidr,
            opts=self._opts,
        )
