"""Magnum cluster templates keep TLS on between clients, API and nodes."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="magnum-tls-enabled",
    title="Magnum cluster templates do not disable TLS",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-in-transit", "hds-protection"),
    remediation="Remove tls_disabled (Magnum's default is TLS on) or set it to false.",
    resource_types=("openstack:containerinfra/clusterTemplate:ClusterTemplate",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("tlsDisabled") is True:
        yield "tlsDisabled is true: the Kubernetes API and kubelets would talk in clear"
