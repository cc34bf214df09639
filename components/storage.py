"""Encrypted storage: a Barbican-generated data key, an encrypted volume, a private container."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.keys import GeneratedKey, KeyArgs
from components.tags import Labels


@dataclass(frozen=True, kw_only=True)
class StoreArgs:
    labels: Labels
    volume_size: int  # GB
    volume_type: str  # one of the profile's encrypted types (checked by components/config.py)
    container_name: str  # Swift names are per project: carry the stack in it
    key: KeyArgs  # where Barbican generates the data key (region, auth URL)
    versioning: bool = True


class EncryptedStore(pulumi.ComponentResource):
    volume_id: pulumi.Output[str]
    key_ref: pulumi.Output[str]
    container_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hdh:storage:EncryptedStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        meta = args.labels.as_metadata()
        # Barbican generates the key itself: the key material is never in our program, config or
        # state (a SecretV1 with a payload would put it in state); destroy deletes it.
        key = GeneratedKey(f"{name}-data-key", args.key, opts=child)
        volume = openstack.blockstorage.Volume(
            f"{name}-vol",
            size=args.volume_size,
            volume_type=args.volume_type,
            description=f"hdh data volume {args.labels.bubble or args.labels.tier}",
            metadata=meta,
            opts=child,
        )
        container = openstack.objectstorage.Container(
            f"{name}-bucket",
            name=args.container_name,
            versioning=args.versioning,
            # No container_read: private. A `.r:*` read ACL would publish it to the world.
            metadata=meta,
            opts=child,
        )
        self.volume_id = volume.id
        self.key_ref = key.secret_ref
        self.container_name = container.name
        self.register_outputs(
            {"volume_id": volume.id, "key_ref": key.secret_ref, "container": container.name}
        )
