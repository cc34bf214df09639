"""Magnum cluster templates pull images only from TLS registries."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="magnum-registry-secure",
    title="Magnum cluster templates declare no insecure registry",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-encryption-in-transit",),
    remediation="Remove insecure_registry; serve the mirror over HTTPS.",
    resource_types=("openstack:containerinfra/clusterTemplate:ClusterTemplate",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if registry := res.get("insecureRegistry"):
        yield f"insecureRegistry {registry!r}: images would be pulled over clear HTTP"
