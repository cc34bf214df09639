"""Instance boot and attached block devices created as volumes use encrypted types."""

from collections.abc import Iterator
from typing import Any

from policies.checks import volume_type_problem
from policies.rule import Resource, Rule, as_list

RULE = Rule(
    id="instance-block-device-encrypted",
    title="Instance block devices are volumes of an encrypted type",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Give every block_devices entry with destination_type 'volume' an encrypted "
    "volume_type from the profile.",
    resource_types=("openstack:compute/instance:Instance",),
    config=("encryptedVolumeTypes",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for i, _ in enumerate(as_list(res.get("blockDevices"))):
        if res.get("blockDevices", i, "destinationType") != "volume":
            continue  # local devices: instance-boot-from-volume
        if res.get("blockDevices", i, "sourceType") == "volume":
            continue  # an existing volume: judged as a Volume by volume-encrypted-type
        vtype = res.get("blockDevices", i, "volumeType")
        if problem := volume_type_problem(vtype, cfg, f"blockDevices[{i}]"):
            yield problem
