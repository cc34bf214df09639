"""The `hdh env` verbs: cycle (everything), up, verify, down, list; each returns its Report."""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdh.throwaway import names
from hdh.throwaway.cycle import Environment, Hook, Options
from hdh.throwaway.report import Report
from hdh.throwaway.workspace import backend, project, workspace

log = logging.getLogger(__name__)


def _outputs(report: Report, opts: Options) -> Report:
    report.json_path, report.junit_path = opts.json, opts.junit
    return report


def _checks(env: Environment, after: tuple[str, ...]) -> None:
    """policy, ssh, harden, verify; `after` = what they need first (cycle: up; verify: nothing)."""
    env.run("policy", env.policy, needs=after)
    env.run("ssh", env.wait_ssh, needs=after)
    if env.opts.harden:
        env.run("harden", env.harden, needs=("ssh",))
    else:
        p = env.report.phase("harden")
        p.status, p.detail = "skipped", "--no-harden"
    env.run("verify", env.verify, needs=("ssh", "harden") if env.opts.harden else ("ssh",))


def cycle(opts: Options, hook: Hook | None = None) -> Report:
    """create -> up -> policy -> ssh -> harden -> verify, then destroy -> remove, always."""
    env = Environment.new(opts, "cycle", backend())
    _outputs(env.report, opts)
    env.hook = hook
    with env.guard:
        try:
            env.run("create", env.create)
            env.run("up", env.up, needs=("create",))
            _checks(env, after=("up",))
        finally:
            failed = not env.report.passed and not env.guard.signal
            env.teardown(keep=opts.keep_on_failure and failed)
    return env.report


def up(opts: Options, hook: Hook | None = None) -> Report:
    """create -> up; the environment stays (until `down` or its expiry). A failed up tears down."""
    env = Environment.new(opts, "up", backend())
    _outputs(env.report, opts)
    env.hook = hook
    with env.guard:
        torn = False
        try:
            env.run("create", env.create)
            env.run("up", env.up, needs=("create",))
        finally:
            if not env.report.passed:
                torn = True
                env.teardown(keep=opts.keep_on_failure and not env.guard.signal)
            else:
                env.report.kept = True
                env.report.write()
                env.lock.release()
    if not torn:
        log.info(
            "kept until %s: hdh env verify %s / hdh env down %s",
            env.report.expires_at,
            env.report.stack,
            env.report.stack,
        )
    return env.report


def verify(name: str, opts: Options, hook: Hook | None = None) -> Report:
    """policy -> ssh -> harden -> verify on an environment that `hdh env up` made."""
    env = Environment.existing(name, opts, "verify", backend())
    if env is None:
        from ground.errors import InputError

        raise InputError(f"{name}: no such stack on the backend")
    _outputs(env.report, opts)
    env.hook = hook
    with env.guard:
        try:
            _checks(env, after=())
        finally:
            env.report.kept = True
            env.report.write()
            env.lock.release()
    return env.report


def down(name: str, opts: Options, hook: Hook | None = None) -> Report:
    """destroy -> remove; a stack that is gone already is not an error (CI cleanup steps)."""
    env = Environment.existing(name, opts, "down", backend())
    if env is None:
        report = _outputs(Report("down", name), opts)
        for phase in ("destroy", "remove"):
            p = report.phase(phase)
            p.status, p.detail = "skipped", "no such stack on the backend"
        report.write()
        shutil.rmtree(Environment(name, "", report, opts).dir, ignore_errors=True)
        log.info("%s: no such stack: nothing to do", name)
        return report
    _outputs(env.report, opts)
    env.hook = hook
    with env.guard:
        env.teardown(keep=False)
    return env.report


def listing(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every stack of the project on the backend, throwaway or not, with the verdict."""
    now = now or datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="hdh-env-") as tmp:
        ws = workspace(project(Path(tmp)), backend())
        rows = []
        for s in ws.list_stacks():
            v = names.classify(s.name, dict(ws.list_tags(s.name)))
            rows.append(
                {
                    "stack": s.name,
                    "throwaway": v.throwaway,
                    "base": v.base,
                    "expiresAt": names.format_time(v.expires) if v.expires else None,
                    "expired": v.expired(now),
                    "state": names.remaining(v.expires, now) if v.expires else v.why,
                    "owner": v.owner,
                    "resources": s.resource_count,
                    "updateInProgress": bool(s.update_in_progress),
                }
            )
    return rows
