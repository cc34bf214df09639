"""Providers reach their cloud over verified TLS, at the endpoint they name, without credentials."""

from collections.abc import Iterator
from typing import Any

from ground.names import endpoint_problem
from policies.rule import Resource, Rule

RULE = Rule(
    id="provider-endpoint-trusted",
    title="OpenStack providers keep TLS verification and send nothing to other endpoints",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-in-transit", "snc-location"),
    remediation="Remove insecure and endpointOverrides; use an https:// authUrl without "
    "user:password@ (credentials come from OS_* variables or clouds.yaml).",
    resource_types=("pulumi:providers:openstack",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    auth_url = res.get("authUrl")
    if auth_url is not None and (problem := endpoint_problem(auth_url)):
        yield f"authUrl {problem}"  # the URL itself is not repeated: it may hold a password
    if str(res.get("insecure")).lower() == "true":
        yield "insecure is true: TLS certificates are not verified (anyone on the path can listen)"
    overrides = res.get("endpointOverrides")
    if overrides:
        names = sorted(overrides) if isinstance(overrides, dict) else ["?"]
        # A service sent elsewhere than the catalogue of the authenticated region.
        yield f"endpointOverrides {', '.join(map(str, names))}: traffic leaves the named endpoint"
