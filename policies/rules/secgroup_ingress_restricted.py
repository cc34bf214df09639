"""Security group ingress never admits the world, except the bastion rule config allows."""

from collections.abc import Iterator
from typing import Any

from policies.checks import is_public, is_world, within
from policies.rule import Resource, Rule

RULE = Rule(
    id="secgroup-ingress-restricted",
    title="Security group ingress is not open to the world",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Use remote_group_id (another group) or an administrators' CIDR listed in "
    "bastionCidrs; never 0.0.0.0/0 or ::/0.",
    resource_types=("openstack:networking/secGroupRule:SecGroupRule",),
    config=("bastionCidrs", "bastionName"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("direction") != "ingress":
        return
    prefix = res.get("remoteIpPrefix")
    bastion = cfg["bastionName"] in res.name
    if not prefix and not res.has("remoteGroupId"):
        yield "neither remoteIpPrefix nor remoteGroupId: admits any source"
    elif is_world(prefix) and not (bastion and prefix in cfg["bastionCidrs"]):
        yield f"admits {prefix} (the whole Internet)"
    elif prefix and not is_world(prefix) and is_public(prefix):
        if not bastion:
            yield f"admits the public range {prefix} on a non-bastion group"
        elif not within(prefix, cfg["bastionCidrs"]):
            yield f"admits the public range {prefix}, not in bastionCidrs"
