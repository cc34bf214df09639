"""A rule whose ethertype and port the provider's own schema checks refuse (see test_engine)."""

import pulumi
import pulumi_openstack as openstack

cfg = pulumi.Config()
provider = openstack.Provider("p", region="GRA11", auth_url="http://127.0.0.1:9/v3")
sg = openstack.networking.SecGroup(
    "sg", delete_default_rules=True, opts=pulumi.ResourceOptions(provider=provider)
)
openstack.networking.SecGroupRule(
    "rule",
    direction="ingress",
    ethertype=cfg.get("ethertype") or "IPv4",
    protocol="tcp",
    port_range_min=cfg.get_int("port") or 22,
    port_range_max=cfg.get_int("port") or 22,
    remote_group_id=sg.id,
    security_group_id=sg.id,
    opts=pulumi.ResourceOptions(provider=provider),
)
