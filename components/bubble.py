"""One research project's bubble: closed network, encrypted storage and its workspace hosts."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_openstack as openstack

from components.compute import Host, HostArgs, HostTemplate
from components.keys import KeyArgs
from components.network import SecGroupRules, allocation_pool
from components.storage import EncryptedStore, StoreArgs
from components.tags import Labels


@dataclass(frozen=True, kw_only=True)
class BubbleArgs:
    cidr: IPv4Network  # already checked against the tiers and other bubbles by the config model
    labels: Labels
    core_router_id: pulumi.Input[str]
    # Shared groups a workspace also carries: SSH from the bastion, access to the proxy.
    managed_group_id: pulumi.Input[str]
    proxy_clients_group_id: pulumi.Input[str]
    workspaces: int
    volume_size: int
    volume_type: str
    container_name: str
    versioning: bool
    key: KeyArgs
    template: HostTemplate
    workspace_flavor: str


class Bubble(pulumi.ComponentResource):
    network_id: pulumi.Output[str]
    group_id: pulumi.Output[str]
    workspace_addresses: pulumi.Output[list[str]]
    workspace_outputs: list[pulumi.Output[str]]
    container_name: pulumi.Output[str]
    volume_id: pulumi.Output[str]  # the bubble's encrypted data volume (backed up)

    def __init__(self, name: str, args: BubbleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hdh:bubble:Bubble", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.labels.as_tags()
        net = openstack.networking.Network(
            f"{name}-net", port_security_enabled=True, tags=tags, opts=child
        )
        subnet = openstack.networking.Subnet(
            f"{name}-subnet",
            network_id=net.id,
            cidr=str(args.cidr),
            ip_version=4,
            enable_dhcp=True,
            allocation_pools=[allocation_pool(args.cidr)],
            tags=tags,
            opts=child,
        )
        # Routed only through the core router, which has no external gateway: a bubble leaves
        # through the services proxy or not at all.
        openstack.networking.RouterInterface(
            f"{name}-core", router_id=args.core_router_id, subnet_id=subnet.id, opts=child
        )
        sg = openstack.networking.SecGroup(
            f"{name}-sg",
            description=f"hdh bubble {args.labels.bubble}: members only",
            delete_default_rules=True,
            tags=tags,
            opts=child,
        )
        rule = SecGroupRules(self, name)
        rule.ingress("members-in", sg, None, None, group=sg)
        rule.egress("members-out", sg, None, None, group=sg)
        rule.egress("dns", sg, "udp", 53, cidr=str(args.cidr))
        store = EncryptedStore(
            f"{name}-store",
            StoreArgs(
                labels=args.labels,
                volume_size=args.volume_size,
                volume_type=args.volume_type,
                container_name=args.container_name,
                versioning=args.versioning,
                key=args.key,
            ),
            opts=child,
        )
        hosts = [
            Host(
                f"{name}-ws{i}",
                HostArgs(
                    role="workspace",
                    labels=args.labels,
                    flavor=args.workspace_flavor,
                    template=args.template,
                    network_id=net.id,
                    subnet_id=subnet.id,
                    security_group_ids=[sg.id, args.managed_group_id, args.proxy_clients_group_id],
                    extra_volume_ids=[store.volume_id] if i == 0 else [],
                ),
                opts=child,
            )
            for i in range(args.workspaces)
        ]
        self.network_id = net.id
        self.group_id = sg.id
        self.volume_id = store.volume_id
        self.workspace_outputs = [h.address for h in hosts]
        self.workspace_addresses = pulumi.Output.all(*self.workspace_outputs)
        self.container_name = store.container_name
        self.register_outputs(
            {
                "network_id": net.id,
                "workspaces": self.workspace_addresses,
                "container": store.container_name,
            }
        )
