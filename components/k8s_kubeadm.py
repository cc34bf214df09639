"""A kubeadm cluster's self-bootstrap, wired: secrets, cloud credential, user data, readiness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_openstack as openstack

from components.config import StackConfig
from components.k8s_addons import AddonSpec, image
from components.k8s_bootstrap import ClusterJoin, Role, no_proxy, node_user_data
from components.k8s_facts import facts
from components.k8s_secrets import AdminCredential, ClusterReady, ClusterSecrets, kubeconfig
from components.keys import secret_id
from components.kubeadm import API_PORT, ControlPlaneSpec, cloud_conf


def node_name_pattern(prefix: str) -> str:
    """The cluster's node names (ProcessingCluster names hosts <prefix>-control<i>/worker<i>)."""
    return f"^{prefix}-(control|worker)[0-9]+$"


class KubeadmBootstrap:
    """Everything a kubeadm cluster's nodes need to init and join by themselves."""

    def __init__(
        self,
        parent: pulumi.Resource,
        name: str,
        cfg: StackConfig,
        *,
        vip: str,
        subnet_id: pulumi.Input[str],
        proxy_url: pulumi.Input[str] | None,
        kms_secret_ref: pulumi.Input[str],
    ) -> None:
        k = cfg.settings.kubernetes
        child = pulumi.ResourceOptions(parent=parent)
        self._parent, self._name, self._vip = parent, name, vip
        self.cluster_name = f"hdh-{cfg.stack}"
        self.secrets = ClusterSecrets(f"{name}-secrets", self.cluster_name, opts=child)
        # The CCM's and the KMS plugin's OpenStack identity: an application credential of the
        # user running Pulumi, unable to create further credentials. Its secret is a Pulumi
        # secret and reaches the control planes only (docs/kubernetes.md, trade-offs).
        credential = openstack.identity.ApplicationCredential(
            f"{name}-cloud-credential",
            name=f"hdh-{cfg.stack}-k8s",
            description="hdh Kubernetes: cloud controller and Barbican KMS plugin",
            unrestricted=False,
            opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=["secret"]),
        )
        registry = k.registry
        control = ControlPlaneSpec(
            cluster_name=self.cluster_name,
            version=k.version,
            endpoint=vip,
            pod_cidr=k.pod_cidr,
            service_cidr=k.service_cidr,
            image_repository=image("registry.k8s.io", registry) if registry else None,
        )
        addon = AddonSpec(
            cluster_name=self.cluster_name,
            node_name_pattern=node_name_pattern(name),
            node_cidr=cfg.settings.tiers.processing,
            registry=registry,
        )
        minor = ".".join(k.version.split(".")[:2])
        apt_url = k.apt_url or facts().kubernetes_apt.format(minor=minor)
        excluded = no_proxy(vip, cfg.settings.tiers.processing, k.pod_cidr, k.service_cidr)
        auth_url = cfg.auth_url or ""  # the config model requires one for kubeadm clusters
        s = self.secrets

        def join(v: Sequence[Any]) -> ClusterJoin:
            token, cert_key, ca_cert, ca_key, ca_hash, ref, cred_id, cred_secret, subnet, proxy = v
            return ClusterJoin(
                control=control,
                addon=addon,
                token=token,
                certificate_key=cert_key,
                ca_cert=ca_cert,
                ca_key=ca_key,
                ca_cert_hash=ca_hash,
                cloud_conf=cloud_conf(
                    auth_url=auth_url,
                    region=cfg.region,
                    credential_id=cred_id,
                    credential_secret=cred_secret,
                    subnet_id=subnet,
                    kms_key_id=secret_id(ref),
                ),
                proxy=proxy or None,
                no_proxy=excluded,
                apt_url=apt_url,
            )

        self.join: pulumi.Output[ClusterJoin] = pulumi.Output.all(
            s.token,
            s.certificate_key,
            s.ca_cert,
            s.ca_key,
            s.ca_cert_hash,
            kms_secret_ref,
            credential.id,
            credential.secret,
            subnet_id,
            proxy_url or "",
        ).apply(join)

    def user_data(
        self, deploy_user: str, public_key: str, host_name: str, role: Role
    ) -> pulumi.Output[str]:
        """Secret: holds the bootstrap token (and more on control planes)."""
        data = self.join.apply(
            lambda j: node_user_data(deploy_user, public_key, host_name, j, role)
        )
        return pulumi.Output.secret(data)

    def kubeconfig(self, timeout_s: float, after: Sequence[pulumi.Resource]) -> pulumi.Output[str]:
        """Secret: an admin kubeconfig for the VIP, usable once the API answers (ClusterReady)."""
        child = pulumi.ResourceOptions(parent=self._parent)
        s = self.secrets
        # Secret wraps as well as additional_secret_outputs: the mock runtime of the plan
        # honours only the former, and inputs must never be recorded in clear.
        admin = AdminCredential(
            f"{self._name}-admin", s.ca_cert, pulumi.Output.secret(s.ca_key), opts=child
        )
        server = f"https://{self._vip}:{API_PORT}"
        ready = ClusterReady(
            f"{self._name}-ready",
            server,
            s.ca_cert,
            admin.cert,
            pulumi.Output.secret(admin.key),
            timeout_s,
            opts=pulumi.ResourceOptions(parent=self._parent, depends_on=list(after)),
        )
        config = pulumi.Output.all(s.ca_cert, admin.cert, admin.key, ready.id).apply(
            lambda v: kubeconfig(server, self.cluster_name, v[0], v[1], v[2])
        )
        return pulumi.Output.secret(config)
