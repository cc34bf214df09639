"""The local cloud for a test session: up once (real guests), down at the end with nothing left.

Fixtures other tiers may reuse:
- `local_cloud`: the platform user's OS_* variables on a running cloud (compute mode "real",
  or $HDH_CLOUD_COMPUTE); the cloud goes down when the session ends.
- `real_deployment`: the `local` stack deployed ONCE per session on real guests, SSH ready
  (a localcloud.deployment.LocalDeployment: .ssh(host, cmd), .inventory_file, .key, .outputs,
  .timings); destroyed at the end of the session unless a test destroyed it.
  HDH_LOCAL_DEPLOYMENT=DIR (a developer's shortcut) deploys into DIR, or resumes the deployment
  DIR already holds, and keeps it (and the cloud) after the session unless a test destroyed it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud import cloud
from localcloud.deployment import LocalDeployment

PROBE = Path(cloud.__file__).with_name("probe.py")
log = logging.getLogger(__name__)


def compute_mode() -> str:
    return os.environ.get("HDH_CLOUD_COMPUTE", "real")


@pytest.fixture(scope="session")
def local_cloud() -> Iterator[dict[str, str]]:
    """OS_* variables of the platform user on a running local cloud; `down` after the session."""
    if os.geteuid() != 0:
        pytest.fail("the local cloud needs root (packages, namespaces, bind mount)")
    try:
        yield cloud.up(mode=compute_mode())
    finally:
        if not os.environ.get("HDH_LOCAL_DEPLOYMENT"):
            cloud.down()


@pytest.fixture(scope="session")
def real_deployment(
    local_cloud: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalDeployment]:
    """The `local` stack on real guests, deployed once for every test that asks for it."""
    if compute_mode() != "real":
        pytest.skip("HDH_CLOUD_COMPUTE=fake: no guest boots")
    keep = os.environ.get("HDH_LOCAL_DEPLOYMENT")
    if keep and (Path(keep) / "project").is_dir():
        kept = LocalDeployment.resume(Path(keep), env=local_cloud)
        try:
            yield kept
        finally:
            kept.close()
        return
    workdir = Path(keep) if keep else tmp_path_factory.mktemp("local-real")
    dep = LocalDeployment(workdir, env=local_cloud)
    try:
        dep.up()
        log.info("real deployment timings: %s", json.dumps(dep.timings))
        yield dep
    finally:
        if not dep.destroyed and not keep:
            dep.destroy()
        dep.close()


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
