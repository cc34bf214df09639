"""The backup job and the restore drill against a fake block storage API (no cloud)."""

from __future__ import annotations

import datetime
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from hardening import backupjob
from hardening.backupjob import Item, Job, keep, to_delete
from hdh import backup

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 18, 2, 30, tzinfo=UTC)  # a Wednesday


def item(i: int, days_ago: float, **kw: Any) -> Item:
    created = NOW - datetime.timedelta(days=days_ago)
    return Item(str(i), f"hdh-s-v-{i}", "vol", created, kw.pop("status", "available"), **kw)


def test_retention_keeps_days_then_weeks() -> None:
    items = [item(i, i) for i in range(60)]  # one a day for 60 days
    kept = keep(items, daily=7, weekly=4, now=NOW)
    days = sorted(int(i) for i in kept)
    assert days[:7] == [0, 1, 2, 3, 4, 5, 6]  # the last 7 days
    assert len(kept) == 7 + 2  # + the newest of the 2 earlier weeks within 4 weeks
    assert max(days) < 28


def test_retention_never_touches_what_is_in_progress() -> None:
    items = [item(1, 90, status="creating"), item(2, 90, status="error"), item(3, 0)]
    kept = keep(items, 1, 0, NOW)
    assert kept == {"1", "3"}
    assert [i.id for i in to_delete(items, kept)] == ["2"]


def test_a_chain_is_never_broken() -> None:
    full = item(1, 9, dependents=True)
    incr = item(2, 1, incremental=True)
    old = item(3, 20)
    gone = to_delete([full, incr, old], kept={"2"})
    assert [i.id for i in gone] == ["3"]  # the full backup stays under its kept incremental


@dataclass
class Thing:
    id: str
    name: str
    volume_id: str
    status: str = "available"
    created_at: str = ""
    size: int = 1
    volume_type: str = "luks"
    is_encrypted: bool = True
    is_incremental: bool = False
    has_dependent_backups: bool = False


@dataclass
class FakeStorage:
    backups_: list[Thing] = field(default_factory=list)
    volumes: dict[str, Thing] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(100))

    def backups(self, details: bool = True) -> list[Thing]:
        return list(self.backups_)

    def create_backup(self, **kw: Any) -> Thing:
        self.created.append(kw)
        b = Thing(str(next(self.ids)), kw["name"], kw["volume_id"], "creating", NOW.isoformat())
        b.is_incremental = kw["is_incremental"]
        self.backups_.append(b)
        return b

    def get_backup(self, bid: str) -> Thing:
        b = next(b for b in self.backups_ if b.id == bid)
        b.status = "available"
        return b

    def delete_backup(self, bid: str, ignore_missing: bool = True) -> None:
        self.deleted.append(bid)
        self.backups_ = [b for b in self.backups_ if b.id != bid]

    def get_volume(self, vid: str) -> Thing:
        return self.volumes[vid]

    def restore_backup(self, b: Thing, name: str) -> Any:
        new = Thing(str(next(self.ids)), name, "", "available", size=1)
        self.volumes[new.id] = new
        return type("R", (), {"volume_id": new.id})()

    def delete_volume(self, vid: str, ignore_missing: bool = True) -> None:
        self.deleted.append(vid)

    def upload_volume_to_image(self, volume: Thing, name: str, **kw: Any) -> dict[str, Any]:
        return {"os-volume_upload_image": {"image_id": "img-1"}}


class FakeImage:
    def __init__(self, data: bytes) -> None:
        self.data, self.deleted = data, list[str]()

    def get_image(self, iid: str) -> Any:
        return type("I", (), {"status": "active", "id": iid})()

    def download_image(self, image: Any, stream: bool = True) -> Any:
        data = self.data
        return type("D", (), {"iter_content": lambda self, n: [data[:3], data[3:]]})()

    def delete_image(self, iid: str, ignore_missing: bool = True) -> None:
        self.deleted.append(iid)


class Conn:
    def __init__(self, storage: FakeStorage, data: bytes = b"hello world") -> None:
        self.block_storage, self.image = storage, FakeImage(data)


