"""A resource-level region overriding its provider's must also be an allowed EU region."""

from collections.abc import Iterator
from typing import Any

from policies.checks import region_problem
from policies.rule import Resource, Rule

GENERATED_KEY = "pulumi-python:dynamic/keymanager:GeneratedKey"  # components/keys.py
RULE = Rule(
    id="resource-region-eu",
    title="Resource-level regions (overrides, the platform's own keys) are allowed EU regions",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-location", "hds-hosting-eea"),
    remediation="Remove the resource's region argument (inherit the provider's) or set an EU "
    "region of the profile; a generated key takes the stack's region and authUrl.",
    resource_types=("openstack:*", GENERATED_KEY),
    config=("allowedRegions", "allowedEndpoints", "allowTestRegions", "testRegions"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.type == GENERATED_KEY:
        # Its own process talks to Barbican with these two props: judged like a provider.
        if problem := region_problem(res.get("region"), res.get("auth_url"), cfg):
            yield f"generated key: {problem}"
        return
    region = res.get("region")
    # No override (absent) is the provider's region, judged by provider-region-eu. In a stack
    # export the provider echoes its region into each resource: equal values are not overrides.
    if region is None or region == res.get("region", of="provider"):
        return
    if problem := region_problem(region, res.get("authUrl", of="provider"), cfg):
        yield f"overrides its provider: {problem}"
