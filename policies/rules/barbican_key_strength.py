"""Data keys are Barbican AES keys of at least 256 bits (keys in the key manager, never in code)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="barbican-key-strength",
    title="Barbican data keys are AES, 256 bits or more",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Order keys from Barbican with type 'key', algorithm 'aes', bit_length 256.",
    resource_types=(
        "openstack:keymanager/orderV1:OrderV1",
        "pulumi-python:dynamic/keymanager:GeneratedKey",  # components/keys.py (an order)
        "openstack:keymanager/secretV1:SecretV1",
    ),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.type.endswith(("OrderV1", "GeneratedKey")):
        if res.get("type") != "key":
            return  # asymmetric/certificate orders are not data keys
        # The provider's inputs are camelCase; a dynamic resource's are as its program wrote them.
        algorithm = res.get("meta", "algorithm")
        bits = res.get("meta", "bitLength")
        if bits is None:
            bits = res.get("meta", "bit_length")
    else:
        if res.get("secretType") != "symmetric":
            return
        algorithm, bits = res.get("algorithm"), res.get("bitLength")
    if str(algorithm).lower() != "aes":
        yield f"key algorithm {algorithm!r} is not AES"
    if not isinstance(bits, int | float) or bits < 256:
        yield f"key length {bits!r} is under 256 bits"
