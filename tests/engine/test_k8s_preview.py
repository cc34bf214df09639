"""The real engine previews both cluster modes, and the kubeadm baseline only after bootstrap.

`pulumi preview` with the real OpenStack and Kubernetes providers needs no account and no
cluster: the project is copied to a temporary directory (its own state backend and stack files,
image and network ids pinned so no lookup is made) and previewed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.k8s_baseline import KUBECONFIG_KEY, PLACEHOLDER_KUBECONFIG
from hdh.engine import ThrowawayProject

pytestmark = pytest.mark.engine
PINNED = {
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}


def _types(preview: dict[str, Any]) -> list[str]:
    return [s["urn"].split("::")[2].rsplit("$", 1)[-1] for s in preview.get("steps", [])]


def test_magnum_cluster_and_baseline_preview(tmp_path: Path) -> None:
    types = _types(ThrowawayProject(tmp_path, "scs-de", PINNED).preview_json())
    assert "openstack:containerinfra/clusterTemplate:ClusterTemplate" in types
    assert "openstack:containerinfra/cluster:Cluster" in types
    assert types.count("kubernetes:core/v1:Namespace") == 3


def test_kubeadm_baseline_waits_for_bootstrap_then_previews(tmp_path: Path) -> None:
    project = ThrowawayProject(tmp_path, "ovh-sbg", PINNED)
    work = project.dir
    before = project.preview_json()
    assert "openstack:loadbalancer/listener:Listener" in _types(before)
    assert not [t for t in _types(before) if t.startswith("kubernetes:")]
    warnings = [d["message"] for d in before.get("diagnostics", []) if d["severity"] == "warning"]
    assert any(KUBECONFIG_KEY in w for w in warnings), warnings
    project.run("config", "set", "--secret", KUBECONFIG_KEY, stdin=PLACEHOLDER_KUBECONFIG)
    assert "kubernetes:kubeconfig" in (work / "stacks" / "Pulumi.ovh-sbg.yaml").read_text()
    assert "plan.invalid" not in (work / "stacks" / "Pulumi.ovh-sbg.yaml").read_text()
    after = _types(project.preview_json())
    assert after.count("kubernetes:core/v1:Namespace") == 3
    assert after.count("kubernetes:networking.k8s.io/v1:NetworkPolicy") == 3
