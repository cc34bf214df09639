"""Explicit OpenStack providers pin an EU region behind a known Keystone endpoint (sovereignty)."""

from collections.abc import Iterator
from typing import Any

from policies.checks import region_problem
from policies.rule import Resource, Rule

RULE = Rule(
    id="provider-region-eu",
    title="OpenStack providers are pinned to an allowed EU region of a known endpoint",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-location", "hds-hosting-eea"),
    remediation="Set the provider's region to an EU region of the stack's profile "
    "(openstack:region) and its authUrl to the profile's Keystone endpoint.",
    resource_types=("pulumi:providers:openstack",),
    config=("allowedRegions", "allowedEndpoints", "allowTestRegions", "testRegions"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if problem := region_problem(res.get("region"), res.get("authUrl"), cfg):
        yield problem
