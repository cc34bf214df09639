"""Security group ingress never admits the world; public sources only to the bastion's group."""

from collections.abc import Iterator
from typing import Any

from policies.checks import is_public, is_world, within
from policies.rule import Resource, Rule, Stack, as_list, each
from policies.topology import INSTANCE, PORT, PORT_SG, SECGROUP, is_bastion_group

ADDRESS_GROUP = "openstack:networking/addressGroupV2:AddressGroupV2"
RULE = Rule(
    id="secgroup-ingress-restricted",
    title="Security group ingress is not open to the world",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Use remote_group_id (another group) or an administrators' CIDR listed in "
    "bastionCidrs on a group only the bastion carries; never 0.0.0.0/0 or ::/0.",
    resource_types=("openstack:networking/secGroupRule:SecGroupRule",),
    config=("bastionCidrs",),
    scope="stack",
    reads=(ADDRESS_GROUP, SECGROUP, PORT, PORT_SG, INSTANCE),
)


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    for res in stack.of_type(RULE.resource_types[0]):
        if res.get("direction") != "ingress":
            continue
        yield from each(res, _problems(stack, res, cfg))


def _problems(stack: Stack, res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    # Given by the program, or not: in a preview, unset outputs are unknown too.
    prefixes = [res.get("remoteIpPrefix")] if stack.given(res, "remoteIpPrefix") else []
    if stack.given(res, "remoteAddressGroupId"):
        group = stack.ref(res, "remoteAddressGroupId")
        if group is None or group.type != ADDRESS_GROUP:
            yield "remoteAddressGroupId names an address group this stack does not create"
            return
        prefixes += as_list(group.get("addresses"))
    if not prefixes and not stack.given(res, "remoteGroupId"):
        yield "neither remoteIpPrefix nor remoteGroupId: admits any source"
        return
    for prefix in prefixes:
        if not is_world(prefix) and not is_public(str(prefix)):
            continue  # an internal source: no need to know whose group this is
        bastion = is_bastion_group(stack, stack.ref(res, "securityGroupId"))
        if is_world(prefix) and not (bastion and prefix in cfg["bastionCidrs"]):
            yield f"admits {prefix} (the whole Internet)"
        elif not is_world(prefix):
            if not bastion:
                yield f"admits the public range {prefix} on a group the bastion does not hold alone"
            elif not within(str(prefix), cfg["bastionCidrs"]):
                yield f"admits the public range {prefix}, not in bastionCidrs"
