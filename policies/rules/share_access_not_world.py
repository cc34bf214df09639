"""File-share access rules never open a share to the whole Internet."""

from collections.abc import Iterator
from typing import Any

from policies.checks import is_world
from policies.rule import Resource, Rule

RULE = Rule(
    id="share-access-not-world",
    title="File-share access rules are not open to the world",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Grant ip access to the tier's CIDR, or cert/user access, never 0.0.0.0/0.",
    resource_types=("openstack:sharedfilesystem/shareAccess:ShareAccess",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    to = res.get("accessTo")
    if res.get("accessType") == "ip" and (is_world(to) or to in ("*", "")):
        yield f"ip access to {to!r}: any host can mount the share"
