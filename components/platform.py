"""The whole platform of one stack: tiers, bastion, services, data, bubbles (and clusters)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_openstack as openstack

from components.backups import BackupCredential, BackupCredentialArgs
from components.bubble import Bubble, BubbleArgs
from components.compute import Host, HostArgs, HostTemplate
from components.config import TIERS, StackConfig
from components.k8s_cluster import ClusterArgs, ProcessingCluster, api_client_cidrs
from components.keys import KeyArgs
from components.network import NetworkArgs, PlatformNetwork, ServicePorts
from components.storage import EncryptedStore, StoreArgs
from components.tags import Labels


@dataclass(frozen=True, kw_only=True)
class PlatformArgs:
    cfg: StackConfig
    image_id: pulumi.Input[str]  # looked up from the profile's image name, or pinned in config
    external_network_id: pulumi.Input[str]


def core_destinations(cfg: StackConfig) -> list[IPv4Network]:
    """What admin and services reach through the core router, summarised by the bubble pool."""
    s = cfg.settings
    dests = [s.tiers.data, s.tiers.processing]
    pool = s.bubble_pool.cidr if s.bubble_pool else None
    if pool is not None:
        dests.append(pool)
    dests += [b.cidr for b in cfg.bubbles if pool is None or not b.cidr.subnet_of(pool)]
    return dests


class Platform(pulumi.ComponentResource):
    bastion_address: pulumi.Output[str]
    network_ids: dict[str, pulumi.Output[str]]
    bubbles: dict[str, Bubble]
    inventory: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hdh:platform:Platform", name, None, opts)
        cfg, s = args.cfg, args.cfg.settings
        child = pulumi.ResourceOptions(parent=self)
        labels = Labels(
            stack=cfg.stack, classification=s.classification, expires_at=s.expires_at or ""
        )
        net = PlatformNetwork(
            name,
            NetworkArgs(
                tiers={t: getattr(s.tiers, t) for t in TIERS},
                labels=labels,
                external_network_id=args.external_network_id,
                admin_cidrs=list(s.admin_cidrs),
                core_destinations=core_destinations(cfg),
                proxy_port=s.proxy_port,
                services_ports=ServicePorts(
                    cache=s.services.cache_port,
                    log=s.services.log_port,
                    metrics=s.services.metrics_port,
                ),
            ),
            opts=child,
        )
        keypair = openstack.compute.Keypair(
            f"{name}-deploy-key", public_key=s.ssh_public_key, opts=child
        )
        template = HostTemplate(
            image_id=args.image_id,
            volume_type=cfg.volume_type,
            boot_volume_size=s.boot_volume_size,
            key_pair=keypair.name,
            deploy_user=s.deploy_user,
            public_key=s.ssh_public_key,
        )
        key_args = KeyArgs(region=cfg.region, auth_url=cfg.auth_url)
        g = net.group_ids
        hosts: list[tuple[Host, str, Labels]] = []

        def host(host_name: str, role: str, tier: str, groups: list[str], **extra: Any) -> Host:
            lab = labels.with_(tier=tier)
            h = Host(
                host_name,
                HostArgs(
                    role=role,
                    labels=lab,
                    flavor=cfg.flavor(role),  # type: ignore[arg-type]
                    template=template,
                    network_id=net.network_ids[tier],
                    subnet_id=net.subnet_ids[tier],
                    security_group_ids=[g[k] for k in groups],
                    **extra,
                ),
                opts=child,
            )
            hosts.append((h, role, lab))
            return h

        bastion = host(f"{name}-bastion", "bastion", "admin", ["bastion", "proxy-clients"])
        fip = openstack.networking.FloatingIp(
            f"{name}-bastion-fip",
            pool=cfg.profile.external_network,
            description="bastion: the platform's only public address",
            # Declared, not guessed from a name: the policy pack reads role=bastion.
            tags=[*labels.with_(tier="admin").as_tags(), "role=bastion"],
            opts=child,
        )
        openstack.networking.FloatingIpAssociate(
            f"{name}-bastion-fip-assoc",
            floating_ip=fip.address,
            port_id=bastion.port_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[net.edge_links["admin"]]),
        )

        def anti_affinity(role: str, count: int) -> pulumi.Output[str] | None:
            if count < 2:
                return None
            grp = openstack.compute.ServerGroup(
                f"{name}-{role}-group", policies="anti-affinity", opts=child
            )
            return grp.id

        services_group = anti_affinity("services", s.services_count)
        services: list[Host] = []
        for i in range(s.services_count):
            services.append(
                host(
                    f"{name}-services{i}",
                    "services",
                    "services",
                    ["services", "managed"],
                    server_group_id=services_group,
                )
            )

        volumes: list[tuple[str, str, str, pulumi.Output[str]]] = []  # what the backups cover
        if s.data_hosts:
            store = EncryptedStore(
                f"{name}-data-store",
                StoreArgs(
                    labels=labels.with_(tier="data"),
                    volume_size=s.data_volume_size,
                    volume_type=cfg.volume_type,
                    container_name=f"hdh-{cfg.stack}-data",
                    versioning=cfg.profile.object_storage.versioning,
                    key=key_args,
                ),
                opts=child,
            )
            volumes.append(("data", "data", "", store.volume_id))
            data_group = anti_affinity("data", s.data_hosts)
            for i in range(s.data_hosts):
                host(
                    f"{name}-data{i}",
                    "data",
                    "data",
                    ["data", "managed", "proxy-clients"],
                    server_group_id=data_group,
                    extra_volume_ids=[store.volume_id] if i == 0 else [],
                )

        self.bubbles = {}
        for b in cfg.bubbles:
            lab = labels.with_(tier="bubble", bubble=b.name, classification=b.classification)
            self.bubbles[b.name] = Bubble(
                f"bubble-{b.name}",
                BubbleArgs(
                    cidr=b.cidr,
                    labels=lab,
                    core_router_id=net.core_router_id,
                    managed_group_id=g["managed"],
                    proxy_clients_group_id=g["proxy-clients"],
                    workspaces=b.workspaces,
                    volume_size=b.volume_size,
                    volume_type=cfg.volume_type,
                    container_name=f"hdh-{cfg.stack}-bubble-{b.name}",
                    versioning=cfg.profile.object_storage.versioning,
                    key=key_args,
                    template=template,
                    workspace_flavor=cfg.flavor("workspace"),
                ),
                opts=child,
            )
            volumes.append((f"bubble-{b.name}", "bubble", b.name, self.bubbles[b.name].volume_id))

        self.backup_secret: pulumi.Output[str] | None = None  # secret; the backup job's
        backup = _backups(cfg, volumes, child)
        if backup is not None:
            self.backup_secret = backup[1]

        self.kubeconfig: pulumi.Output[str] | None = None  # secret; see docs/kubernetes.md
        if s.kubernetes.enabled:  # processing cluster and its per-bubble Kubernetes baseline
            k8s = ProcessingCluster(
                f"{name}-k8s",
                ClusterArgs(
                    cfg=cfg,
                    network=net,
                    template=template,
                    external_network_id=args.external_network_id,
                    bubble_group_ids={n: b.group_id for n, b in self.bubbles.items()},
                    # The services proxy, the nodes' only way to packages and images.
                    proxy_url=services[0].address.apply(lambda a: f"http://{a}:{s.proxy_port}"),
                ),
                opts=child,
            )
            hosts += k8s.hosts
            self.kubeconfig = k8s.kubeconfig

        self.bastion_address = fip.address
        self.network_ids = net.network_ids
        extra: dict[str, Any] = {"services": services_section(cfg)}
        if s.kubernetes.enabled and cfg.kubernetes_mode == "kubeadm":
            # Who the nodes' host firewalls open the API to (hardening/inventory.py).
            extra["kubernetes"] = {"apiClients": [str(c) for c in api_client_cidrs(cfg)]}
        self.inventory = _inventory(
            fip.address,
            s.deploy_user,
            hosts,
            self.bubbles,
            extra,
            backup[0] if backup else None,
        )
        self.register_outputs(
            {
                "bastion_address": fip.address,
                "network_ids": net.network_ids,
                "inventory": self.inventory,
            }
        )


def services_section(cfg: StackConfig) -> dict[str, Any]:
    """What hardening needs to wire every host to the services tier (hardening/tier.py): its
    ports, the networks it serves, the stack's additions to the proxy's allow-list."""
    s = cfg.settings
    allow = list(cfg.profile.egress_allow)
    if cfg.auth_url:
        host = urlsplit(cfg.auth_url).hostname
        if host and not host.startswith("127."):
            allow.append(host)  # identity: where every OpenStack client starts
    allow += [e for e in s.services.egress_allow if e not in allow]
    return {
        "stack": cfg.stack,
        "proxyPort": s.proxy_port,
        "cachePort": s.services.cache_port,
        "logPort": s.services.log_port,
        "metricsPort": s.services.metrics_port,
        "clientNetworks": [str(n) for n in [s.tiers.admin, *core_destinations(cfg)]],
        "egressAllow": list(dict.fromkeys(allow)),
    }


def _backups(
    cfg: StackConfig,
    volumes: list[tuple[str, str, str, pulumi.Output[str]]],
    child: pulumi.ResourceOptions,
) -> tuple[pulumi.Output[dict[str, Any]], pulumi.Output[str]] | None:
    """The backup job's credential and what it covers: (inventory section, secret), or None
    when backups are off or the provider offers none."""
    b, kind = cfg.settings.backups, cfg.profile.backups.kind
    if not b.enabled or kind == "none" or not volumes:
        return None
    cred = BackupCredential(
        "hdh-backup",
        BackupCredentialArgs(
            stack=cfg.stack,
            kind=kind,
            service_type=cfg.profile.backups.service_type,
            role=cfg.profile.backups.role,
        ),
        opts=child,
    )
    section = pulumi.Output.all(cred.credential_id, *[v[3] for v in volumes]).apply(
        lambda ids: {
            "kind": kind,
            "schedule": b.schedule,
            "keepDaily": b.keep_daily,
            "keepWeekly": b.keep_weekly,
            "incremental": b.incremental,
            "region": cfg.region,
            "authUrl": cfg.auth_url,
            "applicationId": ids[0],
            "volumes": [
                {"name": n, "tier": t, "bubble": bb or None, "id": i}
                for (n, t, bb, _), i in zip(volumes, ids[1:], strict=True)
            ],
        }
    )
    return section, cred.secret


def _inventory(
    bastion: pulumi.Output[str],
    user: str,
    hosts: list[tuple[Host, str, Labels]],
    bubbles: dict[str, Bubble],
    extra: dict[str, Any],
    backups: pulumi.Output[dict[str, Any]] | None = None,
) -> pulumi.Output[dict[str, Any]]:
    """Hosts for hardening: address, role, tier, bubble; the bastion is the SSH jump host.

    `user` (hdh:deployUser) is the account cloud-init creates: `hdh harden` logs in as it.
    """
    rows: list[tuple[str, str, str, str]] = [
        (h.host_name, role, lab.tier, lab.bubble) for h, role, lab in hosts
    ]
    addresses: list[pulumi.Output[str]] = [h.address for h, _, _ in hosts]
    for bubble_name, b in bubbles.items():
        for i, address in enumerate(b.workspace_outputs):
            rows.append((f"bubble-{bubble_name}-ws{i}", "workspace", "bubble", bubble_name))
            addresses.append(address)
    # One Output over every address rather than one per host: a plan of 250 bubbles
    # registers ~4000 resources and each extra Output costs.
    tail: list[pulumi.Output[Any]] = [backups] if backups is not None else []
    n = len(addresses)
    return pulumi.Output.all(bastion, *addresses, *tail).apply(
        lambda v: {
            "stack": extra["services"]["stack"],
            "user": user,
            "bastion": {"address": v[0], "user": user},
            "hosts": [
                {"name": n_, "address": a, "role": r, "tier": t, "bubble": b}
                for (n_, r, t, b), a in zip(rows, v[1 : n + 1], strict=True)
            ],
            **extra,
            **({"backups": v[n + 1]} if backups is not None else {}),
        }
    )
