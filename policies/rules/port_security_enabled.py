"""Port security stays on for networks and ports: security groups and anti-spoofing apply."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule

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
