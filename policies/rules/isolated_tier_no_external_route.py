"""Data, processing and bubble subnets are never attached to a router with an external gateway."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, Stack

RULE = Rule(
    id="isolated-tier-no-external-route",
    title="Isolated tiers have no route to an external network",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Attach the subnet to the core router (no external gateway); leave through the "
    "services proxy.",
    resource_types=("openstack:networking/routerInterface:RouterInterface",),
    config=("isolatedTiers",),
    scope="stack",
    reads=(
        "openstack:networking/router:Router",
        "openstack:networking/subnet:Subnet",
        "openstack:networking/port:Port",
    ),
)


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    for iface in stack.of_type(RULE.resource_types[0]):
        router = stack.ref(iface, "routerId")
        if router is None or not _external(router):
            continue
        # Attached by subnet, or by a port (whose tags name the tier as the subnet's do).
        side = stack.ref(iface, "subnetId") or stack.ref(iface, "portId")
        tier = side.tags().get("tier") if side else None
        if tier in cfg["isolatedTiers"] and side is not None:
            yield iface, f"{tier} {side.name} is routed to an external network by {router.name}"


def _external(router: Resource) -> bool:
    # In preview an unset gateway is an unknown output: only a known network id counts (the
    # plan and a deployed stack's export always know it; see docs/policies.md).
    gateway = router.props.get("externalNetworkId") or router.props.get("externalGateway")
    return isinstance(gateway, str | dict) and bool(gateway)
