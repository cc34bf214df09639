"""Pods mount no hostPath volume (a path into the node's filesystem)."""

from collections.abc import Iterator
from typing import Any

from policies.checks import WORKLOAD_TYPES, pod_spec
from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-no-hostpath-volume",
    title="Pods mount no hostPath volume",
    severity="critical",
    enforcement="mandatory",
    frameworks=("anssi-containers",),
    remediation="Use a PersistentVolumeClaim (Cinder CSI, encrypted type) instead of hostPath.",
    resource_types=WORKLOAD_TYPES,
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    where, spec = pod_spec(res) or ("", {})
    for i, vol in enumerate(spec.get("volumes") or []):
        if isinstance(vol, dict) and vol.get("hostPath") is not None:
            path = (vol["hostPath"] or {}).get("path")
            yield f"{where}.volumes[{i}] {vol.get('name', '?')}: hostPath {path!r}"
