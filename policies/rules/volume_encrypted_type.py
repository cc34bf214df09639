"""Block volumes must use an encrypted volume type from the allow-list."""

from collections.abc import Iterator
from typing import Any

from policies.checks import volume_type_problem
from policies.rule import Resource, Rule

RULE = Rule(
    id="volume-encrypted-type",
    title="Block volumes and database volumes use an encrypted volume type",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Set volume_type to one of the profile's encrypted types (hdh:volumeType).",
    resource_types=("openstack:blockstorage/volume:Volume", "openstack:database/instance:Instance"),
    config=("encryptedVolumeTypes",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    what = "database volume" if res.type.startswith("openstack:database") else "volume"
    if problem := volume_type_problem(res.get("volumeType"), cfg, what):
        yield problem
