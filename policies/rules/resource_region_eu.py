"""A resource-level region overriding its provider's must also be an allowed EU region."""

from collections.abc import Iterator
from typing import Any

from policies.checks import region_problem
from policies.rule import Resource, Rule

RULE = Rule(
    id="resource-region-eu",
    title="Resource-level region overrides stay in an allowed EU region",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-location", "hds-hosting-eea"),
    remediation="Remove the resource's region argument (inherit the provider's) or set an EU "
    "region of the profile.",
    resource_types=("openstack:*",),
    config=("allowedRegions", "allowTestRegions", "testRegions"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    region = res.get("region")
    # No override (absent) is the provider's region, judged by provider-region-eu. In a stack
    # export the provider echoes its region into each resource: equal values are not overrides.
    if region is None or region == res.get("region", of="provider"):
        return
    if problem := region_problem(region, res.get("authUrl", of="provider"), cfg):
        yield f"overrides its provider: {problem}"
