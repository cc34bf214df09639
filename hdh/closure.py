"""Closure record of a destroyed bubble: each key, volume and container it held, then proof from
the OpenStack APIs that each is gone (crypto-shredding: the keys that encrypted its data).

    hdh closure prepare --state export.json --bubble B --out closure.json   # before destroying
    hdh closure verify closure.json      # after destroying: exit 1 if anything remains
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ground.errors import InputError

log = logging.getLogger(__name__)
FORMAT = "hdh-closure/v1"
BUBBLE_TYPE = "hdh:bubble:Bubble"
KINDS = {
    "pulumi-python:dynamic/keymanager:GeneratedKey": "key",
    "openstack:keymanager/secretV1:SecretV1": "key",
    "openstack:keymanager/orderV1:OrderV1": "key-order",
    "openstack:blockstorage/volume:Volume": "volume",
    "openstack:objectstorage/container:Container": "container",
    "openstack:compute/instance:Instance": "instance",
}
MAX_RECORD = 8 << 20


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def bubble_resources(deployment: Mapping[str, Any], bubble: str) -> list[dict[str, Any]]:
    """Every resource under the bubble's component in a `pulumi stack export` deployment."""
    resources = deployment.get("resources")
    if not isinstance(resources, list):
        raise InputError("deployment.resources: expected a list")
    roots = {
        r.get("urn")
        for r in resources
        if isinstance(r, dict)
        and r.get("type") == BUBBLE_TYPE
        and str(r.get("urn", "")).rsplit("::", 1)[-1] == f"bubble-{bubble}"
    }
    if not roots:
        raise InputError(
            f"no bubble {bubble!r} in this stack export ({BUBBLE_TYPE} bubble-{bubble})"
        )
    inside = set(roots)
    changed = True
    while changed:  # parents may come after children in an export: iterate to a fixed point
        changed = False
        for r in resources:
            if isinstance(r, dict) and r.get("parent") in inside and r.get("urn") not in inside:
                inside.add(r["urn"])
                changed = True
    return [r for r in resources if isinstance(r, dict) and r.get("urn") in inside - roots]


