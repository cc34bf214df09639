"""Logic several rules share, parameterised (checkov's abstract parents, as functions)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from policies.config import catalogue, is_loopback
from policies.rule import Resource

WORKLOAD_TYPES = (
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)


def region_problem(region: Any, auth_url: Any, cfg: Mapping[str, Any]) -> str | None:
    """Why `region` (reached through `auth_url`) is not an allowed EU region, or None."""
    if not isinstance(region, str) or not region:
        return "no region pinned: the provider default or the environment would decide"
    if region in cfg["allowedRegions"]:
        return None
    if region in cfg["testRegions"]:
        if cfg["allowTestRegions"] or is_loopback(auth_url):
            return None
        return (
            f"region {region} is a test region: allowed only with a loopback authUrl or "
            "allowTestRegions"
        )
    known = catalogue().get(region)
    if not known:
        return f"unknown region {region}: in no provider profile, so not known to be in the EU"
    where = "; ".join(f"{p}: {w}{'' if eu else ', outside the EU'}" for p, w, eu, _ in known)
    return f"region {region} is not an allowed EU region ({where})"


def auth_url_problem(auth_url: Any, cfg: Mapping[str, Any]) -> str | None:
    if auth_url is None or is_loopback(auth_url):
        return None  # credentials from the environment / a loopback test cloud
    if auth_url in cfg["allowedAuthUrls"]:
        return None
    return f"authUrl {auth_url} is not a known EU Keystone endpoint (allowedAuthUrls)"


def volume_type_problem(vtype: Any, cfg: Mapping[str, Any], what: str) -> str | None:
    # pulumi-openstack has no per-volume flag: the type *is* the encryption. No type at all
    # means the cloud's default type, which profiles name "__DEFAULT__".
    name = vtype or "__DEFAULT__"
    if name in cfg["encryptedVolumeTypes"]:
        return None
    shown = f"volume type {vtype!r}" if vtype else "no volume type (the cloud's default)"
    return f"{what}: {shown} is not an encrypted type"


def is_world(prefix: Any) -> bool:
    try:
        return isinstance(prefix, str) and ipaddress.ip_network(prefix, strict=False).prefixlen == 0
    except ValueError:
        return False


# Internal address space: everything else is external, documentation ranges included (the
# stacks use RFC 5737 ranges as stand-ins for the administrators' real public addresses).
INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def is_public(prefix: str) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return True  # not a CIDR: cannot show it is internal
    return not any(net.version == i.version and net.subnet_of(i) for i in INTERNAL)  # type: ignore[arg-type]


def within(prefix: str, allowed: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
        return any(
            net.version == (a := ipaddress.ip_network(c, strict=False)).version and net.subnet_of(a)  # type: ignore[arg-type]
            for c in allowed
        )
    except ValueError:
        return False


def pod_spec(res: Resource) -> tuple[str, dict[str, Any]] | None:
    """(path shown in messages, pod spec) of a workload, whatever its kind."""
    if res.type == "kubernetes:core/v1:Pod":
        return "spec", res.get("spec") or {}
    if res.type == "kubernetes:batch/v1:CronJob":
        spec = res.get("spec", "jobTemplate", "spec", "template", "spec")
        return "spec.jobTemplate.spec.template.spec", spec or {}
    return "spec.template.spec", res.get("spec", "template", "spec") or {}


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(kind) or []):
            if isinstance(c, Mapping):
                yield f"{kind}[{i}] {c.get('name', '?')}", c
