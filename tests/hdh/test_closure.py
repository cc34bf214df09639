"""Closure records without a cloud: what belongs to a bubble, hostile records refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ground.errors import InputError
from hdh import cli
from hdh.closure import FORMAT, bubble_resources, prepare, read_record

P = "urn:pulumi:local::hdh::"


def res(typ: str, name: str, parent: str = "", rid: str = "", **outs: Any) -> dict[str, Any]:
    return {"urn": f"{P}{typ}::{name}", "type": typ, "parent": parent, "id": rid, "outputs": outs}


BUBBLE = res("hdh:bubble:Bubble", "bubble-demo")
STORE = res("hdh:storage:EncryptedStore", "bubble-demo-store", BUBBLE["urn"])
EXPORT: dict[str, Any] = {
    "version": 3,
    "deployment": {
        "resources": [
            # Children listed before their parents: membership must not depend on order.
            res(
                "pulumi-python:dynamic/keymanager:GeneratedKey",
                "bubble-demo-store-data-key",
                STORE["urn"],
                "1111",
                order_ref="https://kms/v1/orders/2222",
            ),
            res("openstack:objectstorage/container:Container", "c", STORE["urn"], "demo-bucket"),
            STORE,
            BUBBLE,
            res("openstack:blockstorage/volume:Volume", "other", "", "9999"),
            res("hdh:bubble:Bubble", "bubble-demo2"),
        ]
    },
}


def test_bubble_resources_follow_parents_in_any_order() -> None:
    names = {r["urn"].rsplit("::", 1)[-1] for r in bubble_resources(EXPORT["deployment"], "demo")}
    assert names == {"bubble-demo-store", "bubble-demo-store-data-key", "c"}
    with pytest.raises(InputError, match="no bubble 'nope'"):
        bubble_resources(EXPORT["deployment"], "nope")


class NoCloud:
    """prepare() asks the APIs only about instances and volumes; this export has neither."""

    class config:
        @staticmethod
        def get_region_name() -> str:
            return "RegionOne"

    current_project_id = "p"


def test_prepare_lists_keys_with_their_orders_and_containers() -> None:
    record = prepare(EXPORT, "demo", NoCloud(), "local")
    assert record["format"] == FORMAT and record["bubble"] == "demo"
    assert [(i["kind"], i["id"], i.get("order")) for i in record["items"]] == [
        ("key", "1111", "2222"),
        ("container", "demo-bucket", None),
    ]
    with pytest.raises(InputError, match="version 3"):
        prepare({"version": 2, "deployment": {}}, "demo", NoCloud())


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[]", "not a closure record"),
        (json.dumps({"format": "other"}), "not a closure record"),
        (json.dumps({"format": FORMAT, "items": {}}), "items: expected a list"),
        (json.dumps({"format": FORMAT, "items": [{"kind": "bomb", "id": "x"}]}), "items[0].kind"),
        (json.dumps({"format": FORMAT, "items": [{"kind": "key", "id": "../x"}]}), "items[0].id"),
        (json.dumps({"format": FORMAT, "items": [{"kind": "key", "id": 5}]}), "items[0].id"),
        ("{", "not JSON"),
    ],
)
def test_hostile_records_are_refused(tmp_path: Path, doc: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(doc)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_record(path)


def test_cli_verify_on_a_bad_record_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.json"
    bad.write_text("{}")
    assert cli.main(["closure", "verify", str(bad)]) == 2
    assert "not a closure record" in capsys.readouterr().err


def test_cli_prepare_checks_the_export_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cloud(*_: Any) -> Any:
        raise AssertionError("connected before checking the input")

    monkeypatch.setattr("hdh.closure.connect", no_cloud)
    state = tmp_path / "export.json"
    state.write_text(json.dumps(EXPORT))
    out = tmp_path / "c.json"
    args = ["closure", "prepare", "--state", str(state), "--out", str(out)]
    assert cli.main([*args, "--bubble", "nope"]) == 2
    assert f"{state}: no bubble 'nope'" in capsys.readouterr().err
    state.write_text(json.dumps({"version": 2}))
    assert cli.main([*args, "--bubble", "demo"]) == 2
    assert "version 3" in capsys.readouterr().err and not out.exists()


class FakeCloud:
    """Answers GETs from a set of ids that still exist; delete_secret removes one."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.deleted: list[str] = []
        self.key_manager = self
        self.block_storage = self

    def _get(self, rid: str) -> Any:
        import openstack

        if rid not in self.present:
            raise openstack.exceptions.NotFoundException("gone")
        return type("R", (), {"status": "active"})()

    get_volume = _get

    def get(self, path: str, raise_exc: bool = True) -> Any:
        """The key manager's raw GET, as the closure asks for a secret's metadata."""
        assert path.startswith("/secrets/") and raise_exc is False
        rid = path.removeprefix("/secrets/")
        code = 200 if rid in self.present else 404
        return type("Resp", (), {"status_code": code, "json": lambda _: {"status": "ACTIVE"}})()

    def delete_secret(self, rid: str, ignore_missing: bool = True) -> None:
        self.deleted.append(rid)
        self.present.discard(rid)


def test_verify_shreds_only_keys_of_volumes_verified_gone() -> None:
    record = {
        "format": FORMAT,
        "bubble": "demo",
        "items": [
            {"kind": "volume", "id": "v1", "urn": "u"},
            {"kind": "volume-key", "id": "k1", "urn": "u", "volume": "v1"},
            {"kind": "volume", "id": "v2", "urn": "u"},
            {"kind": "volume-key", "id": "k2", "urn": "u", "volume": "v2"},
        ],
    }
    from hdh.closure import verify

    cloud = FakeCloud({"k1", "v2", "k2"})  # v1 gone but its key stayed; v2 still there
    done = verify(record, cloud)
    assert done["complete"] is False and cloud.deleted == []
    orphaned = {r["id"]: r.get("orphaned") for r in done["results"] if r["kind"] == "volume-key"}
    assert orphaned == {"k1": True, "k2": False}
    done = verify(record, cloud, shred=True)
    assert cloud.deleted == ["k1"], "a key whose volume still exists is never touched"
    k1 = next(r for r in done["results"] if r["id"] == "k1")
    assert k1["deleted"] and k1["shredded"] and "deleted by hdh closure" in k1["evidence"]
    assert done["complete"] is False  # v2 and its key remain


def test_a_key_is_gone_only_on_404_and_its_payload_is_never_fetched() -> None:
    """openstacksdk's get_secret neither raises on 404 nor stops at the metadata: the closure
    asks for the metadata itself and reads the status code."""
    from hdh.closure import _gone

    class Answers:
        def __init__(self, code: int) -> None:
            self.code = code
            self.paths: list[str] = []
            self.key_manager = self

        def get(self, path: str, raise_exc: bool = True) -> Any:
            self.paths.append(path)
            return type(
                "R", (), {"status_code": self.code, "json": lambda _: {"status": "ACTIVE"}}
            )()

        def get_secret(self, rid: str) -> Any:
            raise AssertionError("get_secret downloads the payload")

    for code, deleted, says in ((404, True, "404"), (200, False, "ACTIVE"), (503, False, "503")):
        cloud = Answers(code)
        got, evidence = _gone(cloud, {"kind": "key", "id": "k1"})
        assert (got, says in evidence) == (deleted, True), evidence
        assert cloud.paths == ["/secrets/k1"]