CONFIG: dict[str, Any] = {
    "stack": "s",
    "kind": "cinder-backup",
    "keepDaily": 2,
    "keepWeekly": 0,
    "incremental": True,
    "volumes": [
        {"name": "data", "id": "v1", "tier": "data"},
        {"name": "bubble-a", "id": "v2", "tier": "bubble"},
    ],
}


def test_the_job_backs_every_volume_up_and_prunes_its_own_only() -> None:
    old = NOW - datetime.timedelta(days=5)
    storage = FakeStorage(
        backups_=[
            Thing("1", f"hdh-s-data-{old:%Y%m%dT%H%M%SZ}", "v1", created_at=old.isoformat()),
            Thing("2", "an-operators-own-backup", "v1", created_at=old.isoformat()),
        ]
    )
    assert Job(Conn(storage), CONFIG).run(NOW) == 0
    names = [c["name"] for c in storage.created]
    assert names == ["hdh-s-data-20260318T023000Z", "hdh-s-bubble-a-20260318T023000Z"]
    assert all(c["force"] for c in storage.created)  # attached volumes: crash-consistent
    # The first of the week is a full backup; the old one of the job goes, not the operator's.
    assert [c["is_incremental"] for c in storage.created] == [False, False]
    assert storage.deleted == ["1"]


def test_a_second_backup_in_the_week_is_incremental() -> None:
    monday = datetime.datetime(2026, 3, 16, 2, 30, tzinfo=UTC)
    storage = FakeStorage(
        backups_=[Thing("1", "hdh-s-data-x", "v1", created_at=monday.isoformat())]
    )
    Job(Conn(storage), {**CONFIG, "volumes": CONFIG["volumes"][:1]}).run(NOW)
    assert storage.created[0]["is_incremental"] is True


def test_the_drill_restores_the_newest_and_checks_the_content() -> None:
    day = lambda d: (NOW - datetime.timedelta(days=d)).isoformat()  # noqa: E731
    storage = FakeStorage(
        backups_=[
            Thing("1", "hdh-s-bubble-a-old", "v2", created_at=day(3)),
            Thing("2", "hdh-s-bubble-a-new", "v2", created_at=day(1)),
            Thing("3", "hdh-s-bubble-a-failed", "v2", status="error", created_at=day(0)),
        ],
        volumes={"v2": Thing("v2", "src", "")},
    )
    conn = Conn(storage, b"hello world")
    drill = backup.Drill(conn, {"kind": "cinder-backup"}, "s")
    volume = backup.pick_volume({"volumes": CONFIG["volumes"]}, None)
    assert volume["name"] == "bubble-a"  # a bubble's by default
    good = hashlib.sha256(b"hello world").hexdigest()
    report = drill.run(volume, expect_sha256=good)
    assert report.backup == "hdh-s-bubble-a-new" and report.ok, report
    assert report.sha256 == good and conn.image.deleted == ["img-1"]
    assert report.restored_id in storage.deleted  # the drill leaves nothing behind
    bad = drill.run(volume, expect_sha256="0" * 64)
    assert not bad.ok and bad.checks["content"] is False


def test_the_drill_says_when_there_is_nothing_to_restore() -> None:
    storage = FakeStorage(volumes={"v1": Thing("v1", "src", "")})
    drill = backup.Drill(Conn(storage), {"kind": "cinder-backup"}, "s")
    with pytest.raises(backup.DrillError, match="no available backup"):
        drill.run({"name": "data", "id": "v1"})
    with pytest.raises(Exception, match="is not backed up"):
        backup.pick_volume({"volumes": CONFIG["volumes"]}, "nope")


def test_the_job_runs_on_the_host_without_the_project() -> None:
    """The job is copied to the services host as a script: only stdlib and openstacksdk."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(backupjob.__file__).read_text())
    imported = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert imported <= {"__future__", "argparse", "datetime", "json", "sys", "time",
                        "collections", "dataclasses", "typing", "openstack"}  # fmt: skip
