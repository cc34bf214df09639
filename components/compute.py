"""Compute: Debian 12 hosts booting from an encrypted volume, on a port with closed groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_openstack as openstack

from components.cloudinit import user_data
from components.tags import Labels


@dataclass(frozen=True, kw_only=True)
class HostTemplate:
    """What every host of one stack shares."""

    image_id: pulumi.Input[str]  # a Debian 12 image of the profile's allow-list
    volume_type: str  # encrypted boot volume type
    boot_volume_size: int
    key_pair: pulumi.Input[str]
    deploy_user: str
    public_key: str


@dataclass(frozen=True, kw_only=True)
class HostArgs:
    role: str  # bastion, services, data, workspace, k8s-control, k8s-worker
    labels: Labels
    flavor: str
    template: HostTemplate
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    security_group_ids: list[pulumi.Input[str]]
    server_group_id: pulumi.Input[str] | None = None  # anti-affinity for HA roles
    extra_volume_ids: list[pulumi.Input[str]] = field(default_factory=list)
    user_data: pulumi.Input[str] | None = None  # default: the minimal cloud-init of cloudinit.py


class Host(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port_id: pulumi.Output[str]
    instance_id: pulumi.Output[str]

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hdh:compute:Host", name, None, opts)
        self.host_name = name
        child = pulumi.ResourceOptions(parent=self)
        port = openstack.networking.Port(
            f"{name}-port",
            network_id=args.network_id,
            fixed_ips=[{"subnet_id": args.subnet_id}],
            security_group_ids=args.security_group_ids,
            port_security_enabled=True,
            tags=args.labels.as_tags(),
            opts=child,
        )
        meta = {**args.labels.as_metadata(), "role": args.role}
        t = args.template
        instance = openstack.compute.Instance(
            f"{name}-vm",
            name=name,
            flavor_name=args.flavor,
            key_pair=t.key_pair,
            # Boot from a volume of an encrypted type: never from the hypervisor's local disk.
            block_devices=[
                {
                    "uuid": t.image_id,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_type": t.volume_type,
                    "volume_size": t.boot_volume_size,
                    "boot_index": 0,
                    "delete_on_termination": True,
                }
            ],
            networks=[{"port": port.id}],
            user_data=(
                args.user_data
                if args.user_data is not None
                else user_data(t.deploy_user, t.public_key, name)
            ),
            metadata=meta,
            tags=args.labels.as_tags(),
            scheduler_hints=[{"group": args.server_group_id}] if args.server_group_id else None,
            opts=child,
        )
        for i, volume_id in enumerate(args.extra_volume_ids):
            openstack.compute.VolumeAttach(
                f"{name}-attach-{i}", instance_id=instance.id, volume_id=volume_id, opts=child
            )
        self.address = port.all_fixed_ips.apply(_first)
        self.port_id = port.id
        self.instance_id = instance.id
        self.register_outputs({"address": self.address, "instance_id": instance.id})


def _first(ips: Sequence[str]) -> str:
    # Known after creation only: a plan or a first preview has no address yet.
    return ips[0] if ips else ""
