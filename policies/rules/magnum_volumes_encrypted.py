"""Magnum nodes boot from, and keep etcd and images on, volumes of encrypted types."""

from collections.abc import Iterator
from typing import Any

from policies.checks import volume_type_problem
from policies.rule import Resource, Rule, as_map, known

TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
RULE = Rule(
    id="magnum-volumes-encrypted",
    title="Magnum node, etcd and docker volumes are of encrypted types",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-encryption-at-rest", "hds-protection"),
    remediation="Set the labels boot_volume_size and boot_volume_type, etcd_volume_type and "
    "(with docker_volume_size) docker_volume_type to the profile's encrypted types.",
    resource_types=(
        TEMPLATE,
        "openstack:containerinfra/cluster:Cluster",
        "openstack:containerinfra/nodeGroup:NodeGroup",
    ),
    config=("encryptedVolumeTypes",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    labels = known(as_map(res.get("labels")), "labels")
    # A cluster or node group without labels inherits its template's (judged there).
    template = res.type == TEMPLATE
    if template and not labels.get("boot_volume_size"):
        yield "no boot_volume_size label: nodes boot from the hypervisor's local disk"
    wanted = [k for k in ("boot", "etcd") if f"{k}_volume_type" in labels]
    wanted += [k for k in ("boot", "etcd") if template and labels.get(f"{k}_volume_size")]
    if res.get("dockerVolumeSize") or labels.get("docker_volume_size"):
        wanted.append("docker")
    for kind in dict.fromkeys(wanted):
        key = f"{kind}_volume_type"
        if problem := volume_type_problem(labels.get(key), cfg, f"label {key}"):
            yield problem
