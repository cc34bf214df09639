"""Who may act on a throwaway stack right now: file locks beside a file:// backend.

A cycle holds its stack's lock from creation to removal; the reaper takes the reaper lock (one
reaper at a time) and each expired stack's lock without waiting, so it never destroys a stack a
running cycle or `hdh env` command is using. On s3:// there is no lock both machines can share
here: the CI templates serialise the reaper instead, the reaper only takes expired stacks, and
Pulumi's own stack lock stops a destroy while an update runs (docs/ci.md).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)
LOCK_DIR = ".hdh-locks"  # beside Pulumi's .pulumi/ in the backend directory


def lock_dir(backend: str) -> Path | None:
    """Where the locks of a file:// backend live; None for s3://."""
    if not backend.startswith("file://"):
        return None
    return Path(backend.removeprefix("file://").split("?", 1)[0]).expanduser() / LOCK_DIR


class Lock:
    """An exclusive flock on `<backend>/.hdh-locks/<name>.lock`; a no-op without a directory.

    The file is removed on release. A process that opened it just before (and locks the unlinked
    inode) sees on acquiring that the path no longer is its file, and tries again.
    """

    def __init__(self, directory: Path | None, name: str) -> None:
        self.path = directory / f"{name}.lock" if directory else None
        self.fd: int | None = None

    def acquire(self, wait: bool = False) -> bool:
        if self.path is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                os.write(fd, f"{os.getpid()}\n".encode())
                return True
            os.close(fd)  # released and removed by its holder meanwhile: take the new file

    def release(self) -> None:
        if self.fd is None or self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing releases the flock
            self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> Lock:
        self.acquire(wait=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def for_stack(backend: str, name: str) -> Lock:
    return Lock(lock_dir(backend), f"stack-{name}")


def for_reaper(backend: str) -> Lock:
    return Lock(lock_dir(backend), "reaper")


def pulumi_lock(backend: str, name: str) -> str:
    """State of Pulumi's own update lock on a stack of a file:// backend.

    "none": no lock; "stale": every holder ran on this host and is gone (a SIGKILLed update);
    "running": a holder on this host still runs; "unknown": s3://, another host, or unreadable.
    """
    directory = lock_dir(backend)
    if directory is None:
        return "unknown"
    files = list(
        (directory.parent / ".pulumi" / "locks" / "organization" / "hdh" / name).glob("*.json")
    )
    if not files:
        return "none"
    running = False
    for f in files:
        try:
            doc = json.loads(f.read_text())
            pid, host = int(doc["pid"]), str(doc["hostname"])
        except (OSError, ValueError, KeyError, TypeError):
            return "unknown"
        if host != socket.gethostname():
            return "unknown"
        try:
            os.kill(pid, 0)
            running = True
        except ProcessLookupError:
            continue
        except PermissionError:
            running = True
    return "running" if running else "stale"
