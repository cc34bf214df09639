"""Pods mount no hostPath volume (a path into the node's filesystem)."""

from collections.abc import Iterator
from typing import Any

from policies.checks import WORKLOAD_TYPES, pod_spec
from policies.rule import Resource, Rule, as_list, as_map

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
    for i, vol in enumerate(as_list(spec.get("volumes"))):
        if isinstance(vol, dict) and vol.get("hostPath") is not None:
            path = as_map(vol["hostPath"]).get("path")
            yield f"{where}.volumes[{i}] {vol.get('name', '?')}: hostPath {path!r}"
