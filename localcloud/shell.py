"""Running commands for the local cloud (a failure names its step), one log line per phase."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Sequence

from localcloud.paths import LocalCloudError

log = logging.getLogger(__name__)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    step: str,
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> str:
    """Run a command to completion; a failure is a LocalCloudError naming the step."""
    argv = [str(c) for c in cmd]
    log.debug("%s: %s", step, " ".join(argv))
    try:
        res = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except FileNotFoundError as exc:
        raise LocalCloudError(step, f"{argv[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise LocalCloudError(step, f"{argv[0]} timed out after {timeout:.0f} s") from exc
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-12:])
        raise LocalCloudError(step, f"{argv[0]} exited {res.returncode}: {tail}")
    return res.stdout


class Phase:
    """Log one line per phase with its elapsed time."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Phase:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            log.info("%s: %.1f s", self.name, time.monotonic() - self.t0)
