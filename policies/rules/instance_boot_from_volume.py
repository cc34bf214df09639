"""Instances boot from a (encrypted) volume, never from the hypervisor's local ephemeral disk."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, as_list

RULE = Rule(
    id="instance-boot-from-volume",
    title="Instances boot from a volume, not from local ephemeral disk",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Boot from a block_devices entry (boot_index 0, source_type image, "
    "destination_type volume, an encrypted volume_type) instead of image_id/image_name.",
    resource_types=("openstack:compute/instance:Instance",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    devices = as_list(res.get("blockDevices"))
    for i, _ in enumerate(devices):
        if res.get("blockDevices", i, "destinationType") == "local":
            yield f"blockDevices[{i}] is a local (ephemeral, unencrypted) disk"
    boots = [
        i
        for i, _ in enumerate(devices)
        if res.get("blockDevices", i, "bootIndex") in (0, 0.0)
        and res.get("blockDevices", i, "destinationType") == "volume"
    ]
    if not boots:
        yield "boots from the hypervisor's local ephemeral disk (no volume with bootIndex 0)"
