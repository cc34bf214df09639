"""Resources the pack must refuse under the real engine, next to compliant twins.

Run only by tests/policies/test_engine_pack.py, in a temporary copy, with `pulumi preview`.
Two values written in clear are *not* violations: pulumi-kubernetes marks Secret data and
pulumi-openstack marks the Barbican payload (a sensitive field) as secrets before the pack
sees them, so the state holds ciphertext. A provider's kubeconfig in clear is not protected.
"""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

# The config model would refuse a non-EU region before registering anything: this program
# has no model, so only the pack stands between it and London.
uk = openstack.Provider("uk", region="UK1", auth_url="https://auth.cloud.ovh.net/v3")
gra = openstack.Provider("gra", region="GRA11", auth_url="https://auth.cloud.ovh.net/v3")
openstack.networking.Network("net-in-uk", opts=pulumi.ResourceOptions(provider=uk))
eu = pulumi.ResourceOptions(provider=gra)
openstack.blockstorage.Volume("clear-volume", size=1, volume_type="classic", opts=eu)
# Health data on a Public Cloud region (not SecNumCloud-qualified), next to synthetic data.
openstack.networking.Network("health-net", tags=["classification=health-pseudonymised"], opts=eu)
openstack.networking.Network("synthetic-net", tags=["classification=synthetic"], opts=eu)
openstack.blockstorage.Volume("luks-volume", size=1, volume_type="high-speed-luks", opts=eu)
sg = openstack.networking.SecGroup("data-sg", opts=eu)
openstack.networking.SecGroupRule(
    "world-ssh",
    direction="ingress",
    ethertype="IPv4",
    protocol="tcp",
    port_range_min=22,
    port_range_max=22,
    remote_ip_prefix="0.0.0.0/0",
    security_group_id=sg.id,
    opts=eu,
)
openstack.networking.SecGroupRule(
    "from-group",
    direction="ingress",
    ethertype="IPv4",
    remote_group_id=sg.id,
    security_group_id=sg.id,
    opts=eu,
)
kubeconfig = pulumi.Config("probe").require_secret("kubeconfig")
cluster = k8s.Provider("cluster", kubeconfig=kubeconfig)
on_cluster = pulumi.ResourceOptions(provider=cluster)
k8s.core.v1.Namespace("tools-ns", metadata={"name": "tools"}, opts=on_cluster)
k8s.core.v1.Secret(
    "clear-secret", metadata={"name": "clear"}, string_data={"token": "t0k3n"}, opts=on_cluster
)
k8s.core.v1.Secret(
    "sealed-secret",
    metadata={"name": "sealed"},
    string_data={"token": pulumi.Output.secret("t0k3n")},
    opts=on_cluster,
)
openstack.keymanager.SecretV1(
    "clear-payload",
    payload="c2VjcmV0",
    secret_type="symmetric",
    algorithm="aes",
    bit_length=256,
    opts=eu,
)
k8s.Provider("plain-cluster", kubeconfig="apiVersion: v1\nkind: Config\n")
