#!/usr/bin/python3
"""hdh-backup: back the platform's volumes up (Cinder backups or snapshots), prune by retention.

Installed on the first services host by the hardening (/usr/local/sbin/hdh-backup, run by the
hdh-backup.timer) and imported by `hdh backup` on an operator's machine: it uses only the
standard library and openstacksdk (Debian's python3-openstacksdk on the host), nothing of the
project. Its configuration is one JSON file (0600, it holds the application credential):

    {"stack", "kind": "cinder-backup"|"snapshot", "keepDaily", "keepWeekly", "incremental",
     "region", "authUrl", "applicationId", "credentialSecret", "volumes": [{"name", "id"}]}

Each run creates one backup per volume, named `hdh-<stack>-<volume>-<UTC time>`, and deletes
the job's older backups beyond the retention: the newest of each of the last `keepDaily` days
and of each of the last `keepWeekly` ISO weeks stay. A backup other backups depend on
(incremental chains) is never deleted before them. The first backup of each ISO week is a full
one, so chains stay a week long.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PREFIX = "hdh-"
STAMP = "%Y%m%dT%H%M%SZ"
WAIT_SECONDS = 3600.0


@dataclass(frozen=True)
class Item:
    """A backup or snapshot the job made: id, name, when, and whether others depend on it."""

    id: str
    name: str
    volume_id: str
    created: datetime.datetime
    status: str
    dependents: bool = False
    incremental: bool = False


def name_for(stack: str, volume: str, now: datetime.datetime) -> str:
    return f"{PREFIX}{stack}-{volume}-{now.strftime(STAMP)}"


def keep(items: Iterable[Item], daily: int, weekly: int, now: datetime.datetime) -> set[str]:
    """Ids kept by the retention: the newest per day for `daily` days, per ISO week for
    `weekly` weeks (counted back from `now`), and anything not finished yet."""
    kept: set[str] = set()
    by_day: dict[datetime.date, Item] = {}
    by_week: dict[tuple[int, int], Item] = {}
    for it in sorted(items, key=lambda i: i.created, reverse=True):
        if it.status not in ("available", "error"):
            kept.add(it.id)  # creating, restoring, ...: never touched
            continue
        if it.status != "available":
            continue
        by_day.setdefault(it.created.date(), it)
        by_week.setdefault(tuple(it.created.isocalendar()[:2]), it)  # type: ignore[arg-type]
    today = now.date()
    for day, it in by_day.items():
        if (today - day).days < daily:
            kept.add(it.id)
    this_week = now.isocalendar()
    for (year, week), it in by_week.items():
        monday = datetime.date.fromisocalendar(year, week, 1)
        current = datetime.date.fromisocalendar(this_week[0], this_week[1], 1)
        if (current - monday).days // 7 < weekly:
            kept.add(it.id)
    return kept


def to_delete(items: list[Item], kept: set[str]) -> list[Item]:
    """What the retention lets go, newest first (incrementals before what they build on); a
    backup others depend on stays unless they all go too."""
    doomed = [i for i in items if i.id not in kept]
    doomed.sort(key=lambda i: i.created, reverse=True)
    survivors = [i for i in items if i.id in kept]
    out = []
    for it in doomed:
        # A kept incremental after a full backup of the same volume needs that chain.
        needed = it.dependents and any(
            s.volume_id == it.volume_id and s.incremental and s.created > it.created
            for s in survivors
        )
        if needed:
            survivors.append(it)
            continue
        out.append(it)
    return out


class Job:
    """The backup job against one cloud connection (openstacksdk's)."""

    def __init__(self, conn: Any, config: dict[str, Any]) -> None:
        self.conn, self.cfg = conn, config
        self.snapshots = config["kind"] == "snapshot"

    def _items(self, volume_id: str) -> list[Item]:
        bs = self.conn.block_storage
        raw = bs.snapshots(details=True) if self.snapshots else bs.backups(details=True)
        out = []
        prefix = f"{PREFIX}{self.cfg['stack']}-"
        for r in raw:
            if not (r.name or "").startswith(prefix) or r.volume_id != volume_id:
                continue  # only what this job made: never an operator's own backups
            out.append(
                Item(
                    id=r.id,
                    name=r.name,
                    volume_id=r.volume_id,
                    created=_when(r.created_at),
                    status=r.status,
                    dependents=bool(getattr(r, "has_dependent_backups", False)),
                    incremental=bool(getattr(r, "is_incremental", False)),
                )
            )
        return out

    def create(self, volume: dict[str, str], now: datetime.datetime) -> Any:
        bs = self.conn.block_storage
        name = name_for(self.cfg["stack"], volume["name"], now)
        description = f"hdh {self.cfg['stack']}: scheduled backup of {volume['name']}"
        if self.snapshots:
            return bs.create_snapshot(
                volume_id=volume["id"], name=name, description=description, is_forced=True
            )
        week = tuple(now.isocalendar()[:2])
        earlier = [
            i
            for i in self._items(volume["id"])
            if i.status == "available" and tuple(i.created.isocalendar()[:2]) == week
        ]
        incremental = bool(self.cfg.get("incremental", True) and earlier)
        return bs.create_backup(
            volume_id=volume["id"],
            name=name,
            description=description,
            is_incremental=incremental,
            force=True,  # the volume is attached to its host: a crash-consistent copy
        )

    def wait(self, item: Any, timeout: float = WAIT_SECONDS) -> Any:
        bs = self.conn.block_storage
        get = bs.get_snapshot if self.snapshots else bs.get_backup
        deadline = time.monotonic() + timeout
        while True:
            item = get(item.id)
            if item.status in ("available", "error"):
                return item
            if time.monotonic() > deadline:
                raise TimeoutError(f"{item.name}: still {item.status} after {timeout:.0f} s")
            time.sleep(5)

    def prune(self, volume: dict[str, str], now: datetime.datetime) -> list[str]:
        items = self._items(volume["id"])
        kept = keep(items, int(self.cfg["keepDaily"]), int(self.cfg["keepWeekly"]), now)
        bs = self.conn.block_storage
        deleted = []
        for it in to_delete(items, kept):
            if self.snapshots:
                bs.delete_snapshot(it.id, ignore_missing=True)
            else:
                bs.delete_backup(it.id, ignore_missing=True)
            deleted.append(it.name)
        return deleted

    def run(self, now: datetime.datetime | None = None) -> int:
        """One backup per volume, then the retention; 0 when every backup succeeded."""
        now = now or datetime.datetime.now(datetime.UTC)
        failed = 0
        for volume in self.cfg["volumes"]:
            try:
                done = self.wait(self.create(volume, now))
            except Exception as exc:  # one volume's failure must not stop the others
                print(f"{volume['name']}: backup failed: {exc}", file=sys.stderr)
                failed += 1
                continue
            if done.status != "available":
                print(f"{volume['name']}: {done.name} ended in {done.status}", file=sys.stderr)
                failed += 1
                continue  # no pruning on a failed day: the older backups are all there is
            gone = self.prune(volume, now)
            print(f"{volume['name']}: {done.name} available; deleted {len(gone)}: {gone}")
        return 1 if failed else 0


def _when(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        stamp = value
    else:
        stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.UTC)


def connect(config: dict[str, Any]) -> Any:
    """A connection with the job's application credential (nothing from the environment)."""
    import openstack

    return openstack.connect(
        auth_type="v3applicationcredential",
        auth={
            "auth_url": config["authUrl"],
            "application_credential_id": config["applicationId"],
            "application_credential_secret": config["credentialSecret"],
        },
        region_name=config["region"],
        load_yaml_config=False,
        load_envvars=False,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hdh-backup", description=__doc__.splitlines()[1])
    p.add_argument("--config", default="/etc/hdh/backup.json")
    args = p.parse_args(argv)
    with open(args.config) as fh:
        config = json.load(fh)
    return Job(connect(config), config).run()


if __name__ == "__main__":
    sys.exit(main())
