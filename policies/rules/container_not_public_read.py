"""Object storage containers are never world-readable (no `.r:*` read ACL)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="container-not-public-read",
    title="Object containers have no public read ACL",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove container_read referrer entries (.r:*); grant project:user instead.",
    resource_types=("openstack:objectstorage/container:Container",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    acl = res.get("containerRead") or ""
    for entry in (e.strip() for e in str(acl).split(",")):
        if entry.startswith(".r:") and not entry.startswith(".r:-"):
            yield f"containerRead {entry!r} lets anyone (any referrer) read the objects"
