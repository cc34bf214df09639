"""Data keys that Barbican generates, and that go away with the stack.

A Barbican order makes the key manager generate the key itself, so the key material is never in
our program, config or state. But deleting an order deletes only the order: the secret it
generated stays in Barbican (the order API has no cascade). An `OrderV1` paired with a second
resource owning the secret was tried, and leaked keys: when `pulumi up` stops on another
resource's error after the order is created but before its owner is, `destroy` deletes the order
and the key stays. `GeneratedKey` is therefore one dynamic resource for the whole life of the key:
creating it orders the key and waits for it (deleting both if the order fails), deleting it
deletes the secret and then the order.

The dynamic provider runs in its own process started by the engine, with the engine's
environment: it authenticates exactly like the openstack provider (clouds.yaml / `OS_*`
variables), with the stack's region and, when the stack sets one, its auth URL. The provider is
stored in the state by reference to this module: keep `_GeneratedKeyProvider` importable under
this name, or stacks that hold such keys cannot be destroyed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

SECRET_REF_PREFIX = "/v1/secrets/"
TYPE = "pulumi-python:dynamic/keymanager:GeneratedKey"
ORDER_TIMEOUT = 120.0  # seconds for Barbican to generate the key


def secret_id(secret_ref: str) -> str:
    """The secret's UUID from its href (`https://kms.example/v1/secrets/<uuid>`): what Barbican's
    API and barbican-kms-plugin's key-id take."""
    _head, sep, tail = secret_ref.rstrip("/").rpartition(SECRET_REF_PREFIX)
    if not sep or not tail or "/" in tail:
        raise ValueError(f"not a Barbican secret reference: {secret_ref!r}")
    return tail


def _uuid(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1]


def _connect(props: dict[str, Any]) -> Any:
    # Imported here: only the engine's dynamic-provider process talks to the cloud.
    import openstack as sdk

    kwargs: dict[str, Any] = {"region_name": props["region"]}
    if props.get("auth_url"):
        kwargs["auth_url"] = props["auth_url"]
    return sdk.connect(**kwargs)


def _delete(conn: Any, secret_ref: str | None, order_ref: str | None) -> None:
    if secret_ref:
        conn.key_manager.delete_secret(_uuid(secret_ref), ignore_missing=True)
    if order_ref:
        conn.key_manager.delete_order(_uuid(order_ref), ignore_missing=True)


class _GeneratedKeyProvider(ResourceProvider):
    """Orders a key from Barbican; deletes its secret and its order with it."""

    serialize_as_secret_always = False  # holds no secret: references and a region only

    def create(self, props: dict[str, Any]) -> CreateResult:
        conn = _connect(props)
        order_ref = secret_ref = None
        try:
            order = conn.key_manager.create_order(type="key", meta=props["meta"])
            order_ref = order.order_ref
            deadline = time.monotonic() + ORDER_TIMEOUT
            while True:
                order = conn.key_manager.get_order(_uuid(order_ref))
                secret_ref = order.secret_ref
                if order.status == "ACTIVE" and secret_ref:
                    break
                if order.status == "ERROR":
                    raise RuntimeError(
                        f"Barbican refused the key order {order_ref}: "
                        f"{order.error_status_code} {order.error_reason}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"key order {order_ref} not active after {ORDER_TIMEOUT} s")
                time.sleep(1)
        except BaseException:
            _delete(conn, secret_ref, order_ref)  # nothing half-made stays behind
            raise
        finally:
            conn.close()
        outs = {**props, "secret_ref": secret_ref, "order_ref": order_ref}
        return CreateResult(id_=secret_id(secret_ref), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A key never changes in place: another algorithm, size, name or cloud is another key.
        changed = [k for k in ("meta", "region", "auth_url") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        conn = _connect(props)
        try:
            _delete(conn, props.get("secret_ref"), props.get("order_ref"))
        finally:
            conn.close()


@dataclass(frozen=True, kw_only=True)
class KeyArgs:
    region: str
    auth_url: str | None = None
    algorithm: str = "aes"
    bit_length: int = 256
    mode: str = "xts"


class GeneratedKey(Resource, module="keymanager", name="GeneratedKey"):
    """A symmetric key generated inside Barbican, deleted (secret and order) with the stack.

    Props mirror `OrderV1` (`type`, `meta`) so the policy pack judges both alike.
    """

    secret_ref: pulumi.Output[str]
    order_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: KeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {
            "type": "key",
            "meta": {
                "algorithm": args.algorithm,
                "bit_length": args.bit_length,
                "mode": args.mode,
                "name": name,
            },
            "region": args.region,
            "auth_url": args.auth_url or "",
            "secret_ref": None,  # computed by create
            "order_ref": None,
        }
        super().__init__(_GeneratedKeyProvider(), name, props, opts)
