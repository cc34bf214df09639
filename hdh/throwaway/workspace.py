"""Pulumi Automation API wiring: a project copy per environment, sovereign defaults, our children.

Every engine command runs through `Command`, a `PulumiCommand` whose children start in their own
session: a terminal's Ctrl-C reaches only us, and we decide what the running engine gets (one
SIGINT: Pulumi finishes the operations in flight, saves the state and stops). Teardown is then
never cut short by the signal that asked for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto
from pulumi.automation.errors import create_command_error

from components.config import load_stack, stack_path
from ground.errors import ConfigError
from ground.paths import cache_dir
from hdh import engine

log = logging.getLogger(__name__)


class Children:
    """The child processes running now, so that a signal can be passed on to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[Any]] = set()

    def add(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def signal(self, sig: int) -> int:
        with self._lock:
            procs = [p for p in self._procs if p.poll() is None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)
        return len(procs)


CHILDREN = Children()


def run_child(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command in its own session, registered for signals; kill its group on timeout."""
    out = open(log_file, "w") if log_file else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        CHILDREN.add(proc)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        finally:
            CHILDREN.discard(proc)
    finally:
        if out:
            out.close()
    text = stdout if stdout is not None else (log_file.read_text() if log_file else "")
    return subprocess.CompletedProcess(list(argv), proc.returncode, text, "")


class Command(auto.PulumiCommand):
    """The project's engine, its children in their own session and registered in CHILDREN."""

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        if "--non-interactive" not in args:
            args = ["--non-interactive", *args]
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        out: list[str] = []
        err: list[str] = []
        proc = subprocess.Popen(
            [self.command, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            start_new_session=True,
        )
        CHILDREN.add(proc)

        def pump(stream: Any, sink: list[str], callback: auto.OnOutput | None) -> None:
            for line in iter(stream.readline, ""):
                line = line.rstrip()
                sink.append(line)
                if callback:
                    callback(line)
            stream.close()

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, out, on_output), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, err, on_error), daemon=True),
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            proc.wait()
        finally:
            CHILDREN.discard(proc)
        result = auto.CommandResult(
            stdout="\n".join(out), stderr="\n".join(err), code=proc.returncode
        )
        if proc.returncode != 0:
            raise create_command_error(result)
        return result


def env_dir(name: str) -> Path:
    """An environment's files on this machine: project copy, SSH key, known_hosts, outputs."""
    return cache_dir("envs", name)


def render_stack_file(
    base: str, name: str, overrides: Mapping[str, Any], dest: Path, check: bool = True
) -> Path:
    """The throwaway's stack file: the base stack's config plus `overrides`, checked by the model.

    `check=False` for a stack that exists already (destroy runs no program: a model that changed
    since its creation must not keep it from going away).

    Secure values are refused: they are encrypted with the base stack's key, which the throwaway
    does not share. Throwaways take their secrets from the environment (OS_*, the passphrase).
    """
    src = stack_path(base)
    doc = yaml.safe_load(src.read_text()) or {}  # FileNotFoundError: the caller says which base
    config = dict(doc.get("config") or {})
    for key, value in config.items():
        if isinstance(value, dict) and "secure" in value:
            raise ConfigError(
                f"stacks/{src.name}",
                key,
                "a secure value cannot be copied to a throwaway stack (give it through the "
                "environment, e.g. OS_* variables)",
            )
    config.update(overrides)
    path = dest / "stacks" / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    if check:
        load_stack(name, path)  # every problem, one line each, before anything exists
    return path


def project(dest: Path) -> Path:
    """A fresh copy of the project in `dest/project` (an older copy is replaced)."""
    target = dest / "project"
    if target.exists():
        shutil.rmtree(target)
    return engine.copy_project(target)


def workspace(project_dir: Path, backend: str | None = None) -> auto.LocalWorkspace:
    """A LocalWorkspace on a project copy with the engine's sovereign defaults (hdh.engine)."""
    env = engine.environment(os.environ, backend=backend or engine.backend_url(os.environ))
    bin_dir = engine.install()
    root = str(bin_dir.parent) if bin_dir.name == "bin" else None
    if root is None:  # a `pulumi` found elsewhere on PATH: the environment puts it first
        os.environ["PATH"] = env["PATH"]
    cmd = Command(root=root, skip_version_check=True)
    return auto.LocalWorkspace(work_dir=str(project_dir), env_vars=env, pulumi_command=cmd)


def backend() -> str:
    return engine.backend_url(os.environ)


def remove_stack(ws: auto.LocalWorkspace, name: str) -> None:
    """`pulumi stack rm --remove-backups`: nothing of the stack stays on a DIY backend.

    (LocalWorkspace.remove_stack has no way to ask for the backups' removal.)
    """
    assert ws.pulumi_command is not None
    ws.pulumi_command.run(
        ["stack", "rm", "--yes", "--remove-backups", name], ws.work_dir, ws.env_vars
    )


def stack_names(ws: auto.LocalWorkspace) -> list[str]:
    return [s.name for s in ws.list_stacks()]


def tags(ws: auto.LocalWorkspace, name: str) -> dict[str, str]:
    return dict(ws.list_tags(name))


def destroy(
    stack: auto.Stack, backend: str, on_event: Any, wait: float = 600.0
) -> auto.DestroyResult:
    """`pulumi destroy`, past what a killed run leaves: its update lock, a half-done first pass.

    A stale Pulumi lock (its process gone, on this host) is cancelled; a lock whose process still
    runs here (an engine orphaned by a killed CI step) is waited for up to `wait` seconds.
    """
    from hdh.throwaway import locks

    deadline = time.monotonic() + wait
    retried = False
    while True:
        try:
            return stack.destroy(color="never", on_event=on_event, on_output=log.debug)
        except auto.ConcurrentUpdateError:
            state = locks.pulumi_lock(backend, stack.name)
            if state == "stale":
                log.warning(
                    "destroy: %s: cancelling the update lock of a process that is gone", stack.name
                )
                stack.cancel()
            elif state == "running" and time.monotonic() < deadline:
                log.info("destroy: %s: an update still runs on this host; waiting", stack.name)
                time.sleep(10)
            else:
                raise
        except auto.CommandError:
            if retried:
                raise
            # One more pass deletes what the first could not (a volume still detaching).
            log.warning("destroy: %s: first pass failed; trying once more", stack.name)
            retried = True
