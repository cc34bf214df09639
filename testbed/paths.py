"""Where the testbed keeps its image cache and its run state (both outside the clone)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ground.paths import cache_dir

DEFAULT_NAME = "hdh-tb"


def cache_root() -> Path:
    """`$HDH_CACHE/testbed` (`~/.cache/hdh-platform/testbed`): images, keys, SCAP content."""
    return cache_dir("testbed")


def images_dir() -> Path:
    return cache_root() / "images"


def state_dir() -> Path:
    """Run state of the hosts that are up: PIDs, overlays, sockets, inventory, ssh config."""
    env = os.environ.get("HDH_TESTBED_STATE")
    if env:
        return Path(env).resolve()
    name = os.environ.get("HDH_TESTBED_NAME", DEFAULT_NAME)  # a second testbed: its own state
    return cache_root() / ("run" if name == DEFAULT_NAME else f"run-{name}")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def named(name: str) -> Iterator[None]:
    """Work on a second, separate testbed (`name-c1`, own state) for the duration of the block."""
    saved = {k: os.environ.get(k) for k in ("HDH_TESTBED_NAME", "HDH_TESTBED_STATE")}
    os.environ["HDH_TESTBED_NAME"] = name
    os.environ.pop("HDH_TESTBED_STATE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
