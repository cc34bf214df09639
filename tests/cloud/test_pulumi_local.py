"""End to end on the local cloud: `pulumi up` of the `local` stack with the real engine, verify
through the OpenStack APIs, then `pulumi destroy` leaves nothing, even after an injected failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cloud.conftest import probe

pytestmark = pytest.mark.cloud

ROOT = Path(__file__).resolve().parents[2]
STACK = "local"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "policies", "hdh", "stacks")


def _use_project_venv(work: Path) -> None:
    """Point the copy's runtime at the clone's venv as is (pip toolchain: nothing installed)."""
    doc = yaml.safe_load((work / "Pulumi.yaml").read_text())
    doc["runtime"] = {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": str(ROOT / ".venv")},
    }
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


class InjectedFailure(Exception):
    """Raised on purpose between up and destroy."""


@pytest.fixture(scope="module")
def engine_bin() -> str:
    res = subprocess.run(
        [str(ROOT / "scripts" / "install-engine")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture
def project(tmp_path: Path, engine_bin: str, local_cloud: dict[str, str]) -> Callable[..., str]:
    """A copy of the program (stack init writes its salt into the stack file: not into ours)."""
    if not (ROOT / "__main__.py").exists() or not (ROOT / "stacks" / "Pulumi.local.yaml").exists():
        pytest.fail("the platform program or stacks/Pulumi.local.yaml is missing")
    work = tmp_path / "project"
    work.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, work / name)
    _use_project_venv(work)
    env = {
        **os.environ,
        **local_cloud,
        "PATH": f"{engine_bin}:{os.environ['PATH']}",
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "local-cloud-test",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    (tmp_path / "state").mkdir()

    def pulumi(*args: str, check: bool = True, timeout: float = 1800) -> str:
        res = subprocess.run(
            ["pulumi", *args, "--non-interactive", "--stack", STACK],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert res.returncode == 0, (
                f"pulumi {' '.join(args)}:\n{res.stdout[-4000:]}\n{res.stderr[-3000:]}"
            )
        return res.stdout

    subprocess.run(
        ["pulumi", "stack", "init", STACK, "--non-interactive"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return pulumi


def _up_verify_destroy(
    pulumi: Callable[..., str], env: dict[str, str], verify: Callable[[str], None]
) -> None:
    try:
        pulumi("up", "--yes", "--skip-preview")
        verify(pulumi("stack", "export"))
    finally:
        pulumi("destroy", "--yes", "--skip-preview", check=False)
        pulumi("destroy", "--yes", "--skip-preview")  # a second pass deletes what the first left
    left = probe(env, "leftovers")
    left.pop("seconds")
    assert {k: v for k, v in left.items() if v} == {}, f"left after destroy: {left}"


def test_up_again_refresh_verify_destroy(
    project: Callable[..., str], local_cloud: dict[str, str], tmp_path: Path
) -> None:
    def verify(export: str) -> None:
        out = project("up", "--yes", "--skip-preview", "--expect-no-changes")
        assert "error" not in out.lower().split("resources:")[-1]
        project("preview", "--refresh", "--expect-no-changes")
        state = tmp_path / "export.json"
        state.write_text(export)
        res = subprocess.run(
            ["uv", "run", "--frozen", "hdh", "policy", "check", "--state", str(state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, f"mandatory violations:\n{res.stdout[-3000:]}"
        inv = probe(local_cloud, "inventory")
        urns = json.loads(export)["deployment"]["resources"]
        planned = {
            r["outputs"].get("name")
            for r in urns
            if r["type"] == "openstack:networking/network:Network"
        }
        assert set(inv["networks"]) == planned
        # No floating IP but the bastion's.
        assert [f["server"] for f in inv["floating_ips"]] and all(
            "bastion" in (f["server"] or "") for f in inv["floating_ips"]
        ), inv["floating_ips"]
        # Ingress from anywhere only where config opens it: never 0.0.0.0/0.
        open_rules = [
            r
            for r in inv["rules"]
            if r["direction"] == "ingress" and r["remote_ip_prefix"] in ("0.0.0.0/0", "::/0")
        ]
        assert open_rules == []
        assert inv["secrets"], "no secret in Barbican"
        assert all(v["type"] == "luks" and v["encrypted"] for v in inv["volumes"]), inv["volumes"]
        for name, c in inv["containers"].items():
            assert not (c["read_acl"] or "").count(".r:"), f"{name} is publicly readable"

    _up_verify_destroy(project, local_cloud, verify)


def test_destroy_after_injected_failure(
    project: Callable[..., str], local_cloud: dict[str, str]
) -> None:
    def fail(_export: str) -> None:
        raise InjectedFailure("between up and destroy")

    with pytest.raises(InjectedFailure):
        _up_verify_destroy(project, local_cloud, fail)
    left = probe(local_cloud, "leftovers")
    left.pop("seconds")
    assert {k: v for k, v in left.items() if v} == {}