def _items(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in resources:
        kind = KINDS.get(r.get("type", ""))
        if kind is None or not r.get("id"):
            continue
        outs = r.get("outputs") or {}
        item = {"kind": kind, "id": str(r["id"]), "urn": r["urn"], "name": outs.get("name", "")}
        if kind == "key" and isinstance(outs.get("order_ref"), str):
            item["order"] = outs["order_ref"].rstrip("/").rsplit("/", 1)[-1]
        yield item


def from_export(export: Mapping[str, Any], bubble: str) -> list[dict[str, Any]]:
    """What the export says the bubble holds (no API call: checked before connecting)."""
    if export.get("version") != 3 or not isinstance(export.get("deployment"), dict):
        raise InputError("not a `pulumi stack export` (version 3) document")
    return list(_items(bubble_resources(export["deployment"], bubble)))


def prepare(export: Mapping[str, Any], bubble: str, conn: Any, stack: str = "") -> dict[str, Any]:
    """What the bubble holds, from the export plus the APIs (boot volumes, volume keys)."""
    items = from_export(export, bubble)
    extra: list[dict[str, Any]] = []
    for item in items:
        if item["kind"] == "instance":
            server = conn.compute.get_server(item["id"])
            for att in server.attached_volumes or []:
                vid = att.get("id") if isinstance(att, dict) else getattr(att, "id", None)
                if vid and not any(i["id"] == vid for i in items + extra):
                    extra.append({"kind": "volume", "id": vid, "urn": item["urn"], "name": "boot"})
    items += extra
    keys: list[dict[str, Any]] = []
    for item in items:
        if item["kind"] == "volume":
            vol = conn.block_storage.get_volume(item["id"])
            item["encrypted"] = bool(vol.is_encrypted)
            item["volumeType"] = vol.volume_type
            if vol.encryption_key_id:
                keys.append(
                    {
                        "kind": "volume-key",
                        "id": vol.encryption_key_id,
                        "volume": item["id"],
                        "urn": item["urn"],
                        "name": f"encryption key of volume {item['id']}",
                    }
                )
    return {
        "format": FORMAT,
        "stack": stack,
        "bubble": bubble,
        "prepared": now(),
        "cloud": {"region": conn.config.get_region_name(), "project": conn.current_project_id},
        "items": items + keys,
    }


def _gone(conn: Any, item: Mapping[str, Any]) -> tuple[bool, str]:
    """(deleted, evidence) for one item, by asking its service."""
    import openstack

    kind, rid = item["kind"], item["id"]
    if kind in ("key", "volume-key"):
        return _secret_gone(conn, rid)
    calls = {
        "key-order": lambda: conn.key_manager.get_order(rid),
        "volume": lambda: conn.block_storage.get_volume(rid),
        "container": lambda: conn.object_store.get_container_metadata(rid),
        "instance": lambda: conn.compute.get_server(rid),
    }
    service = {"key": "key-manager", "volume-key": "key-manager", "key-order": "key-manager"}.get(
        kind, {"volume": "block-storage", "container": "object-store"}.get(kind, "compute")
    )
    try:
        res = calls[kind]()
    except openstack.exceptions.NotFoundException:
        return True, f"{service} GET {rid}: 404 Not Found"
    status = getattr(res, "status", "") or "present"
    return False, f"{service} GET {rid}: still there ({status})"


def _secret_gone(conn: Any, rid: str) -> tuple[bool, str]:
    """A secret's metadata, asked for with its status code read.

    Not `get_secret`: openstacksdk's Secret.fetch neither raises on 404 (a deleted key looked
    present) nor stops at the metadata (it downloads the key itself). Any answer but 200 or 404
    proves nothing, so the key counts as still there and the answer is the evidence.
    """
    resp = conn.key_manager.get(f"/secrets/{rid}", raise_exc=False)
    code = int(resp.status_code)
    if code == 404:
        return True, f"key-manager GET {rid}: 404 Not Found"
    if code != 200:
        return False, f"key-manager GET {rid}: answered {code}, not verified"
    try:
        status = str(resp.json().get("status") or "present")
    except ValueError:
        status = "present"
    return False, f"key-manager GET {rid}: still there ({status})"


def verify(record: Mapping[str, Any], conn: Any, shred: bool = False) -> dict[str, Any]:
    """The record with each item's API verdict; `complete` only if every item is gone.

    `shred`: a volume's LUKS key that outlived its deleted volume (seen on the local cloud for
    boot volumes Nova deletes with their instance) is deleted from Barbican, then checked again.
    Only keys of volumes verified gone are touched.
    """
    results = []
    for item in record["items"]:
        deleted, evidence = _gone(conn, item)
        results.append({**item, "deleted": deleted, "evidence": evidence, "at": now()})
    gone = {r["id"] for r in results if r["kind"] == "volume" and r["deleted"]}
    for r in results:
        if r["kind"] != "volume-key" or r["deleted"]:
            continue
        r["orphaned"] = r.get("volume") in gone
        if shred and r["orphaned"]:
            log.info("closure: deleting key %s of deleted volume %s", r["id"], r["volume"])
            conn.key_manager.delete_secret(r["id"], ignore_missing=True)
            deleted, evidence = _gone(conn, r)
            r.update(deleted=deleted, shredded=True, at=now())
            r["evidence"] = f"outlived its deleted volume; deleted by hdh closure, then {evidence}"
    keys = [r for r in results if r["kind"] in ("key", "volume-key")]
    return {
        **record,
        "verified": now(),
        "results": results,
        "complete": all(r["deleted"] for r in results),
        "cryptoShredded": bool(keys) and all(r["deleted"] for r in keys),
    }


def read_record(path: Path) -> dict[str, Any]:
    """A closure record, checked for the fields we read (hostile files: one clear line)."""
    try:
        if path.stat().st_size > MAX_RECORD:
            raise InputError(f"{path}: larger than {MAX_RECORD >> 20} MiB")
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path}: format: not a closure record ({FORMAT})")
    items = doc.get("items")
    if not isinstance(items, list):
        raise InputError(f"{path}: items: expected a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("kind") not in {*KINDS.values(), "volume-key"}:
            raise InputError(f"{path}: items[{i}].kind: unknown kind")
        rid = item.get("id")
        if not isinstance(rid, str) or not rid or "/" in rid or len(rid) > 255:
            raise InputError(f"{path}: items[{i}].id: expected a plain resource id")
    return doc


def connect(region: str | None = None) -> Any:
    """An openstacksdk connection from OS_* variables or clouds.yaml (OS_CLOUD)."""
    import openstack

    try:
        return openstack.connect(region_name=region) if region else openstack.connect()
    except Exception as exc:  # the SDK raises many kinds for missing or bad credentials
        raise InputError(f"cannot connect to OpenStack: {exc}") from None
