"""Only the bastion gets a floating (public) IP."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

RULE = Rule(
    id="floating-ip-bastion-only",
    title="Floating IPs are attached to the bastion only",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove the floating IP; reach the host through the bastion.",
    resource_types=(
        "openstack:networking/floatingIp:FloatingIp",
        "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
    ),
    config=("bastionName",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if cfg["bastionName"] in res.name:
        return
    if res.type.endswith("FloatingIpAssociate") or res.has("portId"):
        yield f"a public floating IP on {res.name!r}, which is not the bastion"
    else:
        yield f"floating IP {res.name!r} allocated outside the bastion"
