"""`hdh env` verbs as sequences of timed phases; teardown always runs, and signals cannot cut it.

A signal (SIGINT, SIGTERM) never raises in the middle of a phase: it is recorded, the running
child (the engine, ssh, `hdh harden`, pytest) is asked to stop with one SIGINT (Pulumi then
finishes the operations in flight and saves the state), the phase ends as `interrupted`, the
remaining phases are not run, and teardown (destroy, then remove the stack) runs to the end.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from pulumi import automation as auto

from ground.errors import HdhError, InputError
from hdh import engine
from hdh.throwaway import locks, names, phases
from hdh.throwaway.report import Report
from hdh.throwaway.workspace import (
    CHILDREN,
    destroy,
    env_dir,
    project,
    remove_stack,
    render_stack_file,
    workspace,
)

log = logging.getLogger(__name__)
# Called as each phase starts, with the environment (tests inject failures, or open a way to
# the bastion once its address is known).
Hook = Callable[[str, "Environment"], None]


class Busy(HdhError):
    """Another `hdh env` command (or the reaper) holds the environment."""

    exit_code = 1


@dataclass
class Options:
    base: str = ""
    ttl: timedelta = timedelta(hours=4)
    ident: str | None = None
    ssh_key: Path | None = None
    ssh_timeout: float = 900.0
    step_timeout: float = 3600.0  # hardening, checks
    keep_on_failure: bool = False
    harden: bool = True
    bastion: tuple[str, int] | None = None  # reach the bastion here (a forward), not its FIP
    reports: Path | None = None
    json: Path | None = None
    junit: Path | None = None


class Guard:
    """SIGINT/SIGTERM handlers for the length of a command (main thread only)."""

    def __init__(self) -> None:
        self.signal = ""
        self.tearing_down = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.tearing_down:
            log.warning(
                "%s: teardown goes on (SIGKILL abandons it; the reaper takes it later)", name
            )
            return
        if self.signal:
            log.warning("%s again: the current step is stopping", name)
            return
        self.signal = name
        n = CHILDREN.signal(signal.SIGINT)
        log.warning("%s: stopping the current phase (%d child process(es)), then teardown", name, n)

    def __enter__(self) -> Guard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _pulumi_errors(exc: auto.CommandError, seen: list[str]) -> str:
    """The engine's own error lines, not its whole output."""
    if seen:
        return "; ".join(seen[-3:])
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("error:", "Error"))]
    return "; ".join(lines[-3:]) or str(exc).strip().splitlines()[-1][:300]


