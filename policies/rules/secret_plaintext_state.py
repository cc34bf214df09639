"""Secret material reaches state only as Pulumi secrets (encrypted), never in plain text."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="secret-plaintext-state",
    title="Secret material is stored as Pulumi secrets, not plain text",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-secrets", "hds-protection"),
    remediation="Pass the value as a secret (pulumi.Output.secret, `config set --secret`, or "
    "additional_secret_outputs) so state holds ciphertext only.",
    resource_types=(
        "openstack:keymanager/secretV1:SecretV1",
        "openstack:compute/instance:Instance",
        "openstack:containerinfra/cluster:Cluster",
        "kubernetes:core/v1:Secret",
        "pulumi:providers:kubernetes",
    ),
)
# Per type: properties whose every value is secret material (maps: each entry is).
SECRET_PROPS = {
    "openstack:keymanager/secretV1:SecretV1": ("payload",),
    "openstack:compute/instance:Instance": ("adminPass",),
    "openstack:containerinfra/cluster:Cluster": ("kubeconfig",),
    "kubernetes:core/v1:Secret": ("data", "stringData"),
    "pulumi:providers:kubernetes": ("kubeconfig",),
}


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for prop in SECRET_PROPS[res.type]:
        value = res.get(prop)
        if value in (None, "", {}) or res.is_secret(prop):
            continue
        if isinstance(value, dict):
            clear = sorted(k for k in value if not res.is_secret(prop, k))
            if clear:
                yield f"{prop} keys {', '.join(clear)} are stored in plain text"
        else:
            yield f"{prop} is stored in plain text in the state"
