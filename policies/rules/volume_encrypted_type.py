"""Block volumes must use an encrypted volume type from the allow-list."""

from collections.abc import Iterator
from typing import Any

from policies.checks import volume_type_problem
from policies.rule import Resource, Rule

RULE = Rule(
    id="volume-encrypted-type",
    title="Block volumes use an encrypted volume type",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Set volume_type to one of the profile's encrypted types (hdh:volumeType).",
    resource_types=("openstack:blockstorage/volume:Volume",),
    config=("encryptedVolumeTypes",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if problem := volume_type_problem(res.get("volumeType"), cfg, "volume"):
        yield problem
