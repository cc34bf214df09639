"""Port security stays on for networks and ports: security groups and anti-spoofing apply."""

from collections.abc import Iterator
from typing import Any

from policies.checks import is_world
from policies.rule import Resource, Rule, as_list

RULE = Rule(
    id="port-security-enabled",
    title="Networks and ports keep port security enabled",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-exposure",),
    remediation="Remove port_security_enabled=false (Neutron's default is enabled).",
    resource_types=("openstack:networking/network:Network", "openstack:networking/port:Port"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    if res.get("portSecurityEnabled") is False:
        yield "portSecurityEnabled is false: no security group or anti-spoofing filter applies"
    if res.get("noSecurityGroups") is True:
        yield "noSecurityGroups is true: the port carries no filter at all"
    for i, pair in enumerate(as_list(res.get("allowedAddressPairs"))):
        address = pair.get("ipAddress") if isinstance(pair, dict) else None
        if is_world(address) or address in ("0.0.0.0", "::"):
            yield f"allowedAddressPairs[{i}] {address}: anti-spoofing off, any source accepted"
