"""The `local` stack with the real engine on the local cloud: destroy after an injected failure
leaves nothing, and the session's real deployment is stable, clean and what was planned."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ground.paths import ROOT
from localcloud import access
from localcloud.deployment import LocalDeployment
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud


class InjectedFailure(Exception):
    """Raised on purpose between up and destroy."""


def assert_nothing_left(env: dict[str, str]) -> None:
    """No resource in any service, and (real guests) nothing on the compute host either."""
    left = probe(env, "leftovers")
    left.pop("seconds")
    assert {k: v for k, v in left.items() if v} == {}, f"left after destroy: {left}"
    host = access.host_leftovers()
    assert {k: v for k, v in host.items() if v} == {}, f"left on the compute host: {host}"


def test_destroy_after_injected_failure(local_cloud: dict[str, str], tmp_path: Path) -> None:
    # Two guests (bastion, services) are enough to exercise destroy after a failure; the full
    # stack is deployed once for the session (real_deployment).
    small = {"hdh:bubbles": [], "hdh:dataHosts": 0}
    dep = LocalDeployment(tmp_path, env=local_cloud, config=small)
    with pytest.raises(InjectedFailure):
        try:
            dep.pulumi("up", "--yes", "--skip-preview")
            raise InjectedFailure("between up and destroy")
        finally:
            dep.destroy()
    assert_nothing_left(local_cloud)


def test_up_again_refresh_policy_and_apis(
    real_deployment: LocalDeployment, local_cloud: dict[str, str], tmp_path: Path
) -> None:
    dep = real_deployment
    out = dep.pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")
    assert "error" not in out.lower().split("resources:")[-1]
    dep.pulumi("preview", "--refresh", "--expect-no-changes")
    export = dep.pulumi("stack", "export")
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
    resources = json.loads(export)["deployment"]["resources"]
    planned = {
        r["outputs"].get("name")
        for r in resources
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
    servers = {h["name"] for h in dep.inventory["hosts"]}
    assert servers == set(inv["servers"]), "inventory output and Nova disagree"
