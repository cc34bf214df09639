"""Kubernetes processing cluster: Magnum or self-managed kubeadm, API closed to all but users."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_openstack as openstack

from components.compute import Host, HostArgs, HostTemplate
from components.config import StackConfig
from components.k8s_baseline import (
    KUBECONFIG_KEY,
    BaselineArgs,
    KubernetesBaseline,
    bootstrap_kubeconfig,
)
from components.keys import GeneratedKey, KeyArgs, secret_id
from components.kubeadm import API_PORT, ControlPlaneSpec, control_plane_user_data
from components.network import PlatformNetwork
from components.tags import Labels

# Listener and pool in TCP on 6443 are TLS *passthrough*: kube-apiserver terminates TLS itself
# (client certificates and service-account tokens need the end-to-end session). The listener
# carries this tag so that a "clear TCP where TLS is expected" rule can tell it from clear text.
TLS_PASSTHROUGH_TAG = "tls=passthrough"
# Octavia's 50 s idle default cuts kubectl watch/exec/logs and the kubelets' watches.
API_IDLE_TIMEOUT_MS = 20 * 60 * 1000


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    cfg: StackConfig
    network: PlatformNetwork  # the processing tier's network, subnet and the shared groups
    template: HostTemplate  # kubeadm nodes: image, encrypted boot volume, key, deploy user
    external_network_id: pulumi.Input[str]  # magnum: required by the template, no FIP made
    bubble_group_ids: dict[str, pulumi.Input[str]]  # bubble name -> its security group


def api_client_cidrs(cfg: StackConfig) -> list[IPv4Network]:
    """Who may reach the API, as CIDRs: the bastion's tier, the bubbles (by pool), the nodes."""
    s = cfg.settings
    out = [s.tiers.admin, s.tiers.processing]
    pool = s.bubble_pool.cidr if s.bubble_pool else None
    if pool is not None and any(b.cidr.subnet_of(pool) for b in cfg.bubbles):
        out.append(pool)
    out += [b.cidr for b in cfg.bubbles if pool is None or not b.cidr.subnet_of(pool)]
    return out


def api_vip(cfg: StackConfig) -> str:
    """The API's VIP: the processing subnet's last-but-one address, kept out of DHCP.

    Fixed, so kubeadm's controlPlaneEndpoint and certificate SAN are known before anything
    exists, and survive a rebuilt load balancer.
    """
    return str(cfg.settings.tiers.processing[-2])


