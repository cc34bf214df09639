"""File-share access by address stays inside the platform: internal ranges, a /16 at most."""

import ipaddress
from collections.abc import Iterator
from typing import Any

from policies.checks import is_public
from policies.rule import Resource, Rule

RULE = Rule(
    id="share-access-not-world",
    title="File-share access rules admit internal ranges of a /16 at most",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Grant ip access to the tier's or bubble's CIDR, or cert/user access.",
    resource_types=("openstack:sharedfilesystem/shareAccess:ShareAccess",),
)


MIN_PREFIX = {4: 16, 6: 48}  # wider than a tier's /16 (a site's /48) is not a client group


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("accessType") != "ip":
        return
    to = res.get("accessTo")
    try:
        net = ipaddress.ip_network(str(to).strip(), strict=False)
    except ValueError:
        yield f"ip access to {to!r}: not an address or CIDR Manila reads the same way"
        return
    if is_public(str(net)):
        yield f"ip access to {to}: a public range, hosts outside the platform can mount the share"
    elif net.prefixlen < MIN_PREFIX[net.version]:
        yield f"ip access to {to}: wider than a /{MIN_PREFIX[net.version]}"
