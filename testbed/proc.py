"""Running host commands for the testbed, and the one error type it reports."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ground.errors import HdhError

log = logging.getLogger(__name__)

HOST_DEPS_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "testbed-host-deps"


class TestbedError(HdhError):
    """A testbed step failed on a host: `host: step: message`."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, host: str, step: str, msg: str) -> None:
        self.host, self.step, self.msg = host, step, msg
        super().__init__(f"{host}: {step}: {msg}")


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    host: str,
    step: str,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input: str | None = None,
) -> str:
    """Run `cmd`, return its stdout; a failure becomes a TestbedError naming host and step."""
    argv = [str(c) for c in cmd]
    log.debug("%s: %s: %s", host, step, " ".join(argv))
    try:
        res = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **env} if env else None,
            timeout=timeout,
            input=input,
            check=False,
        )
    except FileNotFoundError as exc:
        raise TestbedError(
            host, step, f"{argv[0]} not found (run scripts/testbed-host-deps)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(host, step, f"{argv[0]} timed out after {timeout:.0f} s") from exc
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        raise TestbedError(host, step, f"{argv[0]} exited {res.returncode}: {tail}")
    return res.stdout


def ensure_host_tools() -> None:
    """Install the host packages the testbed needs (idempotent; waits for the dpkg lock)."""
    needed = (
        *("mmdebstrap", "systemd-nspawn", "qemu-system-x86_64", "qemu-img", "oscap", "socat"),
        *("ssh", "ssh-keygen", "mke2fs", "nsenter", "dpkg-scanpackages", "gpg"),
    )
    if all(shutil.which(tool) for tool in needed):
        return
    if os.geteuid() != 0:
        raise TestbedError("localhost", "host tools", "missing tools and not root to install")
    run([str(HOST_DEPS_SCRIPT)], host="localhost", step="host tools", timeout=1800)


def proc_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if it is gone (guards PID reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def alive(pid: int, start: int | None) -> bool:
    """True if `pid` is still the very process we started (same start time), not a zombie."""
    now = proc_start_time(pid)
    if now is None or (start is not None and now != start):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(pid: int, start: int | None, *, grace: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Stop one process we started: `sig`, wait up to `grace` seconds, then SIGKILL."""
    if not alive(pid, start):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, start):
            return
        time.sleep(0.2)
    log.warning("pid %d did not stop after %.0f s: SIGKILL", pid, grace)
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not alive(pid, start):
            return
        time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process to end; True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not alive(pid, start):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def signal_proc(pid: int, start: int | None, sig: int) -> None:
    """Send `sig` to the process only if it is still the one we started."""
    if alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc/PID/task/PID/children)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
