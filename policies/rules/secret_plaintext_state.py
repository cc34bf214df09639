"""Secret material reaches state only as Pulumi secrets (encrypted), never in plain text."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule
from policies.secret_props import PRIVATE_KEY, SECRET_PROPS, clear_outputs, clear_secrets

STACK = "pulumi:pulumi:Stack"
INSTANCE = "openstack:compute/instance:Instance"
KEYPAIR = "openstack:compute/keypair:Keypair"
RULE = Rule(
    id="secret-plaintext-state",
    title="Secret material is stored as Pulumi secrets, never in plain text nor as passwords",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-secrets", "hds-protection"),
    remediation="Pass the value as a secret (pulumi.Output.secret, `config set --secret`, or "
    "additional_secret_outputs) so state holds ciphertext only; no instance adminPass (key "
    "login); keypairs from a public key; no private key in user data or outputs.",
    resource_types=(*SECRET_PROPS, STACK, KEYPAIR, "openstack:objectstorage/accountV1:AccountV1"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    for where in clear_secrets(res):
        yield f"{where} is stored in plain text in the state"
    if res.type == STACK:
        for where in clear_outputs(res.props, res):
            yield f"stack output {where} looks like a secret and is not one"
    elif res.type == INSTANCE:
        if res.has("adminPass"):
            # Refused secret or not: a password login to the host is against the design.
            yield "adminPass sets a password login: refused (key login only)"
        if PRIVATE_KEY.search(str(res.get("userData") or "")):
            yield "userData holds private key material (Nova metadata and state keep it)"
    elif res.type == KEYPAIR and not res.has("publicKey"):
        yield "no publicKey: the cloud generates the private key and the state keeps it"
    elif res.type.endswith(":openstack") and _clear_client_key(res):
        yield "key holds a client private key in plain text"


def _clear_client_key(res: Resource) -> bool:
    # The provider's `key` is a client key file's path or its content: only content is secret.
    return bool(PRIVATE_KEY.search(str(res.get("key") or ""))) and not res.is_secret("key")
