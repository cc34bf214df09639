"""The real engine previews both cluster modes, and the kubeadm baseline only after bootstrap.

`pulumi preview` with the real OpenStack and Kubernetes providers needs no account and no
cluster: the project is copied to a temporary directory (its own state backend and stack files,
image and network ids pinned so no lookup is made) and previewed there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s_baseline import KUBECONFIG_KEY, PLACEHOLDER_KUBECONFIG
from hdh import ROOT

pytestmark = pytest.mark.engine
PULUMI = ROOT / ".tools" / "bin" / "pulumi"
COPIED = ("Pulumi.yaml", "__main__.py", "pyproject.toml", "uv.lock", "README.md")
PACKAGES = ("components", "hdh", "policies", "hardening")
PINNED = {
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}


def _project(tmp: Path, stack: str) -> tuple[Path, dict[str, str]]:
    work = tmp / "project"
    work.mkdir()
    for name in COPIED:
        shutil.copy2(ROOT / name, work / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, work / pkg, ignore=ignore)
    shutil.copytree(ROOT / "stacks" / "profiles", work / "stacks" / "profiles")
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    doc["config"].update(PINNED)
    (work / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    (tmp / "state").mkdir()
    env = {
        **os.environ,
        "PATH": f"{PULUMI.parent}:{os.environ['PATH']}",
        "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "1",
        "UV_OFFLINE": "1",
        # Never reached by a preview (delayed auth); loopback so nothing could leave the host.
        "OS_AUTH_URL": "http://127.0.0.1:9/v3",
    }
    env.pop("VIRTUAL_ENV", None)
    _pulumi(work, env, "stack", "init", stack)
    return work, env


def _pulumi(work: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(PULUMI), *args, "--non-interactive"],
        cwd=work,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _preview(work: Path, env: dict[str, str], stack: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_pulumi(work, env, "preview", "--stack", stack, "--json"))
    return out


def _types(preview: dict[str, Any]) -> list[str]:
    return [s["urn"].split("::")[2].rsplit("$", 1)[-1] for s in preview.get("steps", [])]


@pytest.fixture(autouse=True)
def _engine() -> None:
    if not PULUMI.exists():
        pytest.skip("no engine in .tools/bin: run scripts/setup")


def test_magnum_cluster_and_baseline_preview(tmp_path: Path) -> None:
    work, env = _project(tmp_path, "scs-de")
    types = _types(_preview(work, env, "scs-de"))
    assert "openstack:containerinfra/clusterTemplate:ClusterTemplate" in types
    assert "openstack:containerinfra/cluster:Cluster" in types
    assert types.count("kubernetes:core/v1:Namespace") == 3


def test_kubeadm_baseline_waits_for_bootstrap_then_previews(tmp_path: Path) -> None:
    work, env = _project(tmp_path, "ovh-sbg")
    before = _preview(work, env, "ovh-sbg")
    assert "openstack:loadbalancer/listener:Listener" in _types(before)
    assert not [t for t in _types(before) if t.startswith("kubernetes:")]
    warnings = [d["message"] for d in before.get("diagnostics", []) if d["severity"] == "warning"]
    assert any(KUBECONFIG_KEY in w for w in warnings), warnings
    _pulumi(
        work, env, "config", "set", "--secret", "--stack", "ovh-sbg", KUBECONFIG_KEY,
        stdin=PLACEHOLDER_KUBECONFIG,
    )  # fmt: skip
    assert "kubernetes:kubeconfig" in (work / "stacks" / "Pulumi.ovh-sbg.yaml").read_text()
    assert "plan.invalid" not in (work / "stacks" / "Pulumi.ovh-sbg.yaml").read_text()
    after = _types(_preview(work, env, "ovh-sbg"))
    assert after.count("kubernetes:core/v1:Namespace") == 3
    assert after.count("kubernetes:networking.k8s.io/v1:NetworkPolicy") == 3
