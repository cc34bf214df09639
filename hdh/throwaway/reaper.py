"""The reaper: destroy expired throwaway stacks, then delete the expired orphans of lost ones.

Safe beside itself (one reaper at a time: the reaper lock, taken without waiting) and beside
running cycles (each expired stack's lock is taken without waiting: a stack in use is skipped).
Orphans are listed *before* the stacks they could belong to, so a stack created in between is
seen and its resources are not taken for orphans; an orphan is deleted only once expired.
Never touched: any stack that `names.classify` does not call a throwaway, and any resource
without an expiry tag and a throwaway stack name.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from ground.errors import HdhError
from hdh.throwaway import locks, names, orphans
from hdh.throwaway.workspace import (
    destroy,
    env_dir,
    project,
    remove_stack,
    render_stack_file,
    workspace,
)

log = logging.getLogger(__name__)


@dataclass
class Reaped:
    """What one reaper run saw and did (its JSON is the `--json` file)."""

    dry_run: bool
    stacks: list[dict[str, Any]] = field(default_factory=list)
    orphans: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""  # the whole run, e.g. another reaper holds the lock

    @property
    def failed(self) -> bool:
        return any(r.get("error") for r in [*self.stacks, *self.orphans])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "hdh-env-reap/v1",
            "dryRun": self.dry_run,
            "skipped": self.skipped or None,
            "stacks": self.stacks,
            "orphans": self.orphans,
            "result": "failed" if self.failed else "passed",
        }


def _destroy(
    ws: auto.LocalWorkspace, name: str, base: str, tags: dict[str, str], backend: str
) -> None:
    render_stack_file(
        base, name, {"hdh:expiresAt": tags[names.TAG_EXPIRES]}, Path(ws.work_dir), check=False
    )
    destroy(auto.Stack.select(name, ws), backend, None, wait=0)
    remove_stack(ws, name)
    shutil.rmtree(env_dir(name), ignore_errors=True)


def _stacks(ws: auto.LocalWorkspace, backend: str, now: datetime, run: Reaped) -> None:
    for s in ws.list_stacks():
        tags = dict(ws.list_tags(s.name))
        v = names.classify(s.name, tags)
        row: dict[str, Any] = {"stack": s.name, "throwaway": v.throwaway}
        if not v.throwaway:
            row["action"] = "ignored"
            row["why"] = v.why
        elif not v.expired(now):
            assert v.expires is not None
            row["action"], row["why"] = "kept", names.remaining(v.expires, now)
        else:
            assert v.expires is not None
            row["why"] = names.remaining(v.expires, now)
            lock = locks.for_stack(backend, s.name)
            if run.dry_run:
                row["action"] = "would destroy"
            elif not lock.acquire():
                row["action"], row["why"] = "skipped", "in use by a running hdh env command"
            else:
                try:
                    log.info("reap: destroying %s (%s, %s)", s.name, row["why"], v.owner)
                    _destroy(ws, s.name, v.base, tags, backend)
                    row["action"] = "destroyed"
                except (auto.CommandError, HdhError, OSError) as exc:
                    row["action"], row["error"] = "failed", str(exc).strip()[-500:]
                    log.warning("reap: %s: destroy failed, kept for the next run", s.name)
                finally:
                    lock.release()
        run.stacks.append(row)
        log.info("reap: %s: %s (%s)", s.name, row["action"], row["why"])


def _orphans(ws: auto.LocalWorkspace, now: datetime, run: Reaped) -> None:
    conn = orphans.connect()
    try:
        found = orphans.scan(conn)  # first: then a stack created meanwhile is listed below
        alive = {s.name for s in ws.list_stacks()}
        lost = [t for t in found if t.stack not in alive]
        expired = [t for t in lost if t.expires is not None and t.expires <= now]
        errors = {} if run.dry_run else {t: e for t, e in orphans.delete(conn, expired)}
        for t in lost:
            row = t.as_dict()
            if t not in expired:
                row["action"] = "kept"
                row["why"] = names.remaining(t.expires, now) if t.expires else "no valid expiry"
            elif run.dry_run:
                row["action"] = "would delete"
            elif t in errors:
                row["action"], row["error"] = "failed", errors[t]
            else:
                row["action"] = "deleted"
            run.orphans.append(row)
    finally:
        conn.close()


def reap(
    backend: str, dry_run: bool = False, with_orphans: bool = True, now: datetime | None = None
) -> Reaped:
    """One pass over the backend (and the cloud): see the module docstring."""
    now = now or datetime.now(UTC)
    run = Reaped(dry_run)
    lock = locks.for_reaper(backend)
    if not dry_run and not lock.acquire():
        run.skipped = "another reaper is running on this backend"
        log.info("reap: %s", run.skipped)
        return run
    try:
        with tempfile.TemporaryDirectory(prefix="hdh-reap-") as tmp:
            ws = workspace(project(Path(tmp)), backend)
            _stacks(ws, backend, now, run)
            if with_orphans:
                _orphans(ws, now, run)
    finally:
        lock.release()
    return run