def _essence(message: str) -> str:
    """The line that says what went wrong, out of an engine diagnostic (often a traceback)."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    bullets = [ln.lstrip("* ").strip() for ln in lines if ln.startswith("* ")]
    return bullets[-1] if bullets else (lines[-1] if lines else "")


def _reachable(inventory: dict[str, Any], via: tuple[str, int] | None = None) -> dict[str, Any]:
    """The inventory as seen from where this runs: the bastion host at its public address.

    The stack lists the bastion among the hosts at its private address, which only the cloud's
    own networks reach; from CI it answers at the floating IP (`bastion.address`), or at `via`
    (--bastion: a port forward or VPN endpoint to it).
    """
    bastion = dict(inventory.get("bastion") or {})
    if via is not None:
        bastion.update(address=via[0], port=via[1])
    public = (
        {"address": bastion["address"], "port": bastion.get("port", 22)}
        if bastion.get("address")
        else None
    )
    hosts = [
        {**h, **public} if public and h.get("role") == "bastion" else h
        for h in inventory.get("hosts") or []
        if isinstance(h, dict)
    ]
    return {**inventory, **({"bastion": bastion} if bastion else {}), "hosts": hosts}


class Environment:
    """One throwaway stack on the backend and its files on this machine (env_dir)."""

    def __init__(self, name: str, backend: str, report: Report, opts: Options) -> None:
        self.name, self.backend, self.report, self.opts = name, backend, report, opts
        self.dir = env_dir(name)
        self.lock = locks.for_stack(backend, name)
        self.guard = Guard()
        self.hook: Hook | None = None
        self.ws: auto.LocalWorkspace | None = None
        self.stack: auto.Stack | None = None
        self.created = False  # by this command: only then may a failed `up` tear it down
        self.tags: dict[str, str] = {}
        self.key: Path | None = None
        self.reports = opts.reports or self.dir / "reports"
        self._errors: list[str] = []

    # ------------------------------------------------------------------ preparing (exit 2)

    @classmethod
    def new(cls, opts: Options, command: str, backend: str) -> Environment:
        """Check every input and write the project copy and stack file; nothing on the backend."""
        if not names.MIN_TTL <= opts.ttl <= names.MAX_TTL:
            raise InputError("--ttl: must be between 15m and 7d")
        name = names.make_name(opts.base, opts.ident)
        engine.environment(os.environ, backend=backend)  # passphrase set, backend allowed
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + opts.ttl
        report = Report(command, name, opts.base, backend, names.format_time(expires))
        env = cls(name, backend, report, opts)
        env.tags = names.tags_for(opts.base, expires, now, names.owner())
        if env.dir.exists():
            # Another environment of that name lives here (kept by `up`): its key is in there.
            raise InputError(
                f"--id: {name} exists on this machine ({env.dir}): choose another id, or "
                f"`hdh env down {name}` first"
            )
        env.dir.mkdir(parents=True, mode=0o700)
        try:
            env.key, public = phases.ssh_keys(env.dir, opts.ssh_key)
            copy = project(env.dir)
            render_stack_file(
                opts.base,
                name,
                {"hdh:expiresAt": env.tags[names.TAG_EXPIRES], "hdh:sshPublicKey": public},
                copy,
            )
        except BaseException:
            shutil.rmtree(env.dir, ignore_errors=True)
            raise
        return env

    @classmethod
    def existing(cls, name: str, opts: Options, command: str, backend: str) -> Environment | None:
        """A throwaway stack already on the backend (None if there is no such stack)."""
        m = names.NAME.match(name)
        if not m:
            raise InputError(f"{name!r}: not a throwaway stack name (tw-<base>-<id>)")
        engine.environment(os.environ, backend=backend)
        report = Report(command, name, m.group("base"), backend)
        env = cls(name, backend, report, opts)
        copy = project(env.dir)
        env.ws = workspace(copy, backend)
        if name not in {s.name for s in env.ws.list_stacks()}:
            shutil.rmtree(env.dir, ignore_errors=True)  # what this machine kept of it is moot
            return None
        env.tags = dict(env.ws.list_tags(name))
        verdict = names.classify(name, env.tags)
        if not verdict.throwaway:
            raise InputError(f"{name}: not a throwaway stack ({verdict.why}); left alone")
        report.expires_at = env.tags[names.TAG_EXPIRES]
        env.key = opts.ssh_key or (
            env.dir / "id_ed25519" if (env.dir / "id_ed25519").exists() else None
        )
        overrides: dict[str, Any] = {"hdh:expiresAt": env.tags[names.TAG_EXPIRES]}
        if env.key is not None:
            overrides["hdh:sshPublicKey"] = phases.ssh_keys(env.dir, env.key)[1]
        try:
            render_stack_file(verdict.base, name, overrides, copy, check=False)
        except FileNotFoundError:
            raise InputError(
                f"{name}: its base stack {verdict.base} is not in this checkout"
            ) from None
        if not env.lock.acquire():
            raise Busy(f"{name} is in use by another hdh env command or the reaper")
        env.stack = auto.Stack.select(name, env.ws)
        return env

    # ------------------------------------------------------------------ running phases

    def run(
        self,
        phase: str,
        body: Callable[[], dict[str, Any] | None],
        needs: tuple[str, ...] = (),
        teardown: bool = False,
    ) -> bool:
        p = self.report.phase(phase)
        blocked = [n for n in needs if self.report.phase(n).status != "passed"]
        if self.guard.signal and not teardown:
            p.status, p.detail = "not-run", f"stopped by {self.guard.signal}"
        elif blocked:
            p.status, p.detail = (
                "not-run",
                f"needs {blocked[0]} ({self.report.phase(blocked[0]).status})",
            )
        else:
            self._run(p, body, teardown)
        if p.status == "not-run":
            log.info("%s: not run (%s)", phase, p.detail)
        self.report.interrupted_by = self.guard.signal
        self.report.write()
        return p.status == "passed"

    def _run(self, p: Any, body: Callable[[], dict[str, Any] | None], teardown: bool) -> None:
        log.info("%s: %s ...", p.name, self.name)
        start = time.monotonic()
        self._errors = []
        try:
            expires = names.parse_time(self.report.expires_at)
            if not teardown and expires and datetime.now(UTC) >= expires:
                raise phases.PhaseFailed(
                    f"the environment expired at {self.report.expires_at} (the reaper may take "
                    "it): give a longer --ttl"
                )
            if self.hook:
                self.hook(p.name, self)
            p.facts = body() or {}
            p.status = "passed"
        except phases.PhaseFailed as exc:
            p.status, p.detail, p.facts = "failed", str(exc), exc.facts
        except auto.CommandError as exc:
            p.status, p.detail = "failed", _pulumi_errors(exc, self._errors)
        except HdhError as exc:
            p.status, p.detail = "failed", "; ".join(exc.lines())
        except Exception as exc:  # a bug: said with its traceback, and teardown still runs
            log.error("%s: unexpected %s", p.name, type(exc).__name__, exc_info=True)
            p.status, p.detail = "failed", f"{type(exc).__name__}: {exc}"
        p.seconds = time.monotonic() - start
        if self.guard.signal and p.status != "passed" and not teardown:
            p.status, p.detail = "interrupted", f"{self.guard.signal}: {p.detail}".rstrip(": ")
        log.info(
            "%s: %s in %.1f s%s", p.name, p.status, p.seconds, f": {p.detail}" if p.detail else ""
        )

    def _progress(self, verb: str) -> Callable[[auto.EngineEvent], None]:
        done = [0]
        last = [time.monotonic()]

        def on_event(event: auto.EngineEvent) -> None:
            if event.diagnostic_event and event.diagnostic_event.severity == "error":
                msg = _essence(event.diagnostic_event.message)
                if msg:
                    self._errors.append(msg[:300])
            if event.res_outputs_event:
                done[0] += 1
                if time.monotonic() - last[0] >= 15:
                    last[0] = time.monotonic()
                    log.info("%s: %d resources done", verb, done[0])

        return on_event

    # ------------------------------------------------------------------ the phases

    def create(self) -> dict[str, Any]:
        if not self.lock.acquire():
            raise Busy(f"{self.name} is in use by another hdh env command")
        self.ws = workspace(self.dir / "project", self.backend)
        try:
            self.stack = auto.Stack.create(self.name, self.ws)
        except auto.StackAlreadyExistsError:
            raise phases.PhaseFailed(f"a stack {self.name} already exists: left alone") from None
        self.created = True
        for key, value in self.tags.items():
            self.ws.set_tag(self.name, key, value)
        return {"tags": self.tags}

    def up(self) -> dict[str, Any]:
        assert self.stack is not None
        res = self.stack.up(color="never", on_event=self._progress("up"), on_output=log.debug)
        return {"resourceChanges": dict(res.summary.resource_changes or {})}

    def policy(self) -> dict[str, Any]:
        assert self.stack is not None
        dep = self.stack.export_stack()
        return phases.policy({"version": dep.version, "deployment": dep.deployment}, self.reports)

    def _inventory(self) -> tuple[dict[str, Any], Path, Path]:
        """(inventory, outputs file, ssh_config): the stack's hosts and how to reach them."""
        from hardening.inventory import load_outputs, ssh_config, user_of

        assert self.stack is not None
        if self.key is None:
            raise InputError(
                f"{self.name}: no SSH key on this machine for it: give --ssh-key (the key "
                "`hdh env up` made lives where it ran)"
            )
        inv = self.stack.outputs().get("inventory")
        if inv is None or not isinstance(inv.value, dict):
            raise phases.PhaseFailed("the stack has no `inventory` output")
        outputs = self.dir / "outputs.json"
        reachable = _reachable(inv.value, self.opts.bastion)
        outputs.write_text(json.dumps({"inventory": reachable}, indent=1))
        doc = load_outputs(outputs)
        user = user_of(doc, doc.get("bastion") or {})  # the stack's deploy user
        cfg = self.dir / "ssh_config"
        cfg.write_text(
            ssh_config(doc, user, str(self.key), str(self.dir / "known_hosts"), "accept-new")
        )
        return doc, outputs, cfg

    def wait_ssh(self) -> dict[str, Any]:
        doc, _, cfg = self._inventory()
        return phases.wait_ssh(doc, cfg, self.opts.ssh_timeout, lambda: bool(self.guard.signal))

    def harden(self) -> dict[str, Any]:
        doc, outputs, _ = self._inventory()
        assert self.key is not None
        self.reports.mkdir(parents=True, exist_ok=True)
        from hardening.inventory import user_of

        user = user_of(doc, doc.get("bastion") or {})
        return phases.harden(
            outputs, user, self.key, self.dir / "known_hosts", self.reports, self.opts.step_timeout
        )

    def verify(self) -> dict[str, Any]:
        doc, _, cfg = self._inventory()
        self.reports.mkdir(parents=True, exist_ok=True)
        return phases.verify(doc, cfg, self.reports, self.opts.step_timeout)

    def destroy(self) -> dict[str, Any]:
        assert self.stack is not None
        res = destroy(self.stack, self.backend, self._progress("destroy"))
        return {"resourceChanges": dict(res.summary.resource_changes or {})}

    def remove(self) -> dict[str, Any]:
        assert self.ws is not None
        remove_stack(self.ws, self.name)
        return {}

    # ------------------------------------------------------------------ teardown

    def teardown(self, keep: bool) -> None:
        """Destroy and remove the stack this command created (or that `down` was given)."""
        self.guard.tearing_down = True
        try:
            if self.stack is None:
                for phase in ("destroy", "remove"):
                    p = self.report.phase(phase)
                    p.status, p.detail = "not-run", "no stack was created"
            elif keep:
                for phase in ("destroy", "remove"):
                    p = self.report.phase(phase)
                    p.status = "skipped"
                    p.detail = (
                        f"kept for inspection until {self.report.expires_at}: "
                        f"hdh env down {self.name}"
                    )
                self.report.kept = True
            else:
                self.run("destroy", self.destroy, teardown=True)
                self.run("remove", self.remove, needs=("destroy",), teardown=True)
            self.report.interrupted_by = self.guard.signal
            self.report.write()
            if self.report.phase("remove").status == "passed" or self.stack is None:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            self.lock.release()
