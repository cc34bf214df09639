"""The real engine previews both cluster modes, each with its baseline, in one run.

`pulumi preview` with the real OpenStack and Kubernetes providers needs no account and no
cluster: the project is copied to a temporary directory (its own state backend and stack files,
image and network ids pinned so no lookup is made) and previewed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


def test_kubeadm_cluster_bootstrap_and_baseline_preview_in_one_run(tmp_path: Path) -> None:
    """No second phase: the nodes bootstrap themselves, the stack mints the admin kubeconfig and
    the baseline waits for the API (ClusterReady) within the same `pulumi up`."""
    preview = ThrowawayProject(tmp_path, "ovh-sbg", PINNED).preview_json()
    types = _types(preview)
    assert "openstack:loadbalancer/listener:Listener" in types
    for kind in ("ClusterSecrets", "AdminCredential", "ClusterReady"):
        assert f"pulumi-python:dynamic/k8s:{kind}" in types, kind
    assert "openstack:identity/applicationCredential:ApplicationCredential" in types
    assert types.count("kubernetes:core/v1:Namespace") == 3
    assert types.count("kubernetes:networking.k8s.io/v1:NetworkPolicy") == 3
    warnings = [d["message"] for d in preview.get("diagnostics", []) if d["severity"] == "warning"]
    assert not [w for w in warnings if "kubeconfig" in w], warnings
