"""End to end on the local cloud: `pulumi up` of the `local` stack with the real engine, verify
through the OpenStack APIs, then `pulumi destroy` leaves nothing, even after an injected failure."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ground.paths import ROOT
from hdh.engine import ThrowawayProject
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud

STACK = "local"


class InjectedFailure(Exception):
    """Raised on purpose between up and destroy."""


@pytest.fixture
def project(tmp_path: Path, local_cloud: dict[str, str]) -> Callable[..., str]:
    """`pulumi ARGS` on a throwaway copy of the program with its own state (hdh.engine)."""
    copy = ThrowawayProject(tmp_path, STACK, passphrase="local-cloud-test", env=local_cloud)

    def pulumi(*args: str, check: bool = True, timeout: float = 1800) -> str:
        res = copy.run(*args, check=False, timeout=timeout)
        if check:
            assert res.returncode == 0, (
                f"pulumi {' '.join(args)}:\n{res.stdout[-4000:]}\n{res.stderr[-3000:]}"
            )
        return res.stdout

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
