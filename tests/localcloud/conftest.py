"""The local cloud for a test session: up once, down at the end with no process left."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud import cloud

PROBE = Path(cloud.__file__).with_name("probe.py")


@pytest.fixture(scope="session")
def local_cloud() -> Iterator[dict[str, str]]:
    """OS_* variables of the platform user on a running local cloud; `down` after the session."""
    if os.geteuid() != 0:
        pytest.fail("the local cloud needs root (packages, namespaces, bind mount)")
    try:
        yield cloud.up()
    finally:
        cloud.down()


def probe(env: dict[str, str], check: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run one create-and-delete check of localcloud/probe.py under Debian's python3."""
    res = subprocess.run(
        ["/usr/bin/python3", str(PROBE), check, *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, f"probe {check} failed:\n{res.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out
