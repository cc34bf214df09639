"""Backups from an operator's machine: run the job now, and the restore drill.

The drill restores a volume's newest backup (or snapshot) of the job into a new volume, checks it
(available, same size and encrypted type as the source, in the stack's region), reads its content
back through the Image service (Cinder's upload-to-image, then a streamed download hashed with
SHA-256), compares it with the expected digest when one is given, and deletes what it made.
It uses the operator's credentials (OS_* or clouds.yaml), not the job's: restoring is not the
job's right.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ground.errors import HdhError, InputError
from hardening.backupjob import PREFIX, Item, _when

log = logging.getLogger(__name__)

TIMEOUT = 1800.0
CHUNK = 1 << 20


class DrillError(HdhError):
    """The drill could not restore or verify: one line saying which step and why."""

    exit_code = 1


@dataclass
class DrillReport:
    volume: str
    source_id: str
    backup: str = ""
    backup_created: str = ""
    restored_id: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    sha256: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "volume": self.volume,
            "source": self.source_id,
            "backup": self.backup,
            "backupCreated": self.backup_created,
            "restored": self.restored_id,
            "checks": self.checks,
            "sha256": self.sha256,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
        }


def backups_section(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """The inventory's `backups` section, checked enough to act on."""
    section = doc.get("backups")
    if not isinstance(section, dict) or not section.get("volumes"):
        raise InputError(f"{path}: no backups section (backups off, or an older stack output)")
    if section.get("kind") not in ("cinder-backup", "snapshot"):
        raise InputError(f"{path}: backups.kind: cinder-backup or snapshot")
    return section


def pick_volume(section: dict[str, Any], name: str | None) -> dict[str, Any]:
    volumes = section["volumes"]
    if name is None:  # a bubble's, when there is one: the drill the platform is asked for
        return next((v for v in volumes if v.get("tier") == "bubble"), volumes[0])
    for v in volumes:
        if v["name"] == name:
            return v
    raise InputError(
        f"--volume: {name!r} is not backed up (volumes: {[v['name'] for v in volumes]})"
    )


def connect(section: dict[str, Any]) -> Any:
    """The operator's connection, pinned to the stack's region."""
    import openstack

    kwargs: dict[str, Any] = {"region_name": section["region"]}
    if section.get("authUrl"):
        kwargs["auth_url"] = section["authUrl"]
    return openstack.connect(**kwargs)


class Drill:
    def __init__(self, conn: Any, section: dict[str, Any], stack: str) -> None:
        self.conn, self.section, self.stack = conn, section, stack
        self.snapshots = section["kind"] == "snapshot"

    def newest(self, volume: dict[str, Any]) -> Any:
        bs = self.conn.block_storage
        raw = bs.snapshots(details=True) if self.snapshots else bs.backups(details=True)
        prefix = f"{PREFIX}{self.stack}-{volume['name']}-"
        done = [
            r for r in raw
            if (r.name or "").startswith(prefix) and r.volume_id == volume["id"]
            and r.status == "available"
        ]  # fmt: skip
        if not done:
            raise DrillError(f"{volume['name']}: no available backup of the job to restore")
        return max(done, key=lambda r: _when(r.created_at))

    def restore(self, item: Any, source: Any, name: str) -> Any:
        bs = self.conn.block_storage
        if self.snapshots:
            return bs.create_volume(
                name=name, snapshot_id=item.id, size=source.size, volume_type=source.volume_type
            )
        restored = bs.restore_backup(item, name=name)
        return bs.get_volume(_restored_volume_id(restored))

    def wait_volume(self, volume: Any, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            volume = self.conn.block_storage.get_volume(volume.id)
            if volume.status == "available":
                return volume
            if volume.status.startswith("error") or time.monotonic() > deadline:
                raise DrillError(f"restored volume {volume.id}: {volume.status}")
            time.sleep(3)

    def digest(self, volume: Any, timeout: float = TIMEOUT) -> str:
        """SHA-256 of the volume's bytes, read through upload-to-image (then the image goes)."""
        name = f"hdh-drill-read-{volume.id}"
        out = self.conn.block_storage.upload_volume_to_image(
            volume, name, disk_format="raw", container_format="bare"
        )
        image_id = _image_id(out)
        try:
            deadline = time.monotonic() + timeout
            while True:
                image = self.conn.image.get_image(image_id)
                if image.status == "active":
                    break
                if image.status in ("killed", "deleted") or time.monotonic() > deadline:
                    raise DrillError(f"reading {volume.id} back: image {image.status}")
                time.sleep(3)
            h = hashlib.sha256()
            for chunk in self.conn.image.download_image(image, stream=True).iter_content(CHUNK):
                h.update(chunk)
            return h.hexdigest()
        finally:
            self.conn.image.delete_image(image_id, ignore_missing=True)
            self.wait_volume(volume)  # back to available after the upload

    def run(
        self,
        volume: dict[str, Any],
        expect_sha256: str | None = None,
        read: bool = False,
        keep: bool = False,
    ) -> DrillReport:
        start = time.monotonic()
        bs = self.conn.block_storage
        report = DrillReport(volume["name"], volume["id"])
        source = bs.get_volume(volume["id"])
        item = self.newest(volume)
        report.backup, report.backup_created = item.name, str(item.created_at)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        log.info("%s: restoring %s", volume["name"], item.name)
        restored = self.wait_volume(
            self.restore(item, source, f"hdh-drill-{volume['name']}-{stamp}")
        )
        report.restored_id = restored.id
        try:
            report.checks["available"] = restored.status == "available"
            report.checks["same size"] = restored.size == source.size
            report.checks["same encrypted type"] = restored.volume_type == source.volume_type
            report.checks["encrypted"] = bool(getattr(restored, "is_encrypted", False))
            if read or expect_sha256:
                log.info("%s: reading the restored volume back", volume["name"])
                report.sha256 = self.digest(restored)
            if expect_sha256:
                report.checks["content"] = report.sha256 == expect_sha256.lower()
        finally:
            if not keep:
                bs.delete_volume(restored.id, ignore_missing=True)
        report.seconds = time.monotonic() - start
        return report


def _restored_volume_id(restored: Any) -> str:
    """openstacksdk returns the backup with the restore's answer ({volume_id, ...}) on it."""
    for attr in ("volume_id",):
        value = getattr(restored, attr, None)
        if value:
            return str(value)
    raise DrillError("the restore answered without a volume id")


def _image_id(answer: Any) -> str:
    if isinstance(answer, dict):
        inner = answer.get("os-volume_upload_image", answer)
        if inner.get("image_id"):
            return str(inner["image_id"])
    raise DrillError(f"upload-to-image answered without an image id: {answer!r}")


def latest_item(items: list[Item]) -> Item | None:
    return max(items, key=lambda i: i.created) if items else None
