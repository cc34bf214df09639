"""The hdh:kubernetes settings of a stack: counts, version, quotas, ranges, mirror, timeouts."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, field_validator

from components.k8s_facts import facts as k8s_facts
from components.model import Model

# A Kubernetes resource quantity (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/).
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"


class KubernetesSettings(Model):
    enabled: bool = False
    mode: Literal["magnum", "kubeadm"] | None = None  # default: the profile's mode
    control_plane_count: int = Field(default=3, ge=1, le=7)
    worker_count: int = Field(default=3, ge=1, le=200)
    version: str = Field(
        default_factory=lambda: k8s_facts().default_version, pattern=r"^\d+\.\d+\.\d+$"
    )
    quota_cpu: str = Field(default="16", pattern=QUANTITY)
    quota_memory: str = Field(default="64Gi", pattern=QUANTITY)
    quota_pods: int = Field(default=50, ge=1)
    default_cpu: str = Field(default="500m", pattern=QUANTITY)
    default_memory: str = Field(default="1Gi", pattern=QUANTITY)
    quota_storage: str = Field(default="500Gi", pattern=QUANTITY)  # requests.storage
    # Node-local disk (container layers, logs, emptyDir): one bubble must not fill a node's disk.
    quota_ephemeral_storage: str = Field(default="100Gi", pattern=QUANTITY)
    default_ephemeral_storage: str = Field(default="2Gi", pattern=QUANTITY)
    # Each counted kind (configmaps, secrets, services, PVCs, jobs, ...) of a bubble namespace:
    # objects live in etcd, and an unbounded count is a denial of service on the control plane.
    quota_objects: int = Field(default=100, ge=1, le=10000)
    # Overlay ranges: never routed by Neutron, but must not shadow a tier or bubble for the pods.
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    image: str | None = None  # magnum: the driver's node image (default ubuntu-2204-kube-v<ver>)
    # The image mirror nodes pull from (magnum: container_infra_prefix; kubeadm: images are
    # <registry>/<upstream host>/<path>).
    registry: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$"
    )
    # kubeadm: Kubernetes' apt repository as nodes reach it (default pkgs.k8s.io via the proxy).
    apt_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.:/_~%-]+$")
    # kubeadm: how long `pulumi up` waits for the nodes to bootstrap and the API to answer.
    bootstrap_timeout: int = Field(default=30, ge=5, le=240)  # minutes

    @field_validator("version")
    @classmethod
    def _supported(cls, v: str) -> str:
        minor = ".".join(v.split(".")[:2])
        supported = k8s_facts().supported_minors
        if minor not in supported:
            raise ValueError(
                f"Kubernetes {minor} is not a supported minor (supported: {', '.join(supported)})"
            )
        return v
