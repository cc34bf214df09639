"""Object storage containers are readable and writable only inside the platform's projects."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule
from policies.swift_acl import parse, referrer_grants, too_wide

RULE = Rule(
    id="container-not-public-read",
    title="Object containers have no public or cloud-wide ACL",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove referrer items (.r:, .ref:, .referer:, .referrer:) and */* grants from "
    "container_read/container_write; grant project:user (ids) instead.",
    resource_types=("openstack:objectstorage/container:Container",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for prop, header in (("containerRead", "read"), ("containerWrite", "write")):
        value = res.get(prop)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            yield f"{prop} is not a string: Swift's reading of it cannot be judged"
            continue
        acl = parse(value, header)
        for item in acl.invalid:
            yield f"{prop} item {item!r} is refused by Swift: the ACL cannot be applied as written"
        granting = referrer_grants(acl.referrers)
        if granting:
            listing = " and list" if ".rlistings" in acl.groups else ""
            yield (
                f"{prop} referrer grant .r:{granting[0]}: anyone can read{listing} the objects "
                "(the Referer header is chosen by the client)"
            )
        for group in acl.groups:
            if why := too_wide(group):
                yield f"{prop} {group!r} grants {why}"
