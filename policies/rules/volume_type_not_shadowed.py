"""A stack never defines a volume type under the name of an allowed encrypted type."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="volume-type-not-shadowed",
    title="Stack-defined volume types do not take an encrypted type's name",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Use the provider's encrypted types (the profile's); do not define volume types "
    "in a stack.",
    resource_types=("openstack:blockstorage/volumeTypeV3:VolumeTypeV3",),
    config=("encryptedVolumeTypes",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    # The pack trusts a volume type by name; nothing the provider exposes (no encryption
    # resource) shows that a type this stack creates encrypts anything.
    name = res.get("name")
    if name in cfg["encryptedVolumeTypes"] or name is None:
        shown = repr(name) if name else "(the resource name, auto-named)"
        yield f"defines volume type {shown}, shadowing the allowed encrypted types' names"