class ProcessingCluster(pulumi.ComponentResource):
    api_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str] | None
    """Secret. None for a kubeadm cluster until `kubernetes:kubeconfig` is set after bootstrap."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hdh:k8s:ProcessingCluster", name, None, opts)
        self._name, self._args = name, args
        cfg = args.cfg
        self.labels = Labels(
            stack=cfg.stack,
            classification=cfg.settings.classification,
            expires_at=cfg.settings.expires_at or "",
            tier="processing",
        )
        self.hosts: list[tuple[Host, str, Labels]] = []  # for the hardening inventory
        if cfg.kubernetes_mode == "magnum":
            self.api_endpoint, self.kubeconfig = self._magnum()
        else:
            self.api_endpoint, self.kubeconfig = self._kubeadm()
        if self.kubeconfig is not None:
            KubernetesBaseline(
                f"{name}-baseline",
                BaselineArgs(cfg=cfg, kubeconfig=self.kubeconfig),
                opts=pulumi.ResourceOptions(parent=self),
            )
        outputs: dict[str, pulumi.Input[str]] = {"api_endpoint": self.api_endpoint}
        if self.kubeconfig is not None:
            outputs["kubeconfig"] = self.kubeconfig
        self.register_outputs(outputs)

    # -- magnum --------------------------------------------------------------------------------

    def _magnum(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        name, args = self._name, self._args
        cfg, k = args.cfg, args.cfg.settings.kubernetes
        child = pulumi.ResourceOptions(parent=self)
        net = args.network
        labels = {
            "kube_tag": f"v{k.version}",
            # Private API: a load balancer without a floating IP, open only to our CIDRs.
            "master_lb_floating_ip_enabled": "false",
            "master_lb_allowed_cidrs": ",".join(str(c) for c in api_client_cidrs(cfg)),
            # Nodes boot from, and etcd lives on, volumes of the profile's encrypted type.
            "boot_volume_type": cfg.volume_type,
            "boot_volume_size": str(cfg.settings.boot_volume_size),
            "etcd_volume_type": cfg.volume_type,
            "etcd_volume_size": "10",
            "audit_log_enabled": "true",
            "keystone_auth_enabled": "true",
            "cloud_provider_enabled": "true",
            "cinder_csi_enabled": "true",
            "server_group_policies": "anti-affinity",
        }
        if k.registry:
            # The processing tier has no route out: images come from the mirror or not at all.
            labels["container_infra_prefix"] = k.registry
        template = openstack.containerinfra.ClusterTemplate(
            f"{name}-template",
            name=f"hdh-{cfg.stack}-k8s-v{k.version}",
            coe="kubernetes",
            image=k.image or f"ubuntu-2204-kube-v{k.version}",
            flavor=cfg.flavor("k8s-worker"),
            master_flavor=cfg.flavor("k8s-control"),
            external_network_id=args.external_network_id,
            fixed_network=net.network_ids["processing"],
            fixed_subnet=net.subnet_ids["processing"],
            network_driver="calico",  # enforces NetworkPolicy (flannel would not)
            volume_driver="cinder",
            server_type="vm",
            tls_disabled=False,
            floating_ip_enabled=False,
            master_lb_enabled=True,
            public=False,
            hidden=False,
            registry_enabled=False,
            labels=labels,
            opts=child,
        )
        cluster = openstack.containerinfra.Cluster(
            f"{name}-cluster",
            name=f"hdh-{cfg.stack}-processing",
            cluster_template_id=template.id,
            master_count=k.control_plane_count,
            node_count=k.worker_count,
            master_flavor=cfg.flavor("k8s-control"),
            flavor=cfg.flavor("k8s-worker"),
            keypair=args.template.key_pair,
            fixed_network=net.network_ids["processing"],
            fixed_subnet=net.subnet_ids["processing"],
            floating_ip_enabled=False,
            master_lb_enabled=True,
            opts=child,
        )
        # Magnum owns the API load balancer and its group: open our side of the flow only.
        processing = str(cfg.settings.tiers.processing)
        self._client_egress(lambda what, sg: self._rule(what, "egress", sg, cidr=processing))
        raw: pulumi.Output[str] = cluster.kubeconfig.apply(_raw_config)
        return cluster.api_address, pulumi.Output.secret(raw)

    # -- kubeadm -------------------------------------------------------------------------------

    def _kubeadm(self) -> tuple[pulumi.Output[str], pulumi.Output[str] | None]:
        name, args = self._name, self._args
        cfg, s = args.cfg, args.cfg.settings
        k = s.kubernetes
        child = pulumi.ResourceOptions(parent=self)
        net, g = args.network, args.network.group_ids
        tags = self.labels.as_tags()
        vip = api_vip(cfg)

        api_sg = openstack.networking.SecGroup(
            f"{name}-api-sg",
            description="hdh Kubernetes API: bastion, bubbles and the cluster's own nodes only",
            delete_default_rules=True,
            tags=tags,
            opts=child,
        )
        self._rule("api-from-bastion", "ingress", api_sg.id, group=g["bastion"])
        self._rule("api-from-nodes", "ingress", api_sg.id, group=g["processing"])
        # An amphora reaches the members from its own port on the processing subnet, which
        # carries none of our groups: the tier's CIDR (nodes only) stands for it.
        self._rule("api-from-lb", "ingress", api_sg.id, cidr=str(s.tiers.processing))
        for bubble, group_id in args.bubble_group_ids.items():
            self._rule(f"api-from-{bubble}", "ingress", api_sg.id, group=group_id)
        self._rule("nodes-to-api", "egress", g["processing"], group=api_sg.id)
        self._client_egress(lambda what, sg: self._rule(what, "egress", sg, group=api_sg.id))

        lb = openstack.loadbalancer.LoadBalancer(
            f"{name}-api-lb",
            name=f"hdh-{cfg.stack}-k8s-api",
            description="Kubernetes API (internal, no floating IP)",
            vip_subnet_id=net.subnet_ids["processing"],
            vip_address=vip,
            security_group_ids=[api_sg.id],
            tags=tags,
            opts=child,
        )
        listener = openstack.loadbalancer.Listener(
            f"{name}-api-listener",
            loadbalancer_id=lb.id,
            protocol="TCP",
            protocol_port=API_PORT,
            description="TLS passthrough: kube-apiserver terminates TLS",
            allowed_cidrs=[str(c) for c in api_client_cidrs(cfg)],
            timeout_client_data=API_IDLE_TIMEOUT_MS,
            timeout_member_data=API_IDLE_TIMEOUT_MS,
            tags=[*tags, TLS_PASSTHROUGH_TAG],
            opts=child,
        )
        pool = openstack.loadbalancer.Pool(
            f"{name}-api-pool",
            listener_id=listener.id,
            protocol="TCP",
            lb_method="LEAST_CONNECTIONS",
            tags=[*tags, TLS_PASSTHROUGH_TAG],
            opts=child,
        )
        # A TLS handshake, not /readyz: with anonymous auth off, /readyz answers 401.
        openstack.loadbalancer.Monitor(
            f"{name}-api-monitor",
            pool_id=pool.id,
            type="TLS-HELLO",
            delay=5,
            timeout=3,
            max_retries=3,
            opts=child,
        )

        # Secrets encryption key: generated inside Barbican by an order, read at run time by
        # barbican-kms-plugin with the cluster's credential. Only its id leaves Barbican.
        kek = GeneratedKey(
            f"{name}-kms-key",
            KeyArgs(region=cfg.region, auth_url=cfg.auth_url, mode="cbc"),
            opts=child,
        )
        t = args.template

        def control_data(host_name: str) -> pulumi.Output[str]:
            return kek.secret_ref.apply(
                lambda ref: control_plane_user_data(
                    t.deploy_user,
                    t.public_key,
                    host_name,
                    ControlPlaneSpec(
                        cluster_name=f"hdh-{cfg.stack}",
                        version=k.version,
                        endpoint=vip,
                        pod_cidr=k.pod_cidr,
                        service_cidr=k.service_cidr,
                        kms_key_id=secret_id(ref),
                    ),
                )
            )

        node_groups: list[pulumi.Input[str]] = [g["processing"], g["managed"], g["proxy-clients"]]
        controls = self._nodes(
            "k8s-control",
            k.control_plane_count,
            [*node_groups, api_sg.id],
            "anti-affinity",
            control_data,
        )
        self._nodes("k8s-worker", k.worker_count, node_groups, "soft-anti-affinity", None)
        openstack.loadbalancer.Members(
            f"{name}-api-members",
            pool_id=pool.id,
            members=[
                {
                    "address": h.address,
                    "protocol_port": API_PORT,
                    "subnet_id": net.subnet_ids["processing"],
                }
                for h in controls
            ],
            opts=child,
        )
        kubeconfig = bootstrap_kubeconfig()
        if kubeconfig is None:
            pulumi.log.warn(
                f"{name}: kubeadm cluster not bootstrapped yet ({KUBECONFIG_KEY} unset): the "
                "Kubernetes baseline is skipped; bootstrap, then `pulumi config set --secret "
                f"{KUBECONFIG_KEY} ...` and run again (docs/kubernetes.md)",
                resource=self,
            )
        return pulumi.Output.from_input(vip), kubeconfig

    def _nodes(
        self,
        role: str,
        count: int,
        groups: list[pulumi.Input[str]],
        policy: str,
        data: Callable[[str], pulumi.Output[str]] | None,
    ) -> list[Host]:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        server_group = None
        if count >= 2:
            server_group = openstack.compute.ServerGroup(
                f"{name}-{role}-group", policies=policy, opts=child
            ).id
        hosts = []
        for i in range(count):
            host_name = f"{name}-{role.removeprefix('k8s-')}{i}"
            h = Host(
                host_name,
                HostArgs(
                    role=role,  # the hardening inventory's k8s-node role reads this
                    labels=self.labels,
                    flavor=args.cfg.flavor(role),  # type: ignore[arg-type]
                    template=args.template,
                    network_id=args.network.network_ids["processing"],
                    subnet_id=args.network.subnet_ids["processing"],
                    security_group_ids=groups,
                    server_group_id=server_group,
                    user_data=data(host_name) if data is not None else None,
                ),
                opts=child,
            )
            self.hosts.append((h, role, self.labels))
            hosts.append(h)
        return hosts

    # -- security group rules ------------------------------------------------------------------

    def _client_egress(self, make: Callable[[str, pulumi.Input[str]], object]) -> None:
        """The bastion and every bubble may open connections to the API, nobody else."""
        g = self._args.network.group_ids
        make("bastion-to-api", g["bastion"])
        for bubble, group_id in self._args.bubble_group_ids.items():
            make(f"{bubble}-to-api", group_id)

    def _rule(
        self,
        what: str,
        direction: str,
        sg: pulumi.Input[str],
        *,
        group: pulumi.Input[str] | None = None,
        cidr: str | None = None,
    ) -> openstack.networking.SecGroupRule:
        # As network.SecGroupRules, on group ids: never a rule without a remote.
        if (group is None) == (cidr is None):
            raise ValueError(f"rule {what}: give exactly one of group or cidr")
        return openstack.networking.SecGroupRule(
            f"{self._name}-{what}",
            direction=direction,
            ethertype="IPv4",
            security_group_id=sg,
            protocol="tcp",
            port_range_min=API_PORT,
            port_range_max=API_PORT,
            remote_group_id=group,
            remote_ip_prefix=cidr,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _raw_config(kubeconfig: Mapping[str, str]) -> str:
    return kubeconfig["raw_config"]  # Magnum's kubeconfig map: raw_config, host, certificates
