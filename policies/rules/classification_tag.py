"""Resources holding or carrying data are tagged with their data classification."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="classification-tag",
    title="Taggable resources carry the classification tag",
    severity="low",
    enforcement="advisory",
    frameworks=("hdh-hygiene",),
    remediation="Tag with classification=<level> (tags) or metadata classification (components/"
    "tags.py does it for every component).",
    resource_types=(
        "openstack:compute/instance:Instance",
        "openstack:blockstorage/volume:Volume",
        "openstack:objectstorage/container:Container",
        "openstack:networking/network:Network",
        "openstack:networking/subnet:Subnet",
        "openstack:networking/port:Port",
        "openstack:networking/secGroup:SecGroup",
        "openstack:networking/router:Router",
        "openstack:networking/floatingIp:FloatingIp",
        "openstack:loadbalancer/loadBalancer:LoadBalancer",
        "openstack:loadbalancer/listener:Listener",
        "openstack:loadbalancer/pool:Pool",
    ),
    config=("classificationKey",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if not res.tags().get(cfg["classificationKey"]):
        yield f"no {cfg['classificationKey']} tag or metadata"
