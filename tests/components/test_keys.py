"""Barbican-generated keys: one dynamic resource that orders the key and deletes it with the
stack (components/keys.py). The cloud tier runs it for real against the local OpenStack."""

from __future__ import annotations

import base64
import sys
import types
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components import keys
from components.config import available_stacks, load_stack
from components.keys import TYPE, _GeneratedKeyProvider, secret_id
from tests.components.conftest import of_type, planned

UUID = "0b7c3a52-6a8f-4a57-9d3e-5c2b1f7a9e11"
KMS = "https://kms.example:9311/v1"
PROPS: dict[str, Any] = {
    "type": "key",
    "meta": {"algorithm": "aes", "bit_length": 256, "mode": "xts", "name": "k"},
    "region": "GRA",
    "auth_url": "",
    "secret_ref": None,
    "order_ref": None,
}


@pytest.mark.parametrize(
    "ref", [f"{KMS}/secrets/{UUID}", f"http://127.0.0.1:9311/v1/secrets/{UUID}/"]
)
def test_secret_id_from_href(ref: str) -> None:
    assert secret_id(ref) == UUID


@pytest.mark.parametrize("ref", ["", UUID, f"{KMS}/orders/x", f"{KMS}/secrets/"])
def test_secret_id_refuses_what_is_not_a_secret_href(ref: str) -> None:
    with pytest.raises(ValueError, match="not a Barbican secret reference"):
        secret_id(ref)


@pytest.mark.parametrize("stack", available_stacks())
def test_keys_are_generated_keys_in_the_stack_region(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    generated = of_type(plan, TYPE)
    assert generated and not of_type(plan, "openstack:keymanager/orderV1:OrderV1")
    for key in generated:
        assert key.inputs["type"] == "key"
        assert key.inputs["meta"]["algorithm"] == "aes" and key.inputs["meta"]["bit_length"] == 256
        assert key.inputs["region"] == cfg.region
        assert key.inputs["auth_url"] == (cfg.auth_url or "")
        # The serialized provider is in the state: it must carry no credential.
        provider = base64.b64decode(key.inputs["__provider"])
        assert b"password" not in provider.lower() and b"OS_" not in provider


def test_provider_is_stored_by_reference_and_loads_back() -> None:
    blob = base64.b64decode(serialize_provider(_GeneratedKeyProvider()))
    assert b"components.keys" in blob and len(blob) < 2000
    assert isinstance(dill.loads(blob), _GeneratedKeyProvider)


def test_any_change_replaces_the_key() -> None:
    p = _GeneratedKeyProvider()
    assert not p.diff(UUID, PROPS, dict(PROPS)).changes
    bigger = {**PROPS, "meta": {**PROPS["meta"], "bit_length": 512}}
    moved = p.diff(UUID, PROPS, bigger)
    assert moved.changes and moved.replaces == ["meta"]
    assert p.diff(UUID, PROPS, {**PROPS, "region": "SBG"}).replaces == ["region"]


class _Barbican:
    """Barbican's order and secret calls as openstacksdk exposes them, with canned statuses."""

    def __init__(self, statuses: list[str]) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.statuses = statuses
        self.key_manager = self

    def create_order(self, **kw: Any) -> Any:
        self.calls.append(("create_order", kw))
        return types.SimpleNamespace(order_ref=f"{KMS}/orders/o1")

    def get_order(self, oid: str) -> Any:
        status = self.statuses.pop(0)
        ref = f"{KMS}/secrets/{UUID}" if status == "ACTIVE" else None
        return types.SimpleNamespace(
            status=status, secret_ref=ref, error_status_code=400, error_reason="bad meta"
        )

    def delete_secret(self, sid: str, ignore_missing: bool) -> None:
        self.calls.append(("delete_secret", sid, ignore_missing))

    def delete_order(self, oid: str, ignore_missing: bool) -> None:
        self.calls.append(("delete_order", oid, ignore_missing))

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def barbican(monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(statuses: list[str]) -> tuple[_Barbican, list[dict[str, Any]]]:
        conn, connects = _Barbican(statuses), []
        fake = types.ModuleType("openstack")

        def connect(**kw: Any) -> _Barbican:
            connects.append(kw)
            return conn

        fake.connect = connect  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "openstack", fake)
        monkeypatch.setattr(keys.time, "sleep", lambda _s: None)
        return conn, connects

    return make


def test_create_orders_the_key_and_waits_for_it(barbican: Any) -> None:
    conn, connects = barbican(["PENDING", "ACTIVE"])
    made = _GeneratedKeyProvider().create(dict(PROPS))
    assert made.id == UUID
    outs = made.outs or {}
    assert outs["secret_ref"] == f"{KMS}/secrets/{UUID}"
    assert outs["order_ref"] == f"{KMS}/orders/o1"
    assert connects == [{"region_name": "GRA"}]
    assert conn.calls == [("create_order", {"type": "key", "meta": PROPS["meta"]}), ("close",)]


def test_a_refused_order_is_deleted_and_named(barbican: Any) -> None:
    conn, _ = barbican(["ERROR"])
    with pytest.raises(RuntimeError, match=r"refused the key order .*400 bad meta"):
        _GeneratedKeyProvider().create(dict(PROPS))
    assert ("delete_order", "o1", True) in conn.calls and conn.calls[-1] == ("close",)


def test_delete_removes_the_secret_then_the_order(barbican: Any) -> None:
    conn, connects = barbican([])
    props = {**PROPS, "auth_url": "https://id/v3"}
    props |= {"secret_ref": f"{KMS}/secrets/{UUID}", "order_ref": f"{KMS}/orders/o1"}
    _GeneratedKeyProvider().delete(UUID, props)
    assert connects == [{"region_name": "GRA", "auth_url": "https://id/v3"}]
    assert conn.calls == [
        ("delete_secret", UUID, True),
        ("delete_order", "o1", True),
        ("close",),
    ]
