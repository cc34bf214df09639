"""Barbican-generated keys: an order plus the dynamic resource that deletes its secret."""

from __future__ import annotations

import base64
import sys
import types
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.config import available_stacks, load_stack
from components.keys import _GeneratedSecretProvider, secret_id
from hdh.plan import PlanMocks
from tests.components.conftest import of_type, planned

ORDER = "openstack:keymanager/orderV1:OrderV1"
OWNER = "pulumi-python:dynamic/keymanager:GeneratedSecret"
UUID = "0b7c3a52-6a8f-4a57-9d3e-5c2b1f7a9e11"


@pytest.mark.parametrize(
    "ref",
    [f"https://kms.example:9311/v1/secrets/{UUID}", f"http://127.0.0.1:9311/v1/secrets/{UUID}/"],
)
def test_secret_id_from_href(ref: str) -> None:
    assert secret_id(ref) == UUID


@pytest.mark.parametrize(
    "ref", ["", UUID, "https://kms.example/v1/orders/x", "https://k/v1/secrets/"]
)
def test_secret_id_refuses_what_is_not_a_secret_href(ref: str) -> None:
    with pytest.raises(ValueError, match="not a Barbican secret reference"):
        secret_id(ref)


@pytest.mark.parametrize("stack", available_stacks())
def test_every_order_has_one_owner_of_its_secret(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    mocks = PlanMocks(cfg)
    orders = of_type(plan, ORDER)
    owners = of_type(plan, OWNER)
    assert orders and len(owners) == len(orders)
    refs = {
        f"https://keymanager.plan.invalid/v1/secrets/{mocks.resource_id(o.type, o.name)}": o
        for o in orders
    }
    for owner in owners:
        order = refs.pop(owner.inputs["secret_ref"])
        assert owner.parent == order.parent, owner.urn  # both children of one GeneratedKey
        assert owner.inputs["region"] == cfg.region
        assert owner.inputs["auth_url"] == (cfg.auth_url or "")
        # The serialized provider is in the state: it must carry no credential.
        provider = base64.b64decode(owner.inputs["__provider"])
        assert b"password" not in provider.lower() and b"OS_" not in provider
    assert refs == {}


def test_provider_is_stored_by_reference_and_loads_back() -> None:
    blob = base64.b64decode(serialize_provider(_GeneratedSecretProvider()))
    assert b"components.keys" in blob and len(blob) < 2000
    assert isinstance(dill.loads(blob), _GeneratedSecretProvider)


def test_create_adopts_the_secret_and_a_new_ref_replaces() -> None:
    p = _GeneratedSecretProvider()
    props = {"secret_ref": f"https://k/v1/secrets/{UUID}", "region": "GRA", "auth_url": ""}
    assert p.create(props).id == UUID
    assert not p.diff(UUID, props, dict(props)).changes
    moved = p.diff(UUID, props, {**props, "secret_ref": "https://k/v1/secrets/other"})
    assert moved.changes and moved.replaces == ["secret_ref"]


class _Conn:
    def __init__(self, calls: list[Any], **kwargs: Any) -> None:
        self.calls = calls
        calls.append(("connect", kwargs))
        self.key_manager = self

    def delete_secret(self, sid: str, ignore_missing: bool) -> None:
        self.calls.append(("delete_secret", sid, ignore_missing))

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.mark.parametrize(
    ("auth_url", "connect"),
    [
        ("", {"region_name": "GRA"}),
        ("https://id/v3", {"region_name": "GRA", "auth_url": "https://id/v3"}),
    ],
)
def test_delete_deletes_the_secret_in_the_stack_region(
    monkeypatch: pytest.MonkeyPatch, auth_url: str, connect: dict[str, str]
) -> None:
    calls: list[Any] = []
    fake = types.ModuleType("openstack")
    fake.connect = lambda **kw: _Conn(calls, **kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "openstack", fake)
    props = {"secret_ref": f"https://k/v1/secrets/{UUID}", "region": "GRA", "auth_url": auth_url}
    _GeneratedSecretProvider().delete(UUID, props)
    assert calls == [("connect", connect), ("delete_secret", UUID, True), ("close",)]
