"""Pods do not share the node's network, PID or IPC namespaces."""

from collections.abc import Iterator
from typing import Any

from policies.checks import WORKLOAD_TYPES, pod_spec
from policies.rule import Resource, Rule

RULE = Rule(
    id="k8s-no-host-namespaces",
    title="Pods do not use hostNetwork, hostPID or hostIPC",
    severity="critical",
    enforcement="mandatory",
    frameworks=("anssi-containers",),
    remediation="Remove hostNetwork/hostPID/hostIPC from the pod spec.",
    resource_types=WORKLOAD_TYPES,
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    where, spec = pod_spec(res) or ("", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield f"{where}.{key} is true: the pod shares the node's namespace"
